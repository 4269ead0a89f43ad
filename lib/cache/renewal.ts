/**
 * renewal.ts renews hot copies ahead of expiry: a copy of a value another peer owns lives at most
 * `hotTtlMs` (the staleness bound for non-owners, {@link Freshness.copyTtl}); a copy that is
 * read is fetched again from its owner in the background once it is past the middle of its
 * life — at the first read after that point, or at that point when it was read before — so a key
 * that is read at least once per `hotTtlMs` keeps being answered from this process instead of
 * being refetched on the request path each time its copy runs out. The renewed value is a new
 * fetch with a new `hotTtlMs`, so no copy is ever served longer than `hotTtlMs` after its owner
 * sent it. A copy nobody reads is never renewed.
 */

import { ByteView } from './byteview.js';
import type { TagSet } from './tags.js';

/**
 * Share of a copy's life after which a read renews it. Half: the renewal then has the other half
 * (15 s by default) to cross a slow-lane batch and a busy owner before the copy runs out, and a
 * key read at least once per `hotTtlMs / 2` is never missed; a key read all the time costs its
 * owner one get per `hotTtlMs / 2`, in big batches. Later (say 0.9) would save renewals of keys
 * read all the time but miss every key read less often than once per `hotTtlMs / 10`.
 */
export const RENEW_AFTER = 0.5;

/** Most keys being renewed at once; past it, a copy due for renewal just expires as it would without. */
export const MAX_RENEWALS = 10_000;
/** How often copies that were read before their renew point are checked for having reached it. */
export const RENEW_SWEEP_MS = 100;
/** Most copies waiting for their renew point; past it, new ones are renewed only by a read after it. */
export const MAX_WAITING = 100_000;

/**
 * A value fetched from its owner, as kept in the hot cache: a ByteView that also knows when a
 * read should renew it. The hot path compares `renewAt` with the group's coarse clock and nothing
 * else, so it is a field on the value itself: no lookup, no allocation per hit.
 */
export class HotCopy extends ByteView {
  /**
   * Date.now() after which a read of this copy starts its renewal; Infinity while it is not to
   * be renewed (not kept yet, its renewal started already, or it ends with the value's own expiry).
   */
  renewAt = Number.POSITIVE_INFINITY;
  /** Read (answered from the hot cache) before its renew point: renewed when it reaches it. */
  read = false;

  /** A value as its owner sent it: `bytes` are the response's, kept without a copy when they fill their buffer. */
  constructor(bytes: Uint8Array, expiresAt: number | undefined, tagged?: TagSet) {
    super(bytes, false, expiresAt, tagged);
  }

  /**
   * Sets when a read should renew this copy, now that it is kept for `ttlMs` (from
   * Freshness.copyTtl) under a cap of `hotTtlMs`: halfway through, when the cap is what ends it.
   * A copy ended by the value's own expiry is not renewed: its owner would answer the same value
   * with the same expiry (after the expiry, the next get fetches the refreshed one).
   */
  keptFor(ttlMs: number | undefined, hotTtlMs: number, now: number): void {
    this.renewAt = ttlMs !== undefined && hotTtlMs > 0 && ttlMs >= hotTtlMs ? now + ttlMs * RENEW_AFTER : Number.POSITIVE_INFINITY;
  }
}

/** The keys being renewed now, so each is renewed once at a time, and at most {@link MAX_RENEWALS} at once. */
export class Renewals {
  readonly #running = new Set<string>();
  readonly #limit: number;

  constructor(limit = MAX_RENEWALS) {
    this.#limit = limit;
  }

  /** True when a renewal of `key` may start (the caller then calls end()); false when one runs or too many do. */
  begin(key: string): boolean {
    if (this.#running.size >= this.#limit || this.#running.has(key)) return false;
    this.#running.add(key);
    return true;
  }

  end(key: string): void {
    this.#running.delete(key);
  }

  /** Keys being renewed now. */
  get size(): number {
    return this.#running.size;
  }
}

/**
 * Copies kept in the hot cache, in the order they reach their renew point (a copy's renew point
 * is its keeping time + half of hotTtlMs, so arrival order is renew order): every
 * {@link RENEW_SWEEP_MS} the keys past it are handed to `renew`, which renews the key's copy if it
 * is still the one kept then (its renewAt is that point) and was read meanwhile; the others are
 * let go (they expire, or a read after the point renews them). Only the key and the point wait
 * here, not the copy: a copy evicted meanwhile is garbage at once, not held outside the hot
 * cache's accounting until its point (up to hotTtlMs / 2, for every copy a churning hot cache let
 * go). The timer runs only while keys wait, unref'd.
 */
export class RenewalQueue {
  #keys: string[] = [];
  #due: number[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #renew: (key: string, renewAt: number) => void;

  /** `renew(key, renewAt)` is called for each key whose copy kept with that renew point has reached it. */
  constructor(renew: (key: string, renewAt: number) => void) {
    this.#renew = renew;
  }

  /** A copy was just kept for `key` with a finite `renewAt`. */
  track(key: string, renewAt: number): void {
    if (this.#keys.length - this.#head >= MAX_WAITING) return;
    this.#keys.push(key);
    this.#due.push(renewAt);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#sweep(), RENEW_SWEEP_MS);
      this.#timer.unref();
    }
  }

  /** Drops every waiting key (a clear; also close()). */
  clear(): void {
    this.#keys = [];
    this.#due = [];
    this.#head = 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(now = Date.now()): void {
    const keys = this.#keys;
    const due = this.#due;
    let i = this.#head;
    for (; i < due.length && due[i] <= now; i++) this.#renew(keys[i], due[i]);
    this.#head = i;
    if (i === due.length) this.clear();
    else if (i > 1024 && i * 2 > due.length) {
      this.#keys = keys.slice(i);
      this.#due = due.slice(i);
      this.#head = 0;
    }
  }
}
