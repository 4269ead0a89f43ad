/**
 * membership.ts keeps the pool's peer list following the deployment: a discovery source's
 * answers become the pool's list, and a peer that cannot be reached (or answers "leaving") makes
 * the source look again. Gets do not pass through here: the pool is the groups' PeerPicker.
 */

import type { Logger } from '../common/logger.js';
import { Discovery, type SourceConfig } from './discovery.js';
import type { HttpPool } from './httppool.js';

/**
 * A discovery source feeding an {@link HttpPool}. Answers are canonical, so every peer builds the
 * same ring; self is added when an answer does not have it yet, so an empty or failed answer never
 * leaves this peer without a ring.
 */
export class Membership {
  readonly pool: HttpPool;
  readonly discovery: Discovery | undefined;
  readonly #logger: Logger;
  #selfMissing = false;

  constructor(pool: HttpPool, source: SourceConfig | undefined, logger: Logger) {
    this.pool = pool;
    this.#logger = logger;
    const discovery = source && new Discovery(source, { onChange: (peers) => this.#apply(peers), logger });
    this.discovery = discovery;
    if (discovery) pool.onPeerTrouble = () => discovery.poke();
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
