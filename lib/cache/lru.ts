/**
 * lru.ts bounds a group's caches in bytes: LRU (over lru-cache, each entry costed with its overhead) and
 * CacheBudget, the one maxBytes a group's main, hot and not-found caches share.
 */

import { LRUCache } from 'lru-cache';
import type { ByteView } from './byteview.js';
import { SharedFrequency } from './policy/frequency.js';
import { TinyLfu } from './policy/tinylfu.js';
import { tagCost } from './tags.js';

/**
 * Which entries a group's caches keep when full (the group option `policy`): `'adaptive'`, the
 * default, is W-TinyLFU with a window that sizes itself (cache/policy/tinylfu.ts,
 * docs/hit-ratio.md); `'lru'` evicts the least recently used entry, as geecache did before.
 */
export type CachePolicy = 'adaptive' | 'lru';

/**
 * What a cache of a budget is for: `main` (every lookup of the group goes through it first: its
 * gets feed the policy's frequency counts), `copies` (the hot cache: it uses those counts), or
 * `plain` (LRU whatever the policy: the not-found cache).
 */
export type CacheRole = 'main' | 'copies' | 'plain';

/** The smallest maxBytes the adaptive policy is used for: its counts and ghost lists start at ~0.5 KiB. */
export const MIN_ADAPTIVE_BYTES = 8 * 1024;

/** Counters kept by an {@link LRU}. */
export interface LRUStats {
  /** Bytes the cache accounts for: the sum of {@link LRU.cost} over its entries (key + value + {@link ENTRY_OVERHEAD_BYTES} each). */
  bytes: number;
  /** Entries held. */
  items: number;
  /** Lookups. */
  gets: number;
  /** Lookups that found an entry. */
  hits: number;
  /** Entries dropped to make room. */
  evictions: number;
}

/**
 * What one entry costs the process beyond its key's and value's bytes, on Node 20 (64-bit): the
 * key string's header, the ByteView and its Buffer (or string) header, and lru-cache's slots (a
 * Map entry, its key/value/next/prev/size arrays). Measured at 230-320 B per entry for empty to
 * 1 KB values (BENCHMARKS.md, "memory"). groupcache counts key + value only; without this, a
 * flood of empty values under 1-byte keys made `maxBytes` bound only ~1% of the heap they used.
 */
export const ENTRY_OVERHEAD_BYTES = 256;

/**
 * One `maxBytes` shared by several {@link LRU}s (a group's main, hot and not-found caches), as
 * groupcache shares one cacheBytes between its main and hot caches. Each cache is sure of its
 * share; any cache with a share may also fill what the others leave unused, and the caches over
 * their shares give it back first once the budget is full. Without the lending, a front of three
 * peers with 10,000 keys of 1 KB and `maxBytes` 64 MiB held its 3,343 own keys in 4.3 MB of its
 * main cache's 56 MB, and copies of only 6,528 of the other 6,657 in its hot cache's 8 MB: the
 * rest were fetched again and again, beside 51 MB unused (BENCHMARKS.md, vs-redis).
 */
export class CacheBudget {
  readonly maxBytes: number;
  readonly policy: CachePolicy;
  readonly #caches: LRU[] = [];
  /** The frequency counts of the `adaptive` policy's caches (counted in `used`, out of the main cache's share). */
  readonly #frequency: SharedFrequency | undefined;
  #main: LRU | undefined;

  constructor(maxBytes: number, policy: CachePolicy = 'lru') {
    this.maxBytes = maxBytes;
    this.policy = policy;
    // Under MIN_ADAPTIVE_BYTES (a few entries) the policy's counts would take a large share: LRU.
    if (policy === 'adaptive' && maxBytes >= MIN_ADAPTIVE_BYTES) this.#frequency = new SharedFrequency(maxBytes);
  }

  /** A cache of this budget, sure of `share` bytes of it; `share <= 0` makes one that holds nothing. */
  cache(share: number, role: CacheRole = 'plain'): LRU {
    const frequency = role === 'plain' ? undefined : this.#frequency;
    const cache = new LRU(share, this, frequency && { frequency, records: role === 'main' });
    this.#caches.push(cache);
    if (role === 'main') this.#main ??= cache;
    return cache;
  }

  /** Bytes held by all of the budget's caches, and the adaptive policy's own memory. */
  get used(): number {
    let used = this.#frequency?.bytes ?? 0;
    for (const cache of this.#caches) used += cache.bytes;
    return used;
  }

  /**
   * Evicts least recently used entries until the caches fit the budget: always from the cache
   * furthest over its share (the shares add up to at most maxBytes, so while the budget is over,
   * some cache is over its share).
   */
  settle(): void {
    let over = this.used - this.maxBytes;
    while (over > 0) {
      let furthest: LRU | undefined;
      let most = 0;
      for (const cache of this.#caches) {
        // The policy's own memory comes out of the main cache's share.
        const excess = cache.bytes - cache.maxBytes + (cache === this.#main ? (this.#frequency?.bytes ?? 0) : 0);
        if (excess > most && cache.bytes > 0) {
          most = excess;
          furthest = cache;
        }
      }
      // Over only by the policy's memory, with the main cache empty: the largest cache gives way.
      if (!furthest) for (const cache of this.#caches) if (cache.bytes > (furthest?.bytes ?? 0)) furthest = cache;
      const freed = furthest?.evictOldest(over) ?? 0;
      if (freed <= 0) return;
      over -= freed;
    }
  }
}

/**
 * A byte-bounded least-recently-used cache of {@link ByteView}s, on the `lru-cache` package.
 *
 * An entry costs its key's UTF-8 length plus its value's length, as in groupcache, plus
 * {@link ENTRY_OVERHEAD_BYTES}, so `maxBytes` bounds the heap the cache really uses, small
 * values included. `maxBytes <= 0` makes a cache that holds nothing. A cache of a
 * {@link CacheBudget} holds `maxBytes` for sure and may grow into what the budget's other caches
 * leave unused.
 */
export class LRU {
  /** Bytes this cache is sure of (with a budget: its share; an entry over it is never stored). */
  readonly maxBytes: number;
  readonly #cache: LRUCache<string, ByteView> | undefined;
  /** With the adaptive policy, the cache itself (its entries are there, not in #cache). */
  readonly #policy: TinyLfu | undefined;
  readonly #budget: CacheBudget | undefined;
  #gets = 0;
  #hits = 0;
  #evictions = 0;

  /** `adaptive`: keep entries by the adaptive policy with these shared counts (CacheBudget.cache) instead of by recency. */
  constructor(maxBytes: number, budget?: CacheBudget, adaptive?: { frequency: SharedFrequency; records: boolean }) {
    this.maxBytes = maxBytes;
    if (maxBytes <= 0) return;
    this.#budget = budget;
    if (budget && adaptive) {
      this.#policy = new TinyLfu(maxBytes, budget, adaptive.frequency, LRU.cost, adaptive.records);
      return;
    }
    this.#cache = new LRUCache<string, ByteView>({
      // With a budget, lru-cache only bounds the cache by the whole of it; the budget keeps the sum in bounds (settle).
      maxSize: budget?.maxBytes ?? maxBytes,
      sizeCalculation: (value, key) => LRU.cost(key, value),
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /** What an entry costs against `maxBytes` (a tagged value's tags too: cache/tags.ts). */
  static cost(key: string, value: ByteView): number {
    return ENTRY_OVERHEAD_BYTES + Buffer.byteLength(key) + value.length + tagCost(value.tagged);
  }

  /** The entry for `key`, marking it most recently used. */
  get(key: string): ByteView | undefined {
    this.#gets++;
    const value = this.#policy ? this.#policy.get(key) : this.#cache?.get(key);
    if (value !== undefined) this.#hits++;
    return value;
  }

  /** The entry for `key` (unexpired), without counting a lookup or marking it recently used. */
  peek(key: string): ByteView | undefined {
    return this.#policy ? this.#policy.peek(key) : this.#cache?.peek(key);
  }

  /** True when `key` has an entry; unlike get(), neither counts a lookup nor marks it recently used. */
  has(key: string): boolean {
    return this.#policy ? this.#policy.has(key) : (this.#cache?.has(key) ?? false);
  }

  /**
   * Stores an entry, evicting the least recently used ones to make room. Returns false if it can
   * never fit. With `ttlMs` the entry is gone after that long (lru-cache's own TTL: an expired
   * entry is never returned, whether or not it was purged yet).
   */
  add(key: string, value: ByteView, ttlMs?: number): boolean {
    if (!this.fits(key, value)) return false;
    if (this.#policy) {
      this.#policy.add(key, value, ttlMs);
      return true;
    }
    if (!this.#cache) return false;
    if (ttlMs === undefined) this.#cache.set(key, value);
    else this.#cache.set(key, value, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    this.#budget?.settle();
    return true;
  }

  /** True when an entry of `key` for `value` would fit at all (see add). */
  fits(key: string, value: ByteView): boolean {
    return (this.#cache !== undefined || this.#policy !== undefined) && LRU.cost(key, value) <= this.maxBytes;
  }

  /**
   * True when a copy of another owner's value should be kept (the hot cache's fill rule). With
   * the adaptive policy always: the copy enters the window and stays only if the counts say it
   * is read more often than what it would displace. With LRU: while there is room, else 1 in 10,
   * as groupcache admits (so one scan cannot flush the cache).
   */
  admits(key: string, value: ByteView): boolean {
    if (this.#policy) return this.fits(key, value);
    return this.hasRoomFor(key, value) || Math.random() < 0.1;
  }

  /**
   * True when an entry of `key` for `value` fits without evicting any of this cache's own entries:
   * within its share, or (with a budget) in room the budget has unused. Within its share, it may
   * evict entries other caches hold beyond theirs (see CacheBudget).
   */
  hasRoomFor(key: string, value: ByteView): boolean {
    if (this.#cache === undefined && this.#policy === undefined) return false;
    const cost = LRU.cost(key, value);
    if (this.bytes + cost <= this.maxBytes) return true;
    return this.#budget !== undefined && cost <= this.maxBytes && this.#budget.used + cost <= this.#budget.maxBytes;
  }

  /** @internal With the adaptive policy, the window's share of the room (0 to 1); else undefined. */
  get windowShare(): number | undefined {
    return this.#policy?.windowShare;
  }

  /** Bytes held now (the sum of {@link LRU.cost} over the entries). */
  get bytes(): number {
    return this.#policy ? this.#policy.bytes : (this.#cache?.calculatedSize ?? 0);
  }

  /**
   * Evicts the least recently used entry (counted as an eviction); returns the bytes it freed.
   * With the adaptive policy, the entries its rule picks to free about `need` bytes.
   */
  evictOldest(need = 1): number {
    if (this.#policy) return this.#policy.evict(need);
    if (!this.#cache || this.#cache.size === 0) return 0;
    const before = this.#cache.calculatedSize;
    this.#cache.pop();
    return before - this.#cache.calculatedSize;
  }

  /** Removes every entry. */
  clear(): void {
    this.#policy?.clear();
    this.#cache?.clear();
  }

  /** Removes an entry; true if there was one. */
  remove(key: string): boolean {
    return this.#policy ? this.#policy.remove(key) : (this.#cache?.delete(key) ?? false);
  }

  /** The cache's counters. */
  stats(): LRUStats {
    return {
      bytes: this.bytes,
      items: this.#policy ? this.#policy.items : (this.#cache?.size ?? 0),
      gets: this.#gets,
      hits: this.#hits,
      evictions: this.#policy ? this.#policy.evictions : this.#evictions,
    };
  }
}
