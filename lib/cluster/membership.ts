import type { GetRequest, GetResponse, PeerGetter, PeerPicker } from '../cache/peers.js';
import { OwnerLoadError, PeerLeavingError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { Discovery, type SourceConfig } from './discovery.js';
import type { HttpPool } from './httppool.js';

/** Counters of membership at work. */
export interface MembershipStats {
  /** Gets a peer answered with "leaving", each sent on to the next owner or loaded locally at once. */
  leavingAnswers: number;
  /** Warm handoff: values the previous owner had (getter spared), and asks it could not answer. */
  handoffHits: number;
  handoffMisses: number;
}

/**
 * The groups' {@link PeerPicker}, over a pool whose peer list follows the deployment:
 * - a discovery source's answers become the pool's list (canonical, so every peer builds the
 *   same ring; self is added when the answer does not have it yet, so an empty or failed answer
 *   never leaves this peer without a ring), and a peer that cannot be reached makes it ask again;
 * - a peer that answers "leaving" (it drains before shutdown) leaves this pool's ring at once for
 *   `leavingMs`, and the get goes to the key's next owner — or is loaded here — with no wait;
 * - warm handoff: an owner missing a key asks the key's previous owner before running the getter.
 */
export class Membership implements PeerPicker {
  readonly pool: HttpPool;
  readonly discovery: Discovery | undefined;
  readonly stats: MembershipStats = { leavingAnswers: 0, handoffHits: 0, handoffMisses: 0 };
  readonly #logger: Logger;
  readonly #leavingMs: number;
  /** The pool's getters, wrapped to react to failures and "leaving" answers. */
  readonly #watched = new WeakMap<PeerGetter, PeerGetter>();
  #selfMissing = false;

  constructor(pool: HttpPool, source: SourceConfig | undefined, logger: Logger, leavingMs: number) {
    this.pool = pool;
    this.#logger = logger;
    this.#leavingMs = leavingMs;
    this.discovery = source && new Discovery(source, { onChange: (peers) => this.#apply(peers), logger });
  }

  pickPeer(key: string): PeerGetter | undefined {
    const getter = this.pool.pickPeer(key);
    if (!getter) return undefined;
    let watched = this.#watched.get(getter);
    if (!watched) {
      const peer = (getter as { peer?: string }).peer ?? '';
      watched = { get: (request) => getter.get(request).catch((err: unknown) => this.#failed(peer, request, err)) };
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

  async handoff(request: GetRequest): Promise<GetResponse | undefined> {
    const previous = this.pool.previousOwner(request.key);
    if (!previous) return undefined;
    const value = await previous.peek(request);
    if (value) this.stats.handoffHits++;
    else this.stats.handoffMisses++;
    return value;
  }

  /** Stops discovery (the pool is closed by its owner). */
  close(): void {
    this.discovery?.close();
  }

  /** A get to `peer` failed: on "leaving", ask the next owner once; else rethrow (the group loads locally). */
  #failed(peer: string, request: GetRequest, err: unknown): Promise<GetResponse> {
    if (err instanceof PeerLeavingError) {
      this.stats.leavingAnswers++;
      this.pool.markLeaving(peer, this.#leavingMs);
      this.discovery?.poke();
      const next = this.pool.pickPeer(request.key);
      // One more hop at most; the next owner answers itself (a peer never forwards a peer's get).
      if (next && next.peer !== peer) return next.get(request);
      throw err;
    }
    // The owner answered that its getter failed: it is alive, membership is fine.
    if (!(err instanceof OwnerLoadError)) this.discovery?.poke();
    throw err;
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
