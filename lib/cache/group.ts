/**
 * A group: one named, read-through namespace of the cache. A get reads top to bottom here: this
 * process's caches (#lookupCache), else the key's owner peer (#load), else the getter
 * (#loadLocally). The jobs around that path have their own files: running the getter
 * (getterrun.ts), the copies of other peers' values (hotcopies.ts), the writes (writes.ts), a
 * traced get (tracedget.ts).
 */
import { LRUCache } from 'lru-cache';
import { type GetTrace, getTrace } from '../common/diagnostics.js';
import { BadKeyError, isInstance, NotFoundError, OwnerLoadError } from '../common/errors.js';
import { Histogram } from '../common/histogram.js';
import type { Logger } from '../common/logger.js';
import { ByteView } from './byteview.js';
import { CoarseClock, Freshness, LoadGuard, RefreshBackoff } from './freshness.js';
import { type GetManyResult, getMany } from './getmany.js';
import { GetterRuns } from './getterrun.js';
import { type Bytes, type GroupConfig, type GroupOptions, resolveGroup } from './groupoptions.js';
import { HotCopies } from './hotcopies.js';
import type { InvalidationReport } from './invalidation.js';
import { CacheBudget, type LRU } from './lru.js';
import type { PeerPicker } from './peers.js';
import { Flight } from './singleflight.js';
import { emptyStats, type GroupStats } from './stats.js';
import { checkTags, type TagSet } from './tags.js';
import { type GetSteps, sourceOf, TracedGets } from './tracedget.js';
import type { WriteOrder } from './writeorder.js';
import { GroupWrites, type PeerWrite, type SetOptions, type WriteOutcome } from './writes.js';

export type { GetManyResult } from './getmany.js';
export type { SetOptions } from './writes.js';

/**
 * How long the owner answers other peers a key's getter error again instead of running the getter
 * anew: a burst of peer requests (or replays of one) for a failing key costs one getter run per
 * this long, not one per request. Gets made on this process itself still retry at once.
 */
export const PEER_FAILURE_BACKOFF_MS = 1_000;
/** Most keys whose recent getter error is remembered (least recently failed dropped first). */
const MAX_REMEMBERED_FAILURES = 1_000;

/**
 * A named, cached, read-through namespace: `get` answers from this process's cache, else from
 * the key's owner peer, else by running the getter — and caches the result.
 */
export class Group {
  /** The group's name, the same on every peer. */
  readonly name: string;
  /** Counters for this group. */
  readonly stats: GroupStats = emptyStats();
  /** Seconds each getter run took (successful or not). */
  readonly getterLatency = new Histogram();
  readonly #loadTimeoutMs: number;
  readonly #maxKeyLength: number;
  /** Values this process owns. */
  readonly #mainCache: LRU;
  /** A few values owned by other peers, so hot keys stop costing a network hop. */
  readonly #hot: HotCopies;
  /** Merges concurrent gets of a key, covering the peer fetch and the local load. */
  readonly #flight = new Flight<ByteView>();
  /** Merges runs of the getter, whether started by this process or for a peer. */
  readonly #localFlight = new Flight<ByteView>();
  /** NotFoundErrors' messages, kept for `notFoundTtlMs` (only when that is on). */
  readonly #missing: LRU;
  readonly #fresh: Freshness;
  readonly #guard = new LoadGuard();
  readonly #refreshBackoff = new RefreshBackoff();
  readonly #clock = new CoarseClock();
  readonly #getterRuns: GetterRuns;
  readonly #writes: GroupWrites;
  #peers: PeerPicker | undefined;
  /** Recent getter errors by key, answered to peers for PEER_FAILURE_BACKOFF_MS (bounded). */
  readonly #failures = new LRUCache<string, { error: unknown }>({ max: MAX_REMEMBERED_FAILURES, ttl: PEER_FAILURE_BACKOFF_MS });
  /** A get's steps, for getMany and for traced gets (tracedget.ts). */
  readonly #steps: GetSteps = {
    lookup: (key) => {
      this.#checkKey(key);
      this.stats.gets++;
      return this.#lookupCache(key);
    },
    load: (key, trace) => {
      this.stats.loads++;
      return this.#flight.do(key, () => this.#load(key, trace));
    },
    loading: (key) => this.#flight.has(key),
  };
  readonly #traced: TracedGets;

  /**
   * Checks `options` (a ConfigError names a bad one) and fills in the defaults; options geecache()
   * already checked (a GroupConfig) are taken as they are.
   */
  constructor(name: string, options: GroupOptions | GroupConfig) {
    const config = resolveGroup(name, options);
    this.name = name;
    this.#loadTimeoutMs = config.loadTimeoutMs;
    this.#maxKeyLength = config.maxKeyLength;
    // One budget, as in groupcache: the hot cache's share comes out of maxBytes, not on top of it,
    // and each cache may fill what the others leave unused (CacheBudget).
    const hotBytes = config.maxBytes > 0 ? Math.floor(config.maxBytes * config.hotCacheFraction) : 0;
    // Cached not-founds take 1/16 of the rest, only when they are on.
    const missingBytes = config.maxBytes > 0 && config.notFoundTtlMs > 0 ? Math.floor((config.maxBytes - hotBytes) / 16) : 0;
    const budget = new CacheBudget(config.maxBytes, config.policy);
    this.#mainCache = budget.cache(config.maxBytes - hotBytes - missingBytes, 'main');
    this.#fresh = new Freshness(config);
    this.#hot = new HotCopies({
      group: name,
      cache: budget.cache(hotBytes, 'copies'),
      fresh: this.#fresh,
      clock: this.#clock,
      guard: this.#guard,
      stats: this.stats,
      loadTimeoutMs: config.loadTimeoutMs,
      ownerOf: (key) => this.#peers?.pickPeer(key),
    });
    this.#missing = budget.cache(missingBytes);
    this.#getterRuns = new GetterRuns(name, config, config.loadTimeoutMs, this.#fresh, this.getterLatency, this.#guard.tags);
    this.#writes = new GroupWrites(this, this.#mainCache, this.#fresh);
    this.#traced = new TracedGets(name, this.#steps);
  }

  /** Tells the group where its peers are (and where warnings about missed removes go). Once only: a second call throws. */
  registerPeers(picker: PeerPicker, logger?: Logger): void {
    if (this.#peers) throw new Error(`registerPeers called more than once for group "${this.name}"`);
    this.#peers = picker;
    this.#writes.registerPeers(picker, logger);
  }

  /** The value of `key`: cached, else from its owner peer, else from the getter. */
  get(key: string): Promise<ByteView> {
    // Not an async function: a hit returns an already-resolved promise without the async
    // machinery, the largest part of a hit's cost (BENCHMARKS.md, row 1).
    if (getTrace.hasSubscribers) return this.#traced.get(key);
    try {
      this.#checkKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    this.stats.gets++;
    const cached = this.#lookupCache(key);
    if (cached) return Promise.resolve(cached);
    this.stats.loads++;
    return this.#flight.do(key, () => this.#load(key));
  }

  /**
   * The values of `keys`, each as get() would answer it, in one call that never rejects for one
   * key: a Map in the order of `keys` (repeats once) to `{ value }` or `{ error }`. Keys this
   * process caches answer at once; the others are asked of their owners together (one batch
   * request per owner), and an owner runs the group's getMany once for the keys it misses
   * (see getmany.ts).
   */
  getMany(keys: Iterable<string>): Promise<Map<string, GetManyResult>> {
    return getMany(keys, (key) => this.#steps.lookup(key) ?? this.#steps.load(key));
  }

  #checkKey(key: unknown): asserts key is string {
    if (typeof key !== 'string') throw new BadKeyError(`key must be a string, got ${typeof key}`);
    if (key.length === 0) throw new BadKeyError('key must not be empty');
    if (key.length > this.#maxKeyLength) throw new BadKeyError(`key is ${key.length} characters, over the group's maxKeyLength of ${this.#maxKeyLength}`);
  }

  /** This process's value of `key`: its own (main cache), else a copy of the owner's (hot cache). */
  #lookupCache(key: string): ByteView | undefined {
    let main = this.#mainCache.get(key);
    if (main?.tagged !== undefined && !this.#guard.tags.fresh(main.tagged)) {
      this.#mainCache.remove(key); // one of its tags was invalidated since it was loaded
      main = undefined;
    }
    if (main !== undefined) {
      this.stats.cacheHits++;
      // Only an owner keeps entries past their expiry (staleMs): serve it, refresh it once.
      if (main.expiresAt !== undefined && this.#fresh.config.staleMs > 0 && main.expiresAt <= this.#clock.now()) this.#revalidate(key);
      return main;
    }
    const hot = this.#hot.get(key);
    if (hot !== undefined) this.stats.cacheHits++;
    return hot;
  }

  /**
   * A miss, once per key at a time (#flight): from the key's owner peer, else from the getter
   * here. A traced get's `trace` is told where the value came from.
   */
  async #load(key: string, trace?: GetTrace): Promise<ByteView> {
    // A get that finished while we queued for the flight may have filled the cache.
    const cached = this.#lookupCache(key);
    if (cached) {
      if (trace) trace.source = sourceOf(cached);
      return cached;
    }
    this.stats.loadsDeduped++;
    const peer = this.#peers?.pickPeer(key);
    if (peer) {
      if (trace) trace.peer = this.#peers?.ownerOf?.(key);
      const ticket = this.#guard.begin(key);
      try {
        const { value, keep } = this.#hot.received(await peer.get({ group: this.name, key, waitMs: this.#loadTimeoutMs }), ticket);
        this.stats.peerLoads++;
        if (trace) trace.source = 'peer';
        if (keep) this.#hot.offer(key, value);
        return value;
      } catch (err) {
        this.stats.peerErrors++;
        // The owner ran the getter and it failed (or found nothing): running it again here would
        // double the load on a backend that is already failing.
        if (err instanceof OwnerLoadError || err instanceof NotFoundError) throw err;
      } finally {
        this.#guard.end(ticket);
      }
    }
    if (trace) trace.source = 'getter';
    return this.#localFlight.do(key, () => this.#loadLocally(key, peer === undefined, peer === undefined, trace));
  }

  /**
   * Runs the getter and caches its value: in the main cache until it expires (+ staleMs) when
   * this peer owns the key, else as a copy capped by hotTtlMs (the owner could not be asked).
   * Stores nothing if a remove, set or clear of the key, or an invalidation of one of the value's
   * tags, happened meanwhile.
   */
  async #loadLocally(key: string, owned: boolean, handoff = owned, trace?: GetTrace): Promise<ByteView> {
    const missing = this.#missing.get(key);
    if (missing !== undefined) throw new NotFoundError(missing.toString());
    if (handoff) {
      const handed = await this.#handoff(key);
      if (handed) {
        if (trace) trace.source = 'handoff';
        return handed;
      }
    }
    const ticket = this.#guard.begin(key);
    let value: ByteView;
    try {
      value = await this.#getterRuns.run(key, ticket.epoch);
    } catch (err) {
      this.#guard.end(ticket);
      this.stats.localLoadErrs++;
      const notFoundTtl = this.#fresh.config.notFoundTtlMs;
      const notFound = isInstance(err, NotFoundError);
      if (notFound && notFoundTtl > 0 && owned && ticket.current) this.#missing.add(key, new ByteView((err as NotFoundError).message), notFoundTtl);
      // A not-found is remembered only as notFoundTtlMs says; any other failure briefly, for peers.
      if (!notFound) this.#failures.set(key, { error: err });
      throw err;
    }
    this.#guard.end(ticket);
    this.#failures.delete(key);
    this.stats.localLoads++;
    if (!this.#guard.keeps(ticket, value)) return value;
    // Owned: kept until it expires (+ staleMs). A copy of another peer's key: no longer than Freshness.copyTtl.
    const ttl = owned ? this.#fresh.mainTtl(value.expiresAt) : this.#fresh.copyTtl(value.expiresAt);
    if (ttl === undefined || ttl > 0) this.#mainCache.add(key, value, ttl);
    return value;
  }

  /** Warm handoff (HotCopies.handoff): the key's previous owner's cached value, stored as owned; undefined: load as usual. */
  async #handoff(key: string): Promise<ByteView | undefined> {
    const handed = await this.#hot.handoff(key, this.#peers);
    if (handed && this.#guard.keeps(handed.ticket, handed.value)) this.#mainCache.add(key, handed.value, handed.ttl);
    return handed?.value;
  }

  /** Starts the one refresh of a stale key, unless it runs already or failed too recently. */
  #revalidate(key: string): void {
    if (this.#localFlight.has(key) || !this.#refreshBackoff.allowed(key)) return;
    this.#localFlight
      // A refresh wants a fresh value: never the previous owner's copy.
      .do(key, () => this.#loadLocally(key, true, false))
      .then(
        () => this.#refreshBackoff.forget(key),
        () => this.#refreshBackoff.failed(key),
      );
  }

  /**
   * The value of `key` if this process has it cached, else undefined; never loads. Synchronous,
   * for hot paths where even one await costs more than the lookup (see BENCHMARKS.md, row 1).
   */
  peek(key: string): ByteView | undefined {
    this.#checkKey(key);
    this.stats.gets++;
    return this.#lookupCache(key);
  }

  /**
   * getForPeer's synchronous half, for the peer route's hot path: the cached value, counted as a
   * peer's get, or undefined (a bad key, or not cached) counting nothing, for getForPeer to
   * answer. A hit then costs no promise nor the microtask it takes to settle (BENCHMARKS.md,
   * peer-serve). @internal
   */
  cachedForPeer(key: string): ByteView | undefined {
    try {
      this.#checkKey(key);
    } catch {
      return undefined; // getForPeer rejects it with the BadKeyError
    }
    const cached = this.#lookupCache(key);
    if (cached === undefined) return undefined;
    this.stats.gets++;
    this.stats.serverRequests++;
    return cached;
  }

  /**
   * The value of `key` for another peer's request. Never forwarded to a third peer: two peers
   * that disagree on the owner would otherwise pass a key back and forth (golang/groupcache
   * deadlocks there until a timeout). A bad key rejects with a BadKeyError.
   */
  getForPeer(key: string): Promise<ByteView> {
    try {
      this.#checkKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    this.stats.gets++;
    this.stats.serverRequests++;
    const cached = this.#lookupCache(key);
    if (cached) return Promise.resolve(cached);
    const failed = this.#failures.get(key);
    if (failed) return Promise.reject(failed.error);
    this.stats.loads++;
    return this.#localFlight.do(key, () => this.#loadLocally(key, true));
  }

  /**
   * Removes `key` from the whole cluster: its owner drops it first, then every other peer drops
   * its copy (`DELETE {basePath}{group}/{key}`). Resolves once every peer answered or failed;
   * peers that could not be reached get it again every second until they answer or leave the ring.
   */
  async remove(key: string): Promise<InvalidationReport> {
    this.#checkKey(key);
    return this.#writes.remove(key);
  }

  /**
   * Stores `value` for `key` at its owner (`PUT`, a SetRequest), then drops every other peer's
   * copy. Rejects, storing nothing, for a value that is not a Buffer, Uint8Array or string, or
   * that the group could never hold (over its share of `maxBytes`). If the owner cannot store it
   * (down, stuck past `timeoutMs`), the key is removed everywhere instead and the call rejects.
   */
  async set(key: string, value: Bytes, options: SetOptions = {}): Promise<InvalidationReport> {
    this.#checkKey(key);
    return this.#writes.set(key, value, options);
  }

  /**
   * Empties the group on every peer, for deploys: two rounds, so a copy another peer fetched from
   * an owner that had not cleared yet is dropped by the second.
   */
  async clear(): Promise<InvalidationReport> {
    return this.#writes.clear();
  }

  /**
   * A write another peer sent (the peer server's PUT and DELETE), applied only if it is newer
   * than every write of its key applied here (cache/writeorder.ts). @internal
   */
  applyPeerWrite(write: PeerWrite): WriteOutcome {
    return this.#writes.apply(write);
  }

  /** The versions of the writes applied here and this group's write clock. @internal */
  get writeOrder(): WriteOrder {
    return this.#writes.order;
  }

  /**
   * Makes every value carrying one of `tags` stop being served, on every peer (owners and hot
   * copies): here at once, then one request per peer. Resolves as remove() does; a peer that
   * missed it gets it again every second, and meanwhile serves such values at most as a peer that
   * missed a remove would. A load that began before it stores nothing carrying one of the tags.
   */
  async invalidateTags(tags: readonly string[]): Promise<InvalidationReport> {
    return this.#writes.invalidateTags(tags);
  }

  /** Removes not yet acknowledged by a peer, by peer URL. */
  pendingRemoves(): Map<string, number> {
    return this.#writes.pending();
  }

  /**
   * Stores `value` in this process's main cache as the key's owner does for a set, ahead of any
   * load in flight. False when it can never fit. @internal (the peer server's PUT)
   */
  setLocally(key: string, value: ByteView): boolean {
    this.forget(key);
    const ttl = this.#fresh.mainTtl(value.expiresAt);
    if (ttl !== undefined && ttl <= 0) return this.#mainCache.fits(key, value);
    return this.#mainCache.add(key, value, ttl);
  }

  /**
   * Drops `key` from this process's caches only (other peers keep their copies; see remove()).
   * A load of the key already running will not store what it read.
   */
  forget(key: string): boolean {
    this.#guard.withdraw(key);
    this.#flight.forget(key);
    this.#localFlight.forget(key);
    this.#refreshBackoff.forget(key);
    this.#missing.remove(key);
    // Both: after a membership change a key can sit in either, or in both.
    const fromMain = this.#mainCache.remove(key);
    const fromHot = this.#hot.remove(key);
    this.#failures.delete(key);
    return fromMain || fromHot;
  }

  /**
   * Makes the values carrying one of `tags` (checked) stale in this process's caches only (see
   * invalidateTags()); `id` names the invalidation cluster-wide. Gets already waiting for a load
   * get its value; later ones start another. @internal (the peer server's tag invalidation)
   */
  forgetTags(tags: readonly string[], id: number): void {
    this.#guard.tags.invalidate(tags, id);
    this.#flight.clear();
    this.#localFlight.clear();
  }

  /**
   * The TagSet of a value with `tags` stored now, as set() stores one; throws a TypeError or
   * RangeError for tags no value may carry. @internal (set, and the peer server's PUT)
   */
  stampTags(tags: readonly string[] | undefined): TagSet | undefined {
    return tags === undefined ? undefined : this.#guard.tags.stamp(checkTags(tags, 'tags'), this.#guard.tags.epoch);
  }

  /** Drops every key from this process's caches only (see clear()); loads running will not store. */
  forgetAll(): void {
    this.#guard.withdrawAll();
    this.#flight.clear();
    this.#localFlight.clear();
    this.#refreshBackoff.clear();
    this.#missing.clear();
    this.#mainCache.clear();
    this.#hot.clear();
  }

  /** Counters of the main cache (owned keys) and the hot cache (copies of others' keys). */
  cacheStats() {
    return { main: this.#mainCache.stats(), hot: this.#hot.stats() };
  }

  /** Stops retrying removes and renewing copies (the middleware's close()). */
  close(): void {
    this.#writes.close();
    this.#hot.close();
  }
}
