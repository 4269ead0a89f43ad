import { Discovery, type SourceConfig } from './discovery.js';
import { OwnerLoadError } from './errors.js';
import type { HttpPool } from './httppool.js';
import type { Logger } from './logger.js';
import type { PeerGetter, PeerPicker } from './peers.js';

/**
 * Keeps a pool's peer list following a discovery source: each new answer (canonical, so every
 * peer builds the same ring from it) becomes the pool's list, with self added when the answer
 * does not have it yet — an empty or failed answer never leaves this peer without a ring. As
 * the groups' {@link PeerPicker}, it asks the source again when a peer cannot be reached.
 */
export class Membership implements PeerPicker {
  readonly pool: HttpPool;
  readonly discovery: Discovery | undefined;
  readonly #logger: Logger;
  /** Getters that poke discovery when they fail, one per pool getter. */
  readonly #watched = new WeakMap<PeerGetter, PeerGetter>();
  #selfMissing = false;

  constructor(pool: HttpPool, source: SourceConfig | undefined, logger: Logger) {
    this.pool = pool;
    this.#logger = logger;
    this.discovery = source && new Discovery(source, { onChange: (peers) => this.#apply(peers), logger });
  }

  pickPeer(key: string): PeerGetter | undefined {
    const getter = this.pool.pickPeer(key);
    if (!getter || !this.discovery) return getter;
    let watched = this.#watched.get(getter);
    if (!watched) {
      const discovery = this.discovery;
      const get = (...args: Parameters<PeerGetter['get']>) =>
        getter.get(...args).catch((err: unknown) => {
          // The owner answered that its getter failed: it is alive, membership is fine.
          if (!(err instanceof OwnerLoadError)) discovery.poke();
          throw err;
        });
      watched = { get } as PeerGetter;
      this.#watched.set(getter, watched);
    }
    return watched;
  }

  /** This peer's URL (for cluster-wide writes). */
  get self(): string {
    return this.pool.self;
  }

  /** The URL of `key`'s owner, self included. */
  ownerOf(key: string): string | undefined {
    return this.pool.ownerOf(key);
  }

  /** The client of every other peer, by URL (cluster-wide writes go to each). */
  getters(): ReadonlyMap<string, PeerGetter> {
    return this.pool.getters();
  }

  /** Stops discovery (the pool is closed by its owner). */
  close(): void {
    this.discovery?.close();
  }

  #apply(peers: string[]): void {
    const self = this.pool.self;
    const missing = !peers.includes(self);
    if (missing && !this.#selfMissing) {
      this.#logger.info?.(
        `geecache: this peer (${self}) is not in the discovery answer yet; it stays in its own ring, and the others add it once the answer lists it`,
      );
    }
    this.#selfMissing = missing;
    this.pool.set(...(missing ? [...peers, self].sort() : peers));
  }
}
