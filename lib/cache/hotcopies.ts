/**
 * A group's hot cache: copies of values other peers own, kept so that hot keys stop costing a
 * network hop, each for at most hotTtlMs (Freshness.copyTtl), and fetched again from the owner in
 * the background once a copy that is read passes its renew point (renewal.ts); and the warm
 * handoff of a value from its key's previous owner after a membership change.
 */
import { ByteView } from './byteview.js';
import type { CoarseClock, Freshness, LoadGuard, LoadTicket } from './freshness.js';
import type { LRU } from './lru.js';
import type { GetResponse, PeerGetter, PeerPicker } from './peers.js';
import { HotCopy, RenewalQueue, Renewals } from './renewal.js';
import type { GroupStats } from './stats.js';
import { checkTags, type TagSet } from './tags.js';

/** What the hot cache needs of its group. */
export interface HotCopiesOptions {
  readonly group: string;
  /** The LRU the copies live in (the hot cache's share of the group's budget). */
  readonly cache: LRU;
  readonly fresh: Freshness;
  /** The group's clock for hits, read at most once a millisecond. */
  readonly clock: CoarseClock;
  /** The group's load tickets: a remove, set, clear or tag invalidation during a renewal wins over it. */
  readonly guard: LoadGuard;
  /** The group's counters (hotRenewals). */
  readonly stats: GroupStats;
  /** How long a renewal waits for the owner's load. */
  readonly loadTimeoutMs: number;
  /** The client of `key`'s owner, when that is another peer. */
  ownerOf(key: string): PeerGetter | undefined;
}

/** The hot cache of one group. */
export class HotCopies {
  readonly #options: HotCopiesOptions;
  readonly #cache: LRU;
  /** Copies being fetched again ahead of their expiry (see #renew). */
  readonly #renewals = new Renewals();
  /** Copies read before their renew point, renewed when they reach it (if still the key's copy: the one kept with that point). */
  readonly #queue = new RenewalQueue((key, renewAt) => {
    const copy = this.#cache.peek(key) as HotCopy | undefined;
    if (copy !== undefined && copy.renewAt === renewAt && copy.read) this.#renew(key, copy);
  });

  constructor(options: HotCopiesOptions) {
    this.#options = options;
    this.#cache = options.cache;
  }

  /**
   * The copy of `key`, if one is kept. Past the middle of its life, a copy read is fetched again
   * in the background; before it, the read is noted, and the copy is renewed when it gets there.
   */
  get(key: string): HotCopy | undefined {
    const hot = this.#cache.get(key) as HotCopy | undefined;
    if (hot?.tagged !== undefined && !this.#options.guard.tags.fresh(hot.tagged)) {
      this.#cache.remove(key); // one of its tags was invalidated since it was fetched
      return undefined;
    }
    if (hot !== undefined) {
      if (hot.renewAt <= this.#options.clock.now()) this.#renew(key, hot);
      else hot.read = true;
    }
    return hot;
  }

  /**
   * A value just fetched from its owner. Fill policy (LRU.admits): with the adaptive policy, the
   * group's access counts decide which copies stay; with `policy: 'lru'`, every fetched value
   * while the hot cache has room, else 1 in 10, as groupcache admits (so one scan cannot flush it).
   */
  offer(key: string, value: HotCopy): void {
    if (this.#cache.admits(key, value)) this.#keep(key, value);
  }

  /**
   * A value its owner sent, as a copy whose tags count from the epoch the fetch of `ticket` began
   * in (see tagsOf). `keep` is false when it must not be kept: a write or tag invalidation
   * overtook the fetch, or the owner lags (tagsOf). Throws on tags no peer would send.
   */
  received(response: GetResponse, ticket: LoadTicket): { value: HotCopy; keep: boolean } {
    if (response.tags === undefined || response.tags.length === 0) return { value: new HotCopy(response.value, response.expiresAt), keep: ticket.current };
    const { tagged, agrees } = this.tagsOf(response, ticket);
    const value = new HotCopy(response.value, response.expiresAt, tagged);
    return { value, keep: agrees && this.#options.guard.keeps(ticket, value) };
  }

  /**
   * The TagSet of a value another peer sent, counting from the epoch `ticket` began in, and
   * whether that peer had applied every invalidation of its tags this peer has (TagRecords.agrees:
   * if not, the value may be one such an invalidation dropped, and no copy of it may be kept).
   * Throws on tags no peer would send (the fetch then failed).
   */
  tagsOf({ tags, tagMarks }: GetResponse, ticket: LoadTicket): { tagged: TagSet | undefined; agrees: boolean } {
    if (tags === undefined || tags.length === 0) return { tagged: undefined, agrees: true };
    const records = this.#options.guard.tags;
    const checked = checkTags(tags, `tags sent with key ${JSON.stringify(ticket.key.slice(0, 64))}`);
    if (checked.length !== tags.length || (tagMarks !== undefined && tagMarks.length !== tags.length))
      throw new Error(`a peer sent ${tags.length} tags (${checked.length} different) and ${tagMarks?.length ?? 0} marks for them`);
    return { tagged: records.stamp(checked, ticket.epoch, tagMarks ?? []), agrees: records.agrees(checked, tagMarks) };
  }

  /**
   * Warm handoff: this peer owns `key` but lacks it; if membership changed lately, the key's
   * previous owner may still have it cached. Taken from there (one hop, cache only), it spares the
   * getter — and the database — a reload. The value to store as owned, with its main-cache TTL and
   * the ticket its fetch ran under; undefined: load as usual.
   */
  async handoff(key: string, peers: PeerPicker | undefined): Promise<{ value: ByteView; ttl: number | undefined; ticket: LoadTicket } | undefined> {
    if (!peers?.handoff) return undefined;
    const { guard, fresh } = this.#options;
    const ticket = guard.begin(key);
    const handed = await peers.handoff({ group: this.#options.group, key });
    guard.end(ticket);
    if (!handed) return undefined;
    // A previous owner that has not applied an invalidation of one of the value's tags may hold one it dropped: load instead.
    let tags: ReturnType<HotCopies['tagsOf']>;
    try {
      tags = this.tagsOf(handed, ticket);
    } catch {
      return undefined; // tags no peer would send
    }
    if (!tags.agrees) return undefined;
    const value = new ByteView(handed.value, false, handed.expiresAt, tags.tagged);
    const ttl = fresh.mainTtl(value.expiresAt);
    if (ttl !== undefined && ttl <= 0) return undefined;
    return { value, ttl, ticket };
  }

  /** Drops the copy of `key`; true if there was one. */
  remove(key: string): boolean {
    return this.#cache.remove(key);
  }

  /** Drops every copy, and every renewal due. */
  clear(): void {
    this.#cache.clear();
    this.#queue.clear();
  }

  /** Stops renewing (the group's close()). */
  close(): void {
    this.#queue.clear();
  }

  stats() {
    return this.#cache.stats();
  }

  /** Keeps a copy for no longer than Freshness.copyTtl, and learns when a read should renew it. */
  #keep(key: string, value: HotCopy): void {
    const { fresh } = this.#options;
    const now = Date.now();
    const ttl = fresh.copyTtl(value.expiresAt, now);
    if (ttl !== undefined && ttl <= 0) return;
    value.keptFor(ttl, fresh.config.hotTtlMs, now);
    if (this.#cache.add(key, value, ttl) && value.renewAt !== Number.POSITIVE_INFINITY) this.#queue.track(key, value.renewAt);
  }

  /**
   * Renews a hot copy that is read past its renew point, off the request path: the owner is asked
   * again (a get the client may hold back for a big batch) and its answer replaces the copy with
   * a new hotTtlMs — a refetch, not a revalidation, so the staleness bound stays "hotTtlMs after
   * the owner sent it". Once per copy and key at a time; a remove, set, clear or invalidation of
   * one of its tags meanwhile wins (LoadGuard); a failure leaves the copy to expire (the peer monitor reports peer failures).
   */
  #renew(key: string, copy: HotCopy): void {
    copy.renewAt = Number.POSITIVE_INFINITY;
    const { guard, group, loadTimeoutMs, stats } = this.#options;
    const peer = this.#options.ownerOf(key);
    if (!peer || !this.#renewals.begin(key)) return;
    const ticket = guard.begin(key);
    const done = () => {
      guard.end(ticket);
      this.#renewals.end(key);
    };
    let fetched: Promise<GetResponse>;
    try {
      fetched = peer.get({ group, key, waitMs: loadTimeoutMs, renew: true });
    } catch {
      done(); // a PeerGetter that throws instead of rejecting: as a failed renewal
      return;
    }
    fetched.then((response) => {
      done();
      let received: { value: HotCopy; keep: boolean };
      try {
        received = this.received(response, ticket);
      } catch {
        return; // tags no peer would send: as a failed renewal
      }
      if (!received.keep) return;
      const { value } = received;
      // The copy it replaces held the room, unless it ran out or was evicted meanwhile: then as any fetch.
      if (this.#cache.has(key) || this.#cache.hasRoomFor(key, value)) {
        stats.hotRenewals++;
        this.#keep(key, value);
      }
    }, done);
  }
}
