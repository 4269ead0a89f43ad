/**
 * frequency.ts keeps how often a group's keys were asked for lately, for the adaptive policy's
 * caches (cache/policy/tinylfu.ts): a count-min sketch of the misses (sketch.ts), each cached
 * value's own count of reads (ByteView.policyTally: a hit bumps it, no hashing), and the clock of
 * lookups that halves them all every period, so old popularity fades.
 */

import type { ByteView } from '../byteview.js';
import { FrequencySketch, hashKey } from './sketch.js';

/**
 * Lookups between two halvings of all counts, per entry held. Caffeine halves every 10× its
 * maximum size; 20× remembers reuse twice as far back (a loop over a few times the cache) and was
 * no worse on any trace of the hit-ratio row.
 */
export const SAMPLE_FACTOR = 20;
/** Periods wrap at 2^27, so that a tally (period << 4 | count) stays a small integer. */
const PERIOD_MASK = 0x7ffffff;

/** What the counts need of each cache that shares them (TinyLfu). */
export interface CountedCache {
  readonly items: number;
  readonly bytes: number;
  /** The keys held, expired or not. */
  keys(): IterableIterator<string>;
}

/** The counts of a group's policy caches: one sketch for the misses, one clock of lookups. */
export class SharedFrequency {
  sketch = new FrequencySketch();
  /** Per group, so that keys colliding in one process's sketch do not collide in another's. */
  readonly seed = (Math.random() * 2 ** 32) | 0;
  /** Halvings so far (mod 2^27): a tally from an earlier period is halved once per period since. */
  period = 0;
  #lookups = 0;
  #adds = 0;
  /** Lookups per period: SAMPLE_FACTOR × the entries the budget holds when full (estimated from the entries' mean cost). */
  #halveAt = Number.POSITIVE_INFINITY;
  readonly #maxBytes: number;
  readonly #caches: CountedCache[] = [];

  /** Bytes of the sketch and of the caches' ghost lists (kept up to date as either grows: read on every add). */
  bytes = this.sketch.bytes;

  /** @internal A cache's ghost lists grew by `n` bytes. */
  ghostsGrew(n: number): void {
    this.bytes += n;
  }

  /** `maxBytes`: the budget of the caches that share the counts. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** @internal */
  register(cache: CountedCache, ghostBytes: number): void {
    this.#caches.push(cache);
    this.bytes += ghostBytes;
  }

  /** One lookup of the group: at the end of a period, every count is halved. */
  tick(): void {
    if (++this.#lookups < this.#halveAt) return;
    this.#lookups = 0;
    this.sketch.halve();
    this.period = (this.period + 1) & PERIOD_MASK;
  }

  /**
   * After an entry was added: sizes the sketch (and the room set aside for ghost lists) for the
   * entries held now, and the period for the entries the budget would hold full of entries like
   * these (Caffeine's period counts from its maximum size: a period counted from a cache still
   * filling would forget before the cache is full).
   */
  grow(): void {
    // Every 16th add: entries move slowly, and the sketch has a quarter to spare.
    if ((++this.#adds & 15) !== 1) return;
    let entries = 0;
    let bytes = 0;
    for (const cache of this.#caches) {
      entries += cache.items;
      bytes += cache.bytes;
    }
    const resized = this.sketch.resized(entries);
    if (resized) {
      // The keys held carry their counts over; the others' are forgotten (as a cache fills, there are none).
      for (const cache of this.#caches) {
        for (const key of cache.keys()) {
          const h = hashKey(key, this.seed);
          resized.add(h, this.sketch.frequency(h));
        }
      }
      this.bytes += resized.bytes - this.sketch.bytes;
      this.sketch = resized;
    }
    if (bytes > 0) this.#halveAt = SAMPLE_FACTOR * Math.max(16, Math.round((this.#maxBytes * entries) / bytes));
  }

  /** Reads of a cached value counted on it, halved for each period since. */
  count(value: ByteView): number {
    const tally = value.policyTally;
    const age = (this.period - (tally >>> 4)) & PERIOD_MASK;
    return age > 3 ? 0 : (tally & 15) >>> age;
  }

  /** Counts a read of a cached value on the value. */
  bump(value: ByteView): void {
    const tally = value.policyTally;
    if (tally >>> 4 === this.period) {
      if ((tally & 15) !== 15) value.policyTally = tally + 1;
    } else value.policyTally = (this.period << 4) | (this.count(value) + 1);
  }

  /** How often the key of hash `h` was asked for lately: its misses, plus the reads of `value` if it is cached. */
  frequency(h: number, value?: ByteView): number {
    return this.sketch.frequency(h) + (value === undefined ? 0 : this.count(value));
  }
}
