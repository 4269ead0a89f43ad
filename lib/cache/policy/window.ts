/**
 * window.ts sizes the adaptive policy's window (cache/policy/tinylfu.ts) from what its misses say,
 * in the spirit of ARC's ghost lists: it remembers the hashes of the last keys that left the window
 * and of the last the main part evicted (GHOST_SHARE of the entries each, ghosts.ts). A miss on a
 * key of the first list says a larger window would have hit, on one of the second that a larger
 * main part would have: the window's share moves by GAIN such entries that way. Both lists are
 * the same size, so their hits compare what the next bytes of room are worth on each side.
 * Caffeine climbs the same hill by sampling its hit rate for a while between steps; a ghost hit is
 * evidence at once, and the traffic that moves it is the traffic now.
 */

import { GhostList } from './ghosts.js';

/** The window's share of a new cache: Caffeine's 1%. */
const INITIAL_SHARE = 0.01;
/**
 * The largest share, and the fewest entries the main part keeps room for: evidence for a larger
 * main part comes from its evictions, so it must keep some, or a window that reached the top (on
 * recency-heavy traffic) could never come down when the traffic changes.
 */
const MAX_SHARE = 0.99;
const MIN_MAIN_ENTRIES = 4;
/** Each ghost list remembers this share of the cache's entry count. */
const GHOST_SHARE = 0.1;
/** A ghost hit moves the window by this many of the missed entry's size. */
const GAIN = 2;

/** The window's share of one cache's room, and the evidence that moves it. */
export class AdaptiveWindow {
  /** The window's share of the cache's room, 0 to MAX_SHARE. */
  share = INITIAL_SHARE;
  readonly #leftWindow = new GhostList();
  readonly #leftMain = new GhostList();

  /** Bytes of the ghost lists. */
  get bytes(): number {
    return this.#leftWindow.bytes + this.#leftMain.bytes;
  }

  /**
   * The key of hash `h` left the window (for the main part, or out of the cache); the cache holds
   * `entries`. Returns the bytes the lists grew by (as the cache grows).
   */
  leftWindow(h: number, entries: number): number {
    return this.#leftWindow.remember(h, Math.ceil(entries * GHOST_SHARE));
  }

  /** The main part evicted the key of hash `h` (as leftWindow). */
  leftMain(h: number, entries: number): number {
    return this.#leftMain.remember(h, Math.ceil(entries * GHOST_SHARE));
  }

  /** A miss on the key of hash `h`, whose entry will cost `cost` of the cache's `room` bytes. */
  missed(h: number, cost: number, room: number): void {
    const window = this.#leftWindow.forget(h);
    const main = this.#leftMain.forget(h);
    if (window === main || room <= 0) return;
    const step = (GAIN * cost) / room;
    const top = Math.min(MAX_SHARE, 1 - (MIN_MAIN_ENTRIES * cost) / room);
    this.share = Math.min(top, Math.max(0, this.share + (window ? step : -step)));
  }
}
