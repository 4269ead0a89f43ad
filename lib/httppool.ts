import type { RequestSigner } from './auth.js';
import { ByteBudget } from './bytebudget.js';
import { ConfigError } from './errors.js';
import { HttpGetter, type HttpGetterOptions } from './httpgetter.js';
import { checkPeers } from './options.js';
import type { PeerPicker } from './peers.js';
import { makeRing, type Ring } from './ring.js';
import type { RingOption } from './types.js';

/** What an {@link HttpPool} needs of the configuration. */
export interface HttpPoolOptions extends Omit<HttpGetterOptions, 'signer'> {
  readonly self: string;
  readonly peers: readonly string[];
  readonly ring: RingOption;
  /** undefined: a lone peer with no secret, which may not gain other peers. */
  readonly secret: string | false | undefined;
}

/**
 * The membership of the cluster, seen from one peer: the ring that assigns each key an owner,
 * and one {@link HttpGetter} per other peer. golang/groupcache's HTTPPool, as a {@link PeerPicker}
 * (the serving half is PeerServer).
 */
export class HttpPool implements PeerPicker {
  /** This peer's base URL. */
  readonly self: string;
  readonly #options: HttpPoolOptions;
  readonly #getterOptions: HttpGetterOptions;
  /** Set by set(), which the constructor calls. */
  #ring!: Ring;
  #getters = new Map<string, HttpGetter>();
  #closed = false;

  constructor(options: HttpPoolOptions, signer: RequestSigner | undefined) {
    this.self = options.self;
    this.#options = options;
    const { basePath, timeoutMs, maxResponseBytes, backoffMs, maxSockets, batch, logger } = options;
    // One budget for all peers' responses in flight: N peers cannot make this process hold N × maxResponseBytes.
    const budget = new ByteBudget(2 * maxResponseBytes);
    this.#getterOptions = { basePath, timeoutMs, maxResponseBytes, backoffMs, maxSockets, batch, signer, logger, budget };
    this.set(...options.peers);
  }

  /**
   * Replaces the peer list (self included), rebuilding the ring and the getters. Every peer
   * must be given the same list. Getters of peers that stay are kept, with their sockets.
   */
  set(...peers: string[]): void {
    const checked = checkPeers(peers, this.self);
    if (this.#options.secret === undefined && checked.length > 1) {
      throw new ConfigError('secret', 'is required once the pool has other peers: pass secret to geecache(), or secret: false on a private network');
    }
    const ring = makeRing(this.#options.ring);
    ring.add(...checked);
    const getters = new Map<string, HttpGetter>();
    for (const peer of checked) {
      if (peer !== this.self && !this.#closed) getters.set(peer, this.#getters.get(peer) ?? new HttpGetter(peer, this.#getterOptions));
    }
    for (const [peer, getter] of this.#getters) if (!getters.has(peer)) getter.close();
    this.#ring = ring;
    this.#getters = getters;
  }

  /** The current peers, self included. */
  peers(): string[] {
    return this.#ring.peers();
  }

  /** The client of each other peer, by URL: their monitors hold requests, errors and latency. */
  getters(): ReadonlyMap<string, HttpGetter> {
    return this.#getters;
  }

  /** The owner of `key` on this pool's ring. */
  ownerOf(key: string): string | undefined {
    return this.#ring.get(key);
  }

  pickPeer(key: string): HttpGetter | undefined {
    // After close() no request leaves: every key is this process's own (cache, else getter).
    if (this.#closed) return undefined;
    const owner = this.#ring.get(key);
    return owner === undefined || owner === this.self ? undefined : this.#getters.get(owner);
  }

  /** Closes every peer connection; from now on no get asks a peer (each loads locally). */
  close(): void {
    this.#closed = true;
    for (const getter of this.#getters.values()) getter.close();
  }
}
