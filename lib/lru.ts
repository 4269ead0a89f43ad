import { LRUCache } from 'lru-cache';
import type { ByteView } from './byteview.js';

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
 * A byte-bounded least-recently-used cache of {@link ByteView}s, on the `lru-cache` package.
 *
 * An entry costs its key's UTF-8 length plus its value's length, as in groupcache, plus
 * {@link ENTRY_OVERHEAD_BYTES}, so `maxBytes` bounds the heap the cache really uses, small
 * values included. `maxBytes <= 0` makes a cache that holds nothing.
 */
export class LRU {
  readonly maxBytes: number;
  readonly #cache: LRUCache<string, ByteView> | undefined;
  #gets = 0;
  #hits = 0;
  #evictions = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
    if (maxBytes <= 0) return;
    this.#cache = new LRUCache<string, ByteView>({
      maxSize: maxBytes,
      sizeCalculation: (value, key) => LRU.cost(key, value),
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
    });
  }

  /** What an entry costs against `maxBytes`. */
  static cost(key: string, value: ByteView): number {
    return ENTRY_OVERHEAD_BYTES + Buffer.byteLength(key) + value.length;
  }

  /** The entry for `key`, marking it most recently used. */
  get(key: string): ByteView | undefined {
    this.#gets++;
    const value = this.#cache?.get(key);
    if (value !== undefined) this.#hits++;
    return value;
  }

  /** The entry for `key` (unexpired), without counting a lookup or marking it recently used. */
  peek(key: string): ByteView | undefined {
    return this.#cache?.peek(key);
  }

  /** True when `key` has an entry; unlike get(), neither counts a lookup nor marks it recently used. */
  has(key: string): boolean {
    return this.#cache?.has(key) ?? false;
  }

  /**
   * Stores an entry, evicting the least recently used ones to make room. Returns false if it can
   * never fit. With `ttlMs` the entry is gone after that long (lru-cache's own TTL: an expired
   * entry is never returned, whether or not it was purged yet).
   */
  add(key: string, value: ByteView, ttlMs?: number): boolean {
    if (!this.#cache || LRU.cost(key, value) > this.maxBytes) return false;
    if (ttlMs === undefined) this.#cache.set(key, value);
    else this.#cache.set(key, value, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    return true;
  }

  /** True when an entry of `key` for `value` would fit at all (see add). */
  fits(key: string, value: ByteView): boolean {
    return this.#cache !== undefined && LRU.cost(key, value) <= this.maxBytes;
  }

  /** True when an entry of `key` for `value` fits beside what is held now, without evicting anything. */
  hasRoomFor(key: string, value: ByteView): boolean {
    return this.#cache !== undefined && this.#cache.calculatedSize + LRU.cost(key, value) <= this.maxBytes;
  }

  /** Removes every entry. */
  clear(): void {
    this.#cache?.clear();
  }

  /** Removes an entry; true if there was one. */
  remove(key: string): boolean {
    return this.#cache?.delete(key) ?? false;
  }

  /** The cache's counters. */
  stats(): LRUStats {
    return {
      bytes: this.#cache?.calculatedSize ?? 0,
      items: this.#cache?.size ?? 0,
      gets: this.#gets,
      hits: this.#hits,
      evictions: this.#evictions,
    };
  }
}
