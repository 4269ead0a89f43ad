import { ByteView } from './byteview.js';
import { type LoadMessage, loadChannel } from './diagnostics.js';
import { BadKeyError, LoadTimeoutError, OwnerLoadError } from './errors.js';
import { Histogram } from './histogram.js';
import { LRU } from './lru.js';
import { resolveGroup } from './options.js';
import type { PeerPicker } from './peers.js';
import { Flight } from './singleflight.js';
import { emptyStats, type GroupStats } from './stats.js';
import type { Getter, GroupOptions } from './types.js';

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
  /** A few values owned by other peers, so hot keys stop costing a network hop. */
  readonly #hotCache: LRU;
  /** Merges concurrent gets of a key, covering the peer fetch and the local load. */
  readonly #flight = new Flight<ByteView>();
  /** Merges runs of the getter, whether started by this process or for a peer. */
  readonly #localFlight = new Flight<ByteView>();
  /** Getter runs that outlived loadTimeoutMs and still run, by key: at most one per key. */
  readonly #abandoned = new Map<string, Promise<unknown>>();
  #peers: PeerPicker | undefined;

  /** Checks `options` (a ConfigError names a bad one) and fills in the defaults. */
  constructor(name: string, options: GroupOptions) {
    const config = resolveGroup(name, options);
    this.name = name;
    this.#getter = config.getter;
    this.#loadTimeoutMs = config.loadTimeoutMs;
    this.#maxKeyLength = config.maxKeyLength;
    // One budget, as in groupcache: the hot cache's share comes out of maxBytes, not on top of it.
    const hotBytes = config.maxBytes > 0 ? Math.floor(config.maxBytes * config.hotCacheFraction) : 0;
    this.#mainCache = new LRU(config.maxBytes - hotBytes);
    this.#hotCache = new LRU(hotBytes);
  }

  /** Tells the group where its peers are. Once only: a second call throws. */
  registerPeers(picker: PeerPicker): void {
    if (this.#peers) throw new Error(`registerPeers called more than once for group "${this.name}"`);
    this.#peers = picker;
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
    this.stats.loads++;
    return this.#localFlight.do(key, () => this.#loadLocally(key));
  }

  /** Counters of the main cache (owned keys) and the hot cache (copies of others' keys). */
  cacheStats() {
    return { main: this.#mainCache.stats(), hot: this.#hotCache.stats() };
  }

  /** Drops `key` from this process's caches (other peers keep their copies). */
  forget(key: string): boolean {
    // Both: after a membership change a key can sit in either, or in both.
    const fromMain = this.#mainCache.remove(key);
    const fromHot = this.#hotCache.remove(key);
    return fromMain || fromHot;
  }

  #checkKey(key: unknown): asserts key is string {
    if (typeof key !== 'string') throw new BadKeyError(`key must be a string, got ${typeof key}`);
    if (key.length === 0) throw new BadKeyError('key must not be empty');
    if (key.length > this.#maxKeyLength) throw new BadKeyError(`key is ${key.length} characters, over the group's maxKeyLength of ${this.#maxKeyLength}`);
  }

  #lookupCache(key: string): ByteView | undefined {
    const value = this.#mainCache.get(key) ?? this.#hotCache.get(key);
    if (value) this.stats.cacheHits++;
    return value;
  }

  async #load(key: string): Promise<ByteView> {
    // A get that finished while we queued for the flight may have filled the cache.
    const cached = this.#lookupCache(key);
    if (cached) return cached;
    this.stats.loadsDeduped++;
    const peer = this.#peers?.pickPeer(key);
    if (peer) {
      try {
        const { value: bytes } = await peer.get({ group: this.name, key });
        const value = new ByteView(bytes, false);
        this.stats.peerLoads++;
        if (Math.random() < 0.1) this.#hotCache.add(key, value);
        return value;
      } catch (err) {
        this.stats.peerErrors++;
        // The owner ran the getter and it failed: running it again here would double the load
        // on a backend that is already failing.
        if (err instanceof OwnerLoadError) throw err;
      }
    }
    return this.#localFlight.do(key, () => this.#loadLocally(key));
  }

  async #loadLocally(key: string): Promise<ByteView> {
    let value: ByteView;
    const startedAt = performance.now();
    try {
      value = toByteView(await this.#runGetter(key), this.name, key);
    } catch (err) {
      this.#ran(key, startedAt, err);
      this.stats.localLoadErrs++;
      throw err;
    }
    this.#ran(key, startedAt);
    this.stats.localLoads++;
    this.#mainCache.add(key, value);
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
  #runGetter(key: string): Promise<unknown> {
    const abandoned = this.#abandoned.get(key);
    const controller = abandoned ? undefined : new AbortController();
    const running = abandoned ?? this.#startGetter(key, (controller as AbortController).signal);
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

  #startGetter(key: string, signal: AbortSignal): Promise<unknown> {
    const run = Promise.resolve().then(() => this.#getter(key, { signal }));
    run.catch(() => {}); // a getter that rejects after the deadline must not become an unhandled rejection
    return run;
  }
}

function toByteView(value: unknown, group: string, key: string): ByteView {
  // The getter's buffer is copied: the getter may reuse or change it after returning.
  if (typeof value === 'string') return new ByteView(value);
  let got: string;
  try {
    if (value instanceof Uint8Array) return new ByteView(value);
    got = value === null ? 'null' : typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value;
  } catch {
    got = 'an object whose properties throw when read'; // e.g. a Proxy: never let it throw from here
  }
  throw new TypeError(`getter for group "${group}" returned ${got} for key ${JSON.stringify(key)}; return a Buffer, Uint8Array or string`);
}
