/**
 * A group's cluster-wide writes: `set` stores a value at its key's owner (a PUT to it, or here
 * when this peer owns the key), `remove` and `clear` drop a key or the whole group here and at
 * its owner; each then has the other peers drop their copies (the fan-out, invalidation.ts).
 * `invalidateTags` makes the values carrying some tags stale here and on every other peer.
 * Every write carries a version from this group's clock, and each peer applies it only if it is
 * newer than what it applied of that key (writeorder.ts): the writes another peer sends here go
 * through {@link GroupWrites.apply}.
 */
import { randomInt } from 'node:crypto';
import { describe } from '../common/describe.js';
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { ByteView } from './byteview.js';
import { checkTtl, type Freshness } from './freshness.js';
import type { Bytes } from './groupoptions.js';
import { type InvalidationReport, Invalidator, type WriteTargets } from './invalidation.js';
import { LRU } from './lru.js';
import type { PeerPicker } from './peers.js';
import { checkTags, MAX_TAGS_PER_INVALIDATION, type TagSet } from './tags.js';
import { StaleWriteError, type VersionedWrite, WriteOrder } from './writeorder.js';

/** Sends of a set to an owner that applied a newer write of the key: each time the clock moves past the newer one. */
const MAX_SET_ATTEMPTS = 3;

/** Options of Group.set. */
export interface SetOptions {
  /** How long the value stays fresh, in milliseconds; default the group's `ttlMs` (0: forever). */
  ttlMs?: number;
  /** Tags of the value (as a getter's `ctx.tags`): `invalidateTags` of one of them drops it. */
  tags?: readonly string[];
}

/** What the writes do to their group on this process (a Group). */
export interface LocalWrites {
  readonly name: string;
  /** Drops a key here; a load of it running will not store what it read. */
  forget(key: string): boolean;
  /** Drops every key here. */
  forgetAll(): void;
  /** Stores a value here as its owner; false when it can never fit. */
  setLocally(key: string, value: ByteView): boolean;
  /** The TagSet of a value with `tags` (checked) stored now. */
  stampTags(tags: readonly string[] | undefined): TagSet | undefined;
  /** Makes every value here carrying one of `tags` (checked) stale; `id` names the invalidation cluster-wide. */
  forgetTags(tags: readonly string[], id: number): void;
}

/** A write another peer sent here; `version` absent: an unsigned mailgun/groupcache peer's. */
export type PeerWrite =
  | { kind: 'set'; key: string; value: ByteView; version?: number }
  | { kind: 'remove'; key: string; version?: number }
  | { kind: 'clear'; version?: number };

/** What became of a {@link PeerWrite}: applied, too big to ever fit (a set), or older than the write `newer` applied here. */
export type WriteOutcome = 'applied' | 'too-big' | { newer: number };

/** The set, remove and clear of one group (see Group.set, remove and clear); keys come checked. */
export class GroupWrites {
  /** The versions of the writes applied here, and the clock this peer's writes take theirs from. */
  readonly order = new WriteOrder();
  readonly #group: LocalWrites;
  /** The group's main cache, for what a value set on the owner would take there. */
  readonly #main: LRU;
  readonly #fresh: Freshness;
  #peers: PeerPicker | undefined;
  #logger: Logger | undefined;
  readonly #invalidator = new Invalidator(
    () => this.#targets(),
    () => this.#logger,
  );

  constructor(group: LocalWrites, main: LRU, fresh: Freshness) {
    this.#group = group;
    this.#main = main;
    this.#fresh = fresh;
  }

  /** Where the peers are, and where warnings about missed removes go (Group.registerPeers). */
  registerPeers(picker: PeerPicker, logger: Logger | undefined): void {
    this.#peers = picker;
    this.#logger = logger;
  }

  /**
   * A write another peer sent (the peer route's PUT and DELETE), applied only if it is newer than
   * the writes of its key (and the clears) applied here; without a version (an unsigned
   * mailgun/groupcache peer) it is applied as it comes. A set may throw (a value the group refuses).
   */
  apply(write: PeerWrite): WriteOutcome {
    if (write.version !== undefined) {
      const newer = this.order.admit({ kind: write.kind, key: write.kind === 'clear' ? undefined : write.key, version: write.version });
      if (newer !== undefined) return { newer };
    }
    if (write.kind === 'clear') this.#group.forgetAll();
    else if (write.kind === 'remove') this.#group.forget(write.key);
    else if (!this.#group.setLocally(write.key, write.value)) return 'too-big';
    return 'applied';
  }

  /** Drops `key` here, then at its owner, then everywhere else. */
  remove(key: string): Promise<InvalidationReport> {
    const version = this.#local({ kind: 'remove', key });
    this.#group.forget(key);
    return this.#invalidator.broadcast({ group: this.#group.name, key, version }, { first: this.#targets()?.ownerOf(key) });
  }

  /** Stores `value` at the key's owner, then drops every other peer's copy; see Group.set. */
  async set(key: string, value: Bytes, options: SetOptions = {}): Promise<InvalidationReport> {
    const name = this.#group.name;
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new TypeError(`set: value for key ${JSON.stringify(key)} of group "${name}" is ${describe(value)}; pass a Buffer, Uint8Array or string`);
    }
    const ttlMs = options?.ttlMs === undefined ? undefined : checkTtl(options.ttlMs, 'set: ttlMs');
    const tags = options?.tags === undefined ? undefined : checkTags(options.tags, 'set: tags');
    const view = new ByteView(value, true, this.#fresh.expiryOf(ttlMs), this.#group.stampTags(tags));
    if (!this.#main.fits(key, view)) {
      throw new RangeError(
        `set: key ${JSON.stringify(key)} + value are ${LRU.cost(key, view)} bytes, more than group "${name}" caches per process (${this.#main.maxBytes} of maxBytes); nothing was stored`,
      );
    }
    const targets = this.#targets();
    const owner = targets?.ownerOf(key);
    const request = { group: name, key, version: this.#local({ kind: 'set', key }) };
    if (!targets || owner === undefined || owner === targets.self) {
      this.#group.setLocally(key, view);
      return this.#invalidator.broadcast(request);
    }
    this.#group.forget(key);
    try {
      const getter = targets.getters().get(owner);
      if (!getter?.set) throw new Error('it takes no writes');
      for (let attempt = 1; ; attempt++) {
        try {
          await getter.set({ ...request, value: ByteView.unwrap(view), expiresAt: view.expiresAt, ...(tags?.length ? { tags } : {}) });
          break;
        } catch (err) {
          // The owner applied a newer write of the key: a writer whose clock is behind. This set
          // started after that one was stored there, so it goes again, newer (see writeorder.ts).
          if (!(err instanceof StaleWriteError)) throw err;
          this.order.clock.observe(err.newer);
          if (attempt >= MAX_SET_ATTEMPTS)
            throw new StaleWriteError(
              `set: the owner of key ${JSON.stringify(key)}, ${owner}, applied a newer write of it each of ${MAX_SET_ATTEMPTS} times this set was sent; this value was not stored`,
              err.newer,
            );
          request.version = this.#local({ kind: 'set', key });
        }
      }
    } catch (err) {
      // Newer writes of the key won: they did their own fan-out, and a remove would drop their value.
      if (err instanceof StaleWriteError) throw err;
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
   * Empties the group on every peer: two rounds, so a copy another peer fetched from an owner
   * that had not cleared yet is dropped by the second.
   */
  async clear(): Promise<InvalidationReport> {
    const group = this.#group.name;
    // Each round is a write of its own, newer than the first: a peer takes both.
    this.#group.forgetAll();
    const first = await this.#invalidator.broadcast({ group, version: this.#local({ kind: 'clear' }) });
    this.#group.forgetAll();
    const second = await this.#invalidator.broadcast({ group, version: this.#local({ kind: 'clear' }) });
    const pending = [...new Set([...first.pending, ...second.pending])];
    const refused = [...new Set([...first.refused, ...second.refused])];
    return { acknowledged: second.acknowledged.filter((p) => !pending.includes(p) && !refused.includes(p)), pending, refused };
  }

  /**
   * Makes every value carrying one of `tags` stale here, then on every other peer: one request
   * per peer, carrying them all and an id that names this invalidation cluster-wide (cache/tags.ts).
   */
  invalidateTags(tags: readonly string[]): Promise<InvalidationReport> {
    const checked = checkTags(tags, 'invalidateTags: tags', MAX_TAGS_PER_INVALIDATION);
    if (checked.length === 0) return Promise.resolve({ acknowledged: [], pending: [], refused: [] });
    const id = randomInt(1, 2 ** 48);
    this.#group.forgetTags(checked, id);
    return this.#invalidator.broadcast({ group: this.#group.name, tags: checked, id });
  }

  /** Removes not yet acknowledged by a peer, by peer URL. */
  pending(): Map<string, number> {
    return this.#invalidator.pending();
  }

  /** Stops retrying removes. */
  close(): void {
    this.#invalidator.close();
  }

  /** A new version for a write made here, remembered as applied here (it is newer than all this clock saw). */
  #local(write: { kind: VersionedWrite['kind']; key?: string }): number {
    const version = this.order.clock.next();
    this.order.admit({ ...write, version });
    return version;
  }

  /** The cluster as cluster-wide writes see it, when the picker can tell (HttpPool and Membership can). */
  #targets(): WriteTargets | undefined {
    const picker = this.#peers;
    if (!picker || picker.self === undefined || !picker.ownerOf || !picker.getters) return undefined;
    return { self: picker.self, ownerOf: (key) => picker.ownerOf?.(key), getters: () => picker.getters?.() ?? new Map(), wrote: () => picker.wrote?.() };
  }
}
