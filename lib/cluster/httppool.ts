/**
 * httppool.ts is what a group asks for a key's owner: the ring over the cluster's peers, one
 * HttpGetter per other peer (golang/groupcache's HTTPPool), and what a get does when membership
 * is in motion: a peer that answers "leaving" leaves the ring at once and the get goes to the
 * key's next owner, and a key's new owner asks its previous owner before running the getter
 * (warm handoff). A get's path through the cluster is group -> this file -> client/httpgetter.ts.
 */

import type { GetRequest, GetResponse, PeerGetter, PeerPicker } from '../cache/peers.js';
import { ByteBudget } from '../client/bodybudget.js';
import { HttpGetter, type HttpGetterOptions } from '../client/httpgetter.js';
import { WriteStreams } from '../client/writestreams.js';
import { checkPeers } from '../common/checks.js';
import { ConfigError, OwnerLoadError, PeerLeavingError } from '../common/errors.js';
import type { RequestSigner } from '../protocol/auth.js';
import { makeRing } from '../ring/ring.js';
import type { Ring, RingOption } from '../ring/types.js';
import { membershipHash } from './agreement.js';

/** Counters of membership at work. */
export interface MembershipStats {
  /** Gets a peer answered with "leaving", each sent on to the next owner or loaded locally at once. */
  leavingAnswers: number;
  /** Warm handoff: values the previous owner had (getter spared), and asks it could not answer. */
  handoffHits: number;
  handoffMisses: number;
}

/** What {@link HttpPool.pickPeer} hands a group: a peer's getter, named by the peer's URL. */
export type PickedGetter = PeerGetter & { readonly peer: string };

/** What an {@link HttpPool} needs of the configuration. */
export interface HttpPoolOptions extends Omit<HttpGetterOptions, 'signer'> {
  readonly self: string;
  readonly peers: readonly string[];
  readonly ring: RingOption;
  /** undefined: a lone peer with no secret, which may not gain other peers. */
  readonly secret: string | false | undefined;
  /** How long after a membership change a key's new owner asks its previous owner first (0: never). */
  readonly handoffMs: number;
}

/**
 * The membership of the cluster, seen from one peer: the ring that assigns each key an owner,
 * and one {@link HttpGetter} per other peer. golang/groupcache's HTTPPool, as the groups'
 * {@link PeerPicker} (the serving half is server/peerserver.ts).
 */
export class HttpPool implements PeerPicker {
  /** This peer's base URL. */
  readonly self: string;
  readonly stats: MembershipStats = { leavingAnswers: 0, handoffHits: 0, handoffMisses: 0 };
  /**
   * Called when a peer could not be asked or answered "leaving": membership may have changed
   * (a discovery source then looks again; see cluster/membership.ts).
   */
  onPeerTrouble: (() => void) | undefined;
  readonly #options: HttpPoolOptions;
  readonly #getterOptions: HttpGetterOptions;
  /** Set by set(), which the constructor calls. */
  #ring!: Ring;
  /** The ring before the last membership change, and when it changed (warm handoff). */
  #previous: { ring: Ring; until: number } | undefined;
  /** Lets the previous ring go once handoffMs passed (a table ring holds megabytes). */
  #previousTimer: NodeJS.Timeout | undefined;
  #hash = '';
  /** The list as given to set(); the ring is this minus the peers that are leaving. */
  #listed: string[] = [];
  /** Each listed peer's origin: a peer already checked is not parsed again by the next set(). */
  #origins = new Map<string, string>();
  /** Peers that answered "leaving", until when they stay out of the ring. */
  readonly #leaving = new Map<string, number>();
  #leavingTimer: NodeJS.Timeout | undefined;
  #getters = new Map<string, HttpGetter>();
  /** What getters() answers, until the next membership change. */
  #members: ReadonlyMap<string, HttpGetter> | undefined;
  /** What pickPeer hands out: each getter, with a get that reacts to "leaving" and to failures (see #failed). */
  #pickable = new Map<string, PickedGetter>();
  #closed = false;

  constructor(options: HttpPoolOptions, signer: RequestSigner | undefined) {
    this.self = options.self;
    this.#options = options;
    const { basePath, timeoutMs, maxResponseBytes, backoffMs, maxSockets, batch, logger, transport, tls } = options;
    // One budget for all peers' responses in flight: N peers cannot make this process hold N × maxResponseBytes.
    const budget = new ByteBudget(2 * maxResponseBytes);
    this.#getterOptions = {
      basePath,
      timeoutMs,
      maxResponseBytes,
      backoffMs,
      maxSockets,
      batch,
      signer,
      logger,
      budget,
      transport,
      tls,
      ringHash: () => this.#hash,
      // Sequence numbers of writes, by peer: kept across a peer's clients (it may leave and come back).
      streams: new WriteStreams(),
    };
    this.set(...options.peers);
  }

  /**
   * Replaces the peer list (self included), rebuilding the ring and the getters. Every peer
   * must be given the same list. Getters of peers that stay are kept, with their sockets.
   */
  set(...peers: string[]): void {
    const checked = checkPeers(peers, this.self, this.#origins);
    if (this.#options.secret === undefined && checked.length > 1) {
      throw new ConfigError('secret', 'is required once the pool has other peers: pass secret to geecache(), or secret: false on a private network');
    }
    this.#listed = checked;
    this.#origins = new Map(checked.map((p) => [p, this.#origins.get(p) ?? new URL(p).origin]));
    this.#rebuild();
  }

  /**
   * Takes a peer that answered "leaving" out of this pool's ring for `ms` (its keys go to their
   * next owners at once), then puts it back if it is still listed: a restarted peer rejoins.
   */
  markLeaving(peer: string, ms: number): void {
    if (peer === this.self || !this.#listed.includes(peer)) return;
    this.#leaving.set(peer, Date.now() + ms);
    this.#rebuild();
    clearTimeout(this.#leavingTimer);
    this.#leavingTimer = setTimeout(() => this.#rebuild(), ms + 1);
    this.#leavingTimer.unref();
  }

  /** The ring from the listed peers minus those leaving; remembers the previous ring for handoff. */
  #rebuild(): void {
    const now = Date.now();
    for (const [peer, until] of this.#leaving) if (until <= now) this.#leaving.delete(peer);
    const members = this.#listed.filter((p) => p === this.self || !this.#leaving.has(p));
    if (this.#ring && members.join('\n') === this.#ring.peers().join('\n')) return;
    const hash = membershipHash(members);
    // A peer out of the ring is sent no writes: if some are made meanwhile and it comes back, its stream of writes says it missed them.
    const staying = new Set(members);
    const before = new Set(this.#ring?.peers());
    for (const peer of before) if (!staying.has(peer)) this.#getterOptions.streams?.left(peer);
    for (const peer of members) if (!before.has(peer)) this.#getterOptions.streams?.back(peer);
    const ring = makeRing(this.#options.ring);
    ring.add(...members);
    // A peer that was alone (started with peers: [self], or waiting for discovery's first
    // answer) has just joined the others: the keys it owns now were theirs, so their ring stands
    // in for the previous one. At construction there is no previous ring.
    const alone = this.#ring?.peers().every((p) => p === this.self);
    const previous = alone
      ? ringOf(
          this.#options.ring,
          members.filter((p) => p !== this.self),
        )
      : this.#ring;
    this.#previous = previous && this.#options.handoffMs > 0 ? { ring: previous, until: now + this.#options.handoffMs } : undefined;
    clearTimeout(this.#previousTimer);
    if (this.#previous) {
      this.#previousTimer = setTimeout(() => {
        this.#previous = undefined;
      }, this.#options.handoffMs);
      this.#previousTimer.unref();
    }
    // Getters for every member and every previous member (handoff asks the latter).
    const wanted = new Set([...members, ...(this.#previous?.ring.peers() ?? [])]);
    wanted.delete(this.self);
    const getters = new Map<string, HttpGetter>();
    for (const peer of wanted) if (!this.#closed) getters.set(peer, this.#getters.get(peer) ?? new HttpGetter(peer, this.#getterOptions));
    for (const [peer, getter] of this.#getters) if (!getters.has(peer)) getter.close();
    const pickable = new Map<string, PickedGetter>();
    for (const [peer, getter] of getters) pickable.set(peer, this.#pickable.get(peer) ?? this.#pickableOf(peer, getter));
    this.#ring = ring;
    this.#hash = hash;
    this.#getters = getters;
    this.#members = undefined;
    this.#pickable = pickable;
  }

  /** `getter`, with a get that reacts to "leaving" answers and failures (see #failed). */
  #pickableOf(peer: string, getter: HttpGetter): PickedGetter {
    return { peer, get: (request) => getter.get(request).catch((err: unknown) => this.#failed(peer, request, err)) };
  }

  /**
   * A get to `peer` failed. On "leaving", the peer leaves this pool's ring for `leavingMs` and the
   * get goes to the key's next owner, once (that owner answers itself: a peer never forwards a
   * peer's get); else the error goes to the group, which loads locally.
   */
  #failed(peer: string, request: GetRequest, err: unknown): Promise<GetResponse> {
    if (err instanceof PeerLeavingError) {
      this.stats.leavingAnswers++;
      // At least a second: a peer that is leaving is not asked again while it drains.
      this.markLeaving(peer, Math.max(this.#options.backoffMs, 1_000));
      this.onPeerTrouble?.();
      const next = this.#ring.get(request.key);
      const getter = next === undefined || next === this.self || next === peer || this.#closed ? undefined : this.#getters.get(next);
      if (getter) return getter.get(request);
      throw err;
    }
    // The owner answered that its getter failed: it is alive, membership is fine.
    if (!(err instanceof OwnerLoadError)) this.onPeerTrouble?.();
    throw err;
  }

  /** Digest of the current membership, sent to peers on every request (see RingAgreement). */
  hash(): string {
    return this.#hash;
  }

  /**
   * Warm handoff: the value as `request.key`'s owner before the last membership change has it
   * cached, when that change was less than `handoffMs` ago and the owner was another peer; else
   * undefined. One hop, cache only (a peek). Never rejects.
   */
  async handoff(request: GetRequest): Promise<GetResponse | undefined> {
    const previous = this.#previous;
    if (!previous || Date.now() > previous.until) return undefined;
    const owner = previous.ring.get(request.key);
    const getter = owner === undefined || owner === this.self ? undefined : this.#getters.get(owner);
    if (!getter) return undefined;
    const value = await getter.peek(request);
    if (value) this.stats.handoffHits++;
    else this.stats.handoffMisses++;
    return value;
  }

  /** The current peers, self included. */
  peers(): string[] {
    return this.#ring.peers();
  }

  /** The client of each other peer, by URL: their monitors hold requests, errors and latency. */
  getters(): ReadonlyMap<string, HttpGetter> {
    // Made once per membership: every cluster-wide write asks for it.
    if (this.#members) return this.#members;
    const members = new Set(this.#ring.peers());
    this.#members = new Map([...this.#getters].filter(([peer]) => members.has(peer)));
    return this.#members;
  }

  /** A cluster-wide write was made here: a peer out of the ring misses it, and its stream of writes will say so. */
  wrote(): void {
    this.#getterOptions.streams?.made();
  }

  /** The owner of `key` on this pool's ring. */
  ownerOf(key: string): string | undefined {
    return this.#ring.get(key);
  }

  pickPeer(key: string): PickedGetter | undefined {
    // After close() no request leaves: every key is this process's own (cache, else getter).
    if (this.#closed) return undefined;
    const owner = this.#ring.get(key);
    return owner === undefined || owner === this.self ? undefined : this.#pickable.get(owner);
  }

  /** Closes every peer connection; from now on no get asks a peer (each loads locally). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#previousTimer);
    clearTimeout(this.#leavingTimer);
    for (const getter of this.#getters.values()) getter.close();
  }
}

function ringOf(option: RingOption, peers: string[]): Ring | undefined {
  if (peers.length === 0) return undefined;
  const ring = makeRing(option);
  ring.add(...peers);
  return ring;
}
