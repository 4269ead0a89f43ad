import { LRUCache } from 'lru-cache';
import { describe } from '../common/describe.js';
import { type LoadMessage, loadChannel } from '../common/diagnostics.js';
import { BadKeyError, isInstance, LoadTimeoutError, messageOf, NotFoundError, OwnerLoadError } from '../common/errors.js';
import { Histogram } from '../common/histogram.js';
import type { Logger } from '../common/logger.js';
import { ByteView } from './byteview.js';
import { CoarseClock, checkTtl, Freshness, LoadGuard, RefreshBackoff } from './freshness.js';
import { type Bytes, type Getter, type GroupConfig, type GroupOptions, resolveGroup } from './groupoptions.js';
import { type InvalidationReport, Invalidator, type WriteTargets } from './invalidation.js';
import { CacheBudget, LRU } from './lru.js';
import type { PeerPicker } from './peers.js';
import { HotCopy, RenewalQueue, Renewals } from './renewal.js';
import { Flight } from './singleflight.js';
import { emptyStats, type GroupStats } from './stats.js';

/** Options of {@link Group.set}. */
export interface SetOptions {
  /** How long the value stays fresh, in milliseconds; default the group's `ttlMs` (0: forever). */
  ttlMs?: number;
}

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
  readonly #getter: Getter;
  readonly #loadTimeoutMs: number;
  readonly #maxKeyLength: number;
  /** Values this process owns. */
  readonly #mainCache: LRU;
  /** A few values owned by other peers, so hot keys stop costing a network hop. Holds only {@link HotCopy}s. */
  readonly #hotCache: LRU;
  /** Hot copies being fetched again ahead of their expiry (see #renew). */
  readonly #renewals = new Renewals();
  /** Copies read before their renew point, renewed when they reach it (if still the key's copy: the one kept with that point). */
  readonly #renewQueue = new RenewalQueue((key, renewAt) => {
    const copy = this.#hotCache.peek(key) as HotCopy | undefined;
    if (copy !== undefined && copy.renewAt === renewAt && copy.read) this.#renew(key, copy);
  });
  /** Merges concurrent gets of a key, covering the peer fetch and the local load. */
  readonly #flight = new Flight<ByteView>();
  /** Merges runs of the getter, whether started by this process or for a peer. */
  readonly #localFlight = new Flight<ByteView>();
  /** Getter runs that outlived loadTimeoutMs and still run, by key: at most one per key. */
  readonly #abandoned = new Map<string, Promise<unknown>>();
  /** NotFoundErrors' messages, kept for `notFoundTtlMs` (only when that is on). */
  readonly #missing: LRU;
  readonly #fresh: Freshness;
  readonly #guard = new LoadGuard();
  readonly #refreshBackoff = new RefreshBackoff();
  readonly #clock = new CoarseClock();
  readonly #invalidator = new Invalidator(
    () => this.#targets(),
    () => this.#logger,
  );
  #logger: Logger | undefined;
  #peers: PeerPicker | undefined;
  /** Recent getter errors by key, answered to peers for PEER_FAILURE_BACKOFF_MS (bounded). */
  readonly #failures = new LRUCache<string, { error: unknown }>({ max: MAX_REMEMBERED_FAILURES, ttl: PEER_FAILURE_BACKOFF_MS });

  /**
   * Checks `options` (a ConfigError names a bad one) and fills in the defaults; options geecache()
   * already checked (a GroupConfig) are taken as they are.
   */
  constructor(name: string, options: GroupOptions | GroupConfig) {
    const config = resolveGroup(name, options);
    this.name = name;
    this.#getter = config.getter;
    this.#loadTimeoutMs = config.loadTimeoutMs;
    this.#maxKeyLength = config.maxKeyLength;
    // One budget, as in groupcache: the hot cache's share comes out of maxBytes, not on top of it,
    // and each cache may fill what the others leave unused (CacheBudget).
    const hotBytes = config.maxBytes > 0 ? Math.floor(config.maxBytes * config.hotCacheFraction) : 0;
    // Cached not-founds take 1/16 of the rest, only when they are on.
    const missingBytes = config.maxBytes > 0 && config.notFoundTtlMs > 0 ? Math.floor((config.maxBytes - hotBytes) / 16) : 0;
    const budget = new CacheBudget(config.maxBytes);
    this.#mainCache = budget.cache(config.maxBytes - hotBytes - missingBytes);
    this.#hotCache = budget.cache(hotBytes);
    this.#missing = budget.cache(missingBytes);
    this.#fresh = new Freshness(config);
  }

  /** Tells the group where its peers are (and where warnings about missed removes go). Once only: a second call throws. */
  registerPeers(picker: PeerPicker, logger?: Logger): void {
    if (this.#peers) throw new Error(`registerPeers called more than once for group "${this.name}"`);
    this.#peers = picker;
    this.#logger = logger;
  }

  /** The value of `key`: cached, else from its owner peer, else from the getter. */
  get(key: string): Promise<ByteView> {
    // Not an async function: a hit returns an already-resolved promise without the async
    // machinery, the largest part of a hit's cost (BENCHMARKS.md, row 1).
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

  /** Counters of the main cache (owned keys) and the hot cache (copies of others' keys). */
  cacheStats() {
    return { main: this.#mainCache.stats(), hot: this.#hotCache.stats() };
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
    const fromHot = this.#hotCache.remove(key);
    this.#failures.delete(key);
    return fromMain || fromHot;
  }

  /** Drops every key from this process's caches only (see clear()); loads running will not store. */
  forgetAll(): void {
    this.#guard.withdrawAll();
    this.#flight.clear();
    this.#localFlight.clear();
    this.#refreshBackoff.clear();
    this.#missing.clear();
    this.#mainCache.clear();
    this.#hotCache.clear();
    this.#renewQueue.clear();
  }

  /**
   * Removes `key` from the whole cluster: its owner drops it first, then every other peer drops
   * its copy (`DELETE {basePath}{group}/{key}`). Resolves once every peer answered or failed;
   * peers that could not be reached get it again every second until they answer or leave the ring.
   */
  async remove(key: string): Promise<InvalidationReport> {
    this.#checkKey(key);
    this.forget(key);
    return this.#invalidator.broadcast({ group: this.name, key }, { first: this.#targets()?.ownerOf(key) });
  }

  /**
   * Stores `value` for `key` at its owner (`PUT`, a SetRequest), then drops every other peer's
   * copy. Rejects, storing nothing, for a value that is not a Buffer, Uint8Array or string, or
   * that the group could never hold (over its share of `maxBytes`). If the owner cannot store it
   * (down, stuck past `timeoutMs`), the key is removed everywhere instead and the call rejects.
   */
  async set(key: string, value: Bytes, options: SetOptions = {}): Promise<InvalidationReport> {
    this.#checkKey(key);
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new TypeError(`set: value for key ${JSON.stringify(key)} of group "${this.name}" is ${describe(value)}; pass a Buffer, Uint8Array or string`);
    }
    const ttlMs = options?.ttlMs === undefined ? undefined : checkTtl(options.ttlMs, 'set: ttlMs');
    const view = new ByteView(value, true, this.#fresh.expiryOf(ttlMs));
    if (!this.#mainCache.fits(key, view)) {
      throw new RangeError(
        `set: key ${JSON.stringify(key)} + value are ${LRU.cost(key, view)} bytes, more than group "${this.name}" caches per process (${this.#mainCache.maxBytes} of maxBytes); nothing was stored`,
      );
    }
    const targets = this.#targets();
    const owner = targets?.ownerOf(key);
    const request = { group: this.name, key };
    if (!targets || owner === undefined || owner === targets.self) {
      this.setLocally(key, view);
      return this.#invalidator.broadcast(request);
    }
    this.forget(key);
    try {
      const getter = targets.getters().get(owner);
      if (!getter?.set) throw new Error('it takes no writes');
      await getter.set({ ...request, value: ByteView.unwrap(view), expiresAt: view.expiresAt });
    } catch (err) {
      // Whatever it held before must go: it gets the remove until it answers.
      this.#invalidator.queue(owner, request);
      await this.#invalidator.broadcast(request, { skip: owner });
      throw new Error(`set: the owner of key ${JSON.stringify(key)}, ${owner}, did not store it (${messageOf(err)}); the key was removed instead`, {
        cause: err,
      });
    }
    const report = await this.#invalidator.broadcast(request, { skip: owner });
    report.acknowledged.push(owner);
    return report;
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
   * Empties the group on every peer, for deploys: two rounds, so a copy another peer fetched from
   * an owner that had not cleared yet is dropped by the second.
   */
  async clear(): Promise<InvalidationReport> {
    const request = { group: this.name };
    this.forgetAll();
    const first = await this.#invalidator.broadcast(request);
    this.forgetAll();
    const second = await this.#invalidator.broadcast(request);
    const pending = [...new Set([...first.pending, ...second.pending])];
    const refused = [...new Set([...first.refused, ...second.refused])];
    return { acknowledged: second.acknowledged.filter((p) => !pending.includes(p) && !refused.includes(p)), pending, refused };
  }

  /** Removes not yet acknowledged by a peer, by peer URL. */
  pendingRemoves(): Map<string, number> {
    return this.#invalidator.pending();
  }

  /** Stops retrying removes (the middleware's close()). */
  close(): void {
    this.#invalidator.close();
    this.#renewQueue.clear();
  }

  /** The cluster as cluster-wide writes see it, when the picker can tell (HttpPool and Membership can). */
  #targets(): WriteTargets | undefined {
    const picker = this.#peers;
    if (!picker || picker.self === undefined || !picker.ownerOf || !picker.getters) return undefined;
    return { self: picker.self, ownerOf: (key) => picker.ownerOf?.(key), getters: () => picker.getters?.() ?? new Map() };
  }

  #checkKey(key: unknown): asserts key is string {
    if (typeof key !== 'string') throw new BadKeyError(`key must be a string, got ${typeof key}`);
    if (key.length === 0) throw new BadKeyError('key must not be empty');
    if (key.length > this.#maxKeyLength) throw new BadKeyError(`key is ${key.length} characters, over the group's maxKeyLength of ${this.#maxKeyLength}`);
  }

  #lookupCache(key: string): ByteView | undefined {
    const main = this.#mainCache.get(key);
    if (main !== undefined) {
      this.stats.cacheHits++;
      // Only an owner keeps entries past their expiry (staleMs): serve it, refresh it once.
      if (main.expiresAt !== undefined && this.#fresh.config.staleMs > 0 && main.expiresAt <= this.#clock.now()) this.#revalidate(key);
      return main;
    }
    const hot = this.#hotCache.get(key) as HotCopy | undefined;
    if (hot !== undefined) {
      this.stats.cacheHits++;
      // Past the middle of its life, a read copy is fetched again in the background (lib/cache/renewal.ts);
      // before it, the read is noted, and the copy is renewed when it gets there.
      if (hot.renewAt <= this.#clock.now()) this.#renew(key, hot);
      else hot.read = true;
    }
    return hot;
  }

  /**
   * Renews a hot copy that is read past its renew point, off the request path: the owner is asked
   * again (a get the client may hold back for a big batch) and its answer replaces the copy with
   * a new hotTtlMs — a refetch, not a revalidation, so the staleness bound stays "hotTtlMs after
   * the owner sent it". Once per copy and key at a time; a remove, set or clear meanwhile wins
   * (LoadGuard); a failure leaves the copy to expire (the peer monitor reports peer failures).
   */
  #renew(key: string, copy: HotCopy): void {
    copy.renewAt = Number.POSITIVE_INFINITY;
    const peer = this.#peers?.pickPeer(key);
    if (!peer || !this.#renewals.begin(key)) return;
    const ticket = this.#guard.begin(key);
    const done = () => {
      this.#guard.end(ticket);
      this.#renewals.end(key);
    };
    let fetched: Promise<{ value: Uint8Array; expiresAt?: number }>;
    try {
      fetched = peer.get({ group: this.name, key, waitMs: this.#loadTimeoutMs, renew: true });
    } catch {
      done(); // a PeerGetter that throws instead of rejecting: as a failed renewal
      return;
    }
    fetched.then(({ value: bytes, expiresAt }) => {
      done();
      if (!ticket.current) return;
      const value = new HotCopy(bytes, expiresAt);
      // The copy it replaces held the room, unless it ran out or was evicted meanwhile: then as any fetch.
      if (this.#hotCache.has(key) || this.#hotCache.hasRoomFor(key, value)) {
        this.stats.hotRenewals++;
        this.#keepCopy(this.#hotCache, key, value);
      }
    }, done);
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
   * Keeps a copy of a value this peer does not own, for no longer than {@link Freshness.copyTtl};
   * a hot copy also learns when a read should renew it.
   */
  #keepCopy(cache: LRU, key: string, value: ByteView): void {
    const now = Date.now();
    const ttl = this.#fresh.copyTtl(value.expiresAt, now);
    if (ttl !== undefined && ttl <= 0) return;
    if (value instanceof HotCopy) value.keptFor(ttl, this.#fresh.config.hotTtlMs, now);
    if (cache.add(key, value, ttl) && value instanceof HotCopy && value.renewAt !== Number.POSITIVE_INFINITY) this.#renewQueue.track(key, value.renewAt);
  }

  async #load(key: string): Promise<ByteView> {
    // A get that finished while we queued for the flight may have filled the cache.
    const cached = this.#lookupCache(key);
    if (cached) return cached;
    this.stats.loadsDeduped++;
    const peer = this.#peers?.pickPeer(key);
    if (peer) {
      const ticket = this.#guard.begin(key);
      try {
        const { value: bytes, expiresAt } = await peer.get({ group: this.name, key, waitMs: this.#loadTimeoutMs });
        const value = new HotCopy(bytes, expiresAt);
        this.stats.peerLoads++;
        // Hot-cache fill policy: every fetched value while the hot cache has room (it then
        // displaces nothing), else 1 in 10, as groupcache admits (so one scan cannot flush it).
        if (ticket.current && (this.#hotCache.hasRoomFor(key, value) || Math.random() < 0.1)) this.#keepCopy(this.#hotCache, key, value);
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
    return this.#localFlight.do(key, () => this.#loadLocally(key, peer === undefined));
  }

  /**
   * Runs the getter and caches its value: in the main cache until it expires (+ staleMs) when
   * this peer owns the key, else as a copy capped by hotTtlMs (the owner could not be asked).
   * Stores nothing if a remove, set or clear of the key happened meanwhile.
   */
  async #loadLocally(key: string, owned: boolean, handoff = owned): Promise<ByteView> {
    const missing = this.#missing.get(key);
    if (missing !== undefined) throw new NotFoundError(missing.toString());
    if (handoff) {
      const handed = await this.#handoff(key);
      if (handed) return handed;
    }
    const ticket = this.#guard.begin(key);
    let ttlMs: number | undefined;
    const setTtl = (ms: number) => {
      ttlMs = checkTtl(ms, 'setTtl(ms): ms');
    };
    let value: ByteView;
    const startedAt = performance.now();
    try {
      const got = await this.#runGetter(key, setTtl);
      value = toByteView(got, this.name, key, this.#fresh.expiryOf(ttlMs));
    } catch (err) {
      this.#guard.end(ticket);
      this.#ran(key, startedAt, err);
      this.stats.localLoadErrs++;
      const notFoundTtl = this.#fresh.config.notFoundTtlMs;
      const notFound = isInstance(err, NotFoundError);
      if (notFound && notFoundTtl > 0 && owned && ticket.current) this.#missing.add(key, new ByteView((err as NotFoundError).message), notFoundTtl);
      // A not-found is remembered only as notFoundTtlMs says; any other failure briefly, for peers.
      if (!notFound) this.#failures.set(key, { error: err });
      throw err;
    }
    this.#guard.end(ticket);
    this.#ran(key, startedAt);
    this.#failures.delete(key);
    this.stats.localLoads++;
    if (ticket.current) {
      if (owned) {
        const ttl = this.#fresh.mainTtl(value.expiresAt);
        if (ttl === undefined || ttl > 0) this.#mainCache.add(key, value, ttl);
      } else this.#keepCopy(this.#mainCache, key, value);
    }
    return value;
  }

  /**
   * Warm handoff: this peer owns `key` but lacks it; if membership changed lately, the key's
   * previous owner may still have it cached. Taken from there (one hop, cache only) and stored
   * as owned, it spares the getter — and the database — a reload. Undefined: load as usual.
   */
  async #handoff(key: string): Promise<ByteView | undefined> {
    if (!this.#peers?.handoff) return undefined;
    const ticket = this.#guard.begin(key);
    const handed = await this.#peers.handoff({ group: this.name, key });
    this.#guard.end(ticket);
    if (!handed) return undefined;
    const value = new ByteView(handed.value, false, handed.expiresAt);
    const ttl = this.#fresh.mainTtl(value.expiresAt);
    if (ttl !== undefined && ttl <= 0) return undefined;
    if (ticket.current) this.#mainCache.add(key, value, ttl);
    return value;
  }

  /** Records one getter run: the latency histogram, and the diagnostics channel if anyone listens. */
  #ran(key: string, startedAt: number, error?: unknown): void {
    const ms = performance.now() - startedAt;
    this.getterLatency.observe(ms / 1000);
    if (loadChannel.hasSubscribers)
      loadChannel.publish({ group: this.name, key, durationMs: ms, ...(error === undefined ? {} : { error }) } satisfies LoadMessage);
  }

  /**
   * Runs the getter with a signal that aborts at the deadline; never waits past it. A getter that
   * ignores its signal keeps running after the deadline: that run is remembered as abandoned
   * until it settles, and the gets of its key meanwhile wait for it (each with its own deadline)
   * instead of starting another, so a key never has more than one abandoned run.
   */
  #runGetter(key: string, setTtl: (ms: number) => void): Promise<unknown> {
    const abandoned = this.#abandoned.get(key);
    const controller = abandoned ? undefined : new AbortController();
    const running = abandoned ?? this.#startGetter(key, (controller as AbortController).signal, setTtl);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new LoadTimeoutError(
          `getter for group "${this.name}" did not finish within loadTimeoutMs (${this.#loadTimeoutMs} ms) for key ${JSON.stringify(key)}` +
            (abandoned ? ': this get waited for an earlier run of it that timed out and is still running (no new run starts until it settles)' : ''),
        );
        reject(err);
        if (!controller) return;
        controller.abort(err);
        this.#abandoned.set(key, running);
        const settled = () => {
          if (this.#abandoned.get(key) === running) this.#abandoned.delete(key);
        };
        running.then(settled, settled);
      }, this.#loadTimeoutMs);
    });
    return Promise.race([running, deadline]).finally(() => clearTimeout(timer));
  }

  /** A get that joins an abandoned run gets its value with the group's TTL: setTtl there reaches the run that timed out. */
  #startGetter(key: string, signal: AbortSignal, setTtl: (ms: number) => void): Promise<unknown> {
    const run = Promise.resolve().then(() => this.#getter(key, { signal, setTtl }));
    run.catch(() => {}); // a getter that rejects after the deadline must not become an unhandled rejection
    return run;
  }
}

function toByteView(value: unknown, group: string, key: string, expiresAt: number | undefined): ByteView {
  // The getter's buffer is copied: the getter may reuse or change it after returning.
  if (typeof value === 'string') return new ByteView(value, true, expiresAt);
  let got: string;
  try {
    if (value instanceof Uint8Array) return new ByteView(value, true, expiresAt);
    got = describe(value);
  } catch {
    got = 'an object whose properties throw when read'; // e.g. a Proxy: never let it throw from here
  }
  throw new TypeError(`getter for group "${group}" returned ${got} for key ${JSON.stringify(key)}; return a Buffer, Uint8Array or string`);
}
