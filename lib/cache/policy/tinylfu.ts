/**
 * tinylfu.ts decides which entries a byte-bounded cache keeps: W-TinyLFU with a window that sizes
 * itself (the group option `policy: 'adaptive'`; docs/hit-ratio.md tells it for users). Storage,
 * recency orders and TTLs stay lru-cache's: one lru-cache per segment, entries moved between them.
 *
 * - window: every new entry lands here (LRU order), so a key read again soon is kept (recency).
 * - probation and protected, the main part (a segmented LRU): an entry leaving the window moves to
 *   probation's young end if there is room; when this cache must make room, it moves only if it was
 *   asked for more often lately than each entry that would go for it (probation's oldest, then
 *   protected's), else it goes (frequency). A probation entry read again moves to protected (80%).
 * - how often: frequency.ts (reads counted on the value, misses in a shared sketch).
 * - the window's share adapts to the traffic: window.ts. Recency-heavy traffic grows the window
 *   towards LRU, loops and scans shrink it towards pure frequency.
 *
 * Memory counted in maxBytes (CacheBudget.used): the sketch's 8-10 bytes per entry and the ghost
 * lists' ≤ 3. Not counted beyond ENTRY_OVERHEAD_BYTES: each value's 8-byte tally and the slots of
 * the two extra lru-cache instances (BENCHMARKS.md, hit-ratio: +46 bytes of heap per entry in all).
 * An expired entry is never returned: lru-cache's TTL, carried to the millisecond between segments.
 */

import { LRUCache } from 'lru-cache';
import type { ByteView } from '../byteview.js';
import type { SharedFrequency } from './frequency.js';
import { OldestKeys } from './oldest.js';
import { hashKey } from './sketch.js';
import { AdaptiveWindow } from './window.js';

/** What the group's budget offers a policy cache (CacheBudget in lru.ts). */
export interface PolicyBudget {
  readonly maxBytes: number;
  /** Bytes held by all of the budget's caches, the policy's own memory included. */
  readonly used: number;
  /** Evicts until the caches fit maxBytes. */
  settle(): void;
}

type Segment = LRUCache<string, ByteView>;

/** The protected segment's share of the main part (Caffeine's 80%). */
const PROTECTED = 0.8;
/** The adaptive W-TinyLFU cache of the file's opening, for one cache of a budget. */
export class TinyLfu {
  readonly #window: Segment;
  readonly #probation: Segment;
  readonly #protected: Segment;
  /** The window's and probation's oldest keys, read ahead. */
  readonly #windowOldest: OldestKeys<ByteView>;
  readonly #probationOldest: OldestKeys<ByteView>;
  readonly #freq: SharedFrequency;
  readonly #budget: PolicyBudget;
  /** Bytes this cache is sure of (its share of the budget). */
  readonly #share: number;
  readonly #cost: (key: string, value: ByteView) => number;
  /** True for the cache every lookup of the group goes through first (main): its gets are the clock. */
  readonly #clock: boolean;
  /** lru-cache options: the segments keep stale entries visible to rkeys() (as victims), never to a read. */
  readonly #fresh = { allowStale: false };
  readonly #anyAge = { allowStale: true };
  readonly #status: LRUCache.Status<string, ByteView> = {};
  /** The window's share and the ghost lists that move it. */
  readonly #adaptive = new AdaptiveWindow();
  /** The victims #judge is weighing (reused, not to allocate per eviction). */
  readonly #victimKeys: string[] = [];
  readonly #victimHashes: number[] = [];
  readonly #victimValues: ByteView[] = [];
  /** True once an entry was added with a TTL: moves must then carry TTLs over. */
  #timed = false;
  /** The key the last get() found nowhere, until the next add(). */
  #missed: string | undefined;
  readonly #moveRead: { allowStale: false; status: LRUCache.Status<string, ByteView> };
  #evictions = 0;

  constructor(share: number, budget: PolicyBudget, freq: SharedFrequency, cost: (key: string, value: ByteView) => number, clock: boolean) {
    this.#share = share;
    this.#budget = budget;
    this.#freq = freq;
    this.#cost = cost;
    this.#clock = clock;
    const segment = (): Segment =>
      new LRUCache<string, ByteView>({
        // The budget keeps the sum within maxBytes (settle); a segment never evicts by itself.
        maxSize: budget.maxBytes,
        sizeCalculation: (value, key) => cost(key, value),
        allowStale: true,
        dispose: (_value, _key, reason) => {
          if (reason === 'evict') this.#evictions++;
        },
      });
    this.#window = segment();
    this.#probation = segment();
    this.#protected = segment();
    this.#moveRead = { allowStale: false, status: this.#status };
    this.#windowOldest = new OldestKeys(this.#window);
    this.#probationOldest = new OldestKeys(this.#probation);
    freq.register(this, this.#adaptive.bytes);
  }

  /** Entries held. */
  get items(): number {
    return this.#window.size + this.#probation.size + this.#protected.size;
  }

  /** Bytes held (the sum of the entries' costs). */
  get bytes(): number {
    return this.#window.calculatedSize + this.#probation.calculatedSize + this.#protected.calculatedSize;
  }

  /** Entries evicted to make room. */
  get evictions(): number {
    return this.#evictions;
  }

  /** The keys held, expired or not. */
  *keys(): IterableIterator<string> {
    yield* this.#window.keys();
    yield* this.#probation.keys();
    yield* this.#protected.keys();
  }

  /** The window's share of the room, 0 to 1 (for tests and the bench). */
  get windowShare(): number {
    return this.#adaptive.share;
  }

  /** The unexpired entry for `key`, counting the read and marking it recently used. */
  get(key: string): ByteView | undefined {
    const freq = this.#freq;
    if (this.#clock) freq.tick();
    let value = this.#protected.get(key, this.#fresh);
    if (value === undefined) {
      value = this.#window.get(key, this.#fresh);
      if (value !== undefined) this.#windowOldest.invalidate();
      else {
        // Read again while on probation: it earned the protected segment.
        if (this.#probation.size !== 0) value = this.#move(this.#probation, this.#protected, key);
        if (value === undefined) {
          // Not held now (an expired entry was just dropped): add() need not look for it.
          this.#missed = key;
          return undefined;
        }
        this.#probationOldest.invalidate();
        this.#demote(this.#room());
      }
    }
    freq.bump(value);
    return value;
  }

  /** The unexpired entry for `key`, without counting a read or changing any order. */
  peek(key: string): ByteView | undefined {
    return this.#protected.peek(key, this.#fresh) ?? this.#window.peek(key, this.#fresh) ?? this.#probation.peek(key, this.#fresh);
  }

  /** True when `key` has an unexpired entry. */
  has(key: string): boolean {
    return this.#protected.has(key) || this.#window.has(key) || this.#probation.has(key);
  }

  /**
   * Stores an entry (the caller checked it fits the share) and makes room by the policy: a key
   * held already is replaced where it is (its count kept); a new one is counted as a miss and
   * enters the window.
   */
  add(key: string, value: ByteView, ttlMs?: number): void {
    const cost = this.#cost(key, value);
    let options: { size: number; ttl?: number } = { size: cost };
    if (ttlMs !== undefined) {
      options = { size: cost, ttl: Math.max(1, Math.ceil(ttlMs)) };
      this.#timed = true;
    }
    // Unless get() just missed it (and nothing was added since), the key may be held.
    const held = key === this.#missed ? undefined : this.#segmentOf(key);
    this.#missed = undefined;
    if (held !== undefined) {
      value.policyTally = (held.peek(key, this.#anyAge) as ByteView).policyTally;
      held.set(key, value, options);
      this.#windowOldest.invalidate();
      this.#probationOldest.invalidate();
      this.#budget.settle();
      return;
    }
    const freq = this.#freq;
    const h = hashKey(key, freq.seed);
    freq.sketch.add(h);
    value.policyTally = freq.period << 4;
    const room = this.#room();
    this.#adaptive.missed(h, cost, room);
    this.#window.set(key, value, options);
    freq.grow();
    // Past its share, the window's oldest entries are candidates for the main part: with room to
    // spare they move there; when this cache must make room, each stays only if it beats the
    // entries that would go for it, else it goes (judged in the window: a loser is never moved).
    const windowMax = this.#adaptive.share * room;
    while (this.#window.calculatedSize > windowMax && this.#window.size > 1) {
      const oldest = this.#windowOldest.oldest();
      if (oldest === undefined) break;
      const oldestValue = this.#windowOldest.value;
      const oldestHash = hashKey(oldest, freq.seed);
      this.#freq.ghostsGrew(this.#adaptive.leftWindow(oldestHash, this.items));
      const need = Math.min(this.#budget.used - this.#budget.maxBytes, this.#excess());
      if (need > 0 && !this.#admit(oldestHash, oldestValue, need)) this.#drop(this.#window, oldest, oldestHash, oldestValue);
      else this.#move(this.#window, this.#probation, oldest, oldestValue);
    }
    this.#demote(room);
    this.#budget.settle();
  }

  /**
   * Evicts the oldest entry of the main part (probation's, else protected's), else the window's,
   * when the budget needs room from this cache for another's sake. Returns the bytes freed.
   */
  evict(_need: number): number {
    const before = this.bytes;
    this.#evictOldest();
    return before - this.bytes;
  }

  /** Bytes this cache holds beyond its share (the main cache carries the policy's memory). */
  #excess(): number {
    return this.bytes + (this.#clock ? this.#freq.bytes : 0) - this.#share;
  }

  /** Removes an entry; true if there was one. */
  remove(key: string): boolean {
    const a = this.#protected.delete(key);
    const b = this.#window.delete(key);
    const c = this.#probation.delete(key);
    this.#gone(this.#window, key);
    this.#gone(this.#probation, key);
    return a || b || c;
  }

  /** Removes every entry (what the policy learned stays). */
  clear(): void {
    this.#window.clear();
    this.#probation.clear();
    this.#protected.clear();
    this.#windowOldest.invalidate();
    this.#probationOldest.invalidate();
    this.#missed = undefined;
  }

  /** The segment holding `key`, expired or not. */
  #segmentOf(key: string): Segment | undefined {
    if (this.#protected.peek(key, this.#anyAge) !== undefined) return this.#protected;
    if (this.#window.peek(key, this.#anyAge) !== undefined) return this.#window;
    if (this.#probation.peek(key, this.#anyAge) !== undefined) return this.#probation;
    return undefined;
  }

  /** Bytes this cache may hold now: its share, or more when the budget's other caches leave room. */
  #room(): number {
    return Math.max(this.#share, this.#budget.maxBytes - (this.#budget.used - this.bytes));
  }

  /** Moves protected's oldest entries to probation while protected is over its share of the main part. */
  #demote(room: number): void {
    const max = PROTECTED * (1 - this.#adaptive.share) * room;
    while (this.#protected.calculatedSize > max && this.#protected.size > 0) {
      const oldest = this.#oldest(this.#protected);
      if (oldest === undefined) return;
      this.#move(this.#protected, this.#probation, oldest);
    }
  }

  /**
   * A candidate leaving the window (hash `h`, value `value`) against the oldest entries of the
   * main part that free `need` bytes: true, and they are evicted, if it was asked for more often
   * than each of them; false if not, or if the main part holds too little to free `need`.
   */
  #admit(h: number, value: ByteView, need: number): boolean {
    const frequency = this.#freq.frequency(h, value);
    const keys = this.#victimKeys;
    const hashes = this.#victimHashes;
    const values = this.#victimValues;
    let freed = this.#victims(this.#probation, frequency, need, 0);
    const fromProbation = keys.length;
    if (freed >= 0 && freed < need) freed = this.#victims(this.#protected, frequency, need, freed);
    const admitted = freed >= need;
    if (admitted) {
      for (let i = 0; i < keys.length; i++) {
        this.#freq.ghostsGrew(this.#adaptive.leftMain(hashes[i], this.items));
        this.#drop(i < fromProbation ? this.#probation : this.#protected, keys[i], hashes[i], values[i]);
      }
    }
    if (keys.length > 0) {
      // Hold no value past its eviction.
      keys.length = 0;
      hashes.length = 0;
      values.length = 0;
    }
    return admitted;
  }

  /**
   * Adds a segment's oldest entries to the victims (#victimKeys) until `freed` reaches `need`;
   * returns the bytes they free, or -1 as soon as one was asked for as often as the candidate.
   */
  #victims(segment: Segment, frequency: number, need: number, freed: number): number {
    const seed = this.#freq.seed;
    if (segment === this.#probation && freed === 0) {
      // Most often one victim does: probation's oldest, read ahead.
      const key = this.#probationOldest.oldest();
      const value = key === undefined ? undefined : this.#probationOldest.value;
      if (key !== undefined && value !== undefined && this.#cost(key, value) >= need) {
        const h = hashKey(key, seed);
        if (this.#freq.frequency(h, value) >= frequency) return -1;
        this.#victimKeys.push(key);
        this.#victimHashes.push(h);
        this.#victimValues.push(value);
        return this.#cost(key, value);
      }
    }
    for (const key of segment.rkeys()) {
      const value = segment.peek(key, this.#anyAge);
      if (value === undefined) continue;
      const h = hashKey(key, seed);
      if (this.#freq.frequency(h, value) >= frequency) return -1;
      this.#victimKeys.push(key);
      this.#victimHashes.push(h);
      this.#victimValues.push(value);
      freed += this.#cost(key, value);
      if (freed >= need) break;
    }
    return freed;
  }

  /** Evicts the main part's oldest entry (probation's, else protected's), else the window's. */
  #evictOldest(): void {
    const segment = this.#probation.size > 0 ? this.#probation : this.#protected.size > 0 ? this.#protected : this.#window;
    const oldest =
      segment === this.#probation ? this.#probationOldest.oldest() : segment === this.#window ? this.#windowOldest.oldest() : this.#oldest(segment);
    if (oldest === undefined) return;
    const h = hashKey(oldest, this.#freq.seed);
    this.#freq.ghostsGrew(segment === this.#window ? this.#adaptive.leftWindow(h, this.items) : this.#adaptive.leftMain(h, this.items));
    this.#drop(segment, oldest, h, segment.peek(oldest, this.#anyAge));
  }

  /** Evicts an entry (its value `value`), keeping its count of reads in the sketch (should it come back). */
  #drop(segment: Segment, key: string, h: number, value: ByteView | undefined): void {
    if (value !== undefined) this.#freq.sketch.add(h, this.#freq.count(value));
    if (segment.delete(key)) this.#evictions++;
    this.#gone(segment, key);
  }

  /** A key left a segment: the read-ahead of its oldest keys lets go of its value. */
  #gone(segment: Segment, key: string): void {
    if (segment === this.#window) this.#windowOldest.gone(key);
    else if (segment === this.#probation) this.#probationOldest.gone(key);
  }

  /** The least recently used key of a segment, expired or not. */
  #oldest(segment: Segment): string | undefined {
    for (const key of segment.rkeys()) return key;
    return undefined;
  }

  /**
   * Moves an entry to another segment (as its most recently used), keeping its TTL to the
   * millisecond. Returns its value; undefined when it had expired (it is then dropped, as a read
   * would drop it).
   */
  #move(from: Segment, to: Segment, key: string, known?: ByteView): ByteView | undefined {
    if (!this.#timed) {
      // No entry of this cache ever had a TTL: nothing to carry over, nothing expires.
      const value = known ?? from.peek(key, this.#anyAge);
      if (value === undefined) return undefined;
      from.delete(key);
      this.#gone(from, key);
      to.set(key, value);
      return value;
    }
    const status = this.#status;
    status.ttl = undefined;
    status.start = undefined;
    const value = from.get(key, this.#moveRead);
    if (value === undefined) return undefined;
    from.delete(key);
    this.#gone(from, key);
    to.set(key, value, status.ttl ? { ttl: status.ttl, start: status.start } : undefined);
    status.value = undefined; // lru-cache put the value there: it must not outlive the entry
    return value;
  }
}
