/**
 * oldest.ts finds the least recently used keys of an lru-cache cheaply: lru-cache offers them
 * only through rkeys(), a generator that costs as much to start as several lookups, and the
 * policy (cache/policy/tinylfu.ts) needs the oldest key of a segment on every miss. One walk
 * reads READ_AHEAD keys ahead; each is still the oldest when asked for if it is still there with
 * the same value, as long as the segment only lost entries or took young ones meanwhile. The
 * policy calls invalidate() when it changes the order otherwise (a read that moves an entry to
 * the young end, a replaced value, an entry that left and may come back with the same value).
 */

import type { LRUCache } from 'lru-cache';

/** Most keys one walk reads ahead: as many as were used of the last walk, doubled (1 after an invalidation). */
const READ_AHEAD = 8;

/** The oldest keys of one lru-cache, read ahead (see the file's opening). */
export class OldestKeys<V extends {}> {
  readonly #segment: LRUCache<string, V>;
  readonly #keys: string[] = [];
  readonly #values: (V | undefined)[] = [];
  #at = 0;
  #readAhead = 1;
  readonly #anyAge = { allowStale: true };

  constructor(segment: LRUCache<string, V>) {
    this.#segment = segment;
  }

  /** Forgets the keys read ahead: the segment's order changed otherwise than by losses and young entries. */
  invalidate(): void {
    if (this.#keys.length === 0) return;
    if (this.#at < this.#keys.length) this.#readAhead = 1;
    this.#keys.length = 0;
    this.#values.length = 0;
    this.#at = 0;
  }

  /** The segment let go of `key`: if it is the oldest read ahead, it holds its value no longer (nor keeps it alive). */
  gone(key: string): void {
    if (this.#at < this.#keys.length && this.#keys[this.#at] === key) {
      this.#values[this.#at] = undefined;
      this.#at++;
    }
  }

  /** The least recently used key (expired or not), or undefined when the segment is empty. */
  oldest(): string | undefined {
    for (let walks = 0; walks < 2; walks++) {
      while (this.#at < this.#keys.length) {
        const key = this.#keys[this.#at];
        if (this.#segment.peek(key, this.#anyAge) === this.#values[this.#at]) return key;
        this.#at++;
      }
      this.#walk();
    }
    return undefined;
  }

  /** The value of the key oldest() returned last (read with it). */
  get value(): V {
    return this.#values[this.#at] as V;
  }

  #walk(): void {
    if (this.#at > 0 && this.#at >= this.#keys.length) this.#readAhead = Math.min(READ_AHEAD, this.#readAhead * 2);
    this.#keys.length = 0;
    this.#values.length = 0;
    this.#at = 0;
    for (const key of this.#segment.rkeys()) {
      this.#keys.push(key);
      this.#values.push(this.#segment.peek(key, this.#anyAge));
      if (this.#keys.length >= this.#readAhead) break;
    }
  }
}
