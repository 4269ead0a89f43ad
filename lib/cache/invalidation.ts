/**
 * invalidation.ts carries a group's remove, set, clear and tag invalidation to the other peers: which
 * peers were reached, and the retries of a remove a peer missed, until it answers or leaves the ring.
 */

import { type Logger, Notices } from '../common/logger.js';
import type { PeerGetter, RemoveRequest } from './peers.js';

/** How often removes that could not reach a peer are sent again. */
export const REMOVE_RETRY_MS = 1_000;
/**
 * Most removes kept for one peer that could not be reached (one per key, the clears and tag
 * invalidations). Past it they are all dropped and the peer is told so by its next write
 * (PeerGetter.dropped): it then drops everything it holds, which no remove can leave stale.
 */
export const MAX_PENDING_PER_PEER = 100_000;

/** What a cluster-wide `remove`, `set`, `clear` or `invalidateTags` reached. */
export interface InvalidationReport {
  /** Peers (this one included) that applied it. */
  acknowledged: string[];
  /**
   * Peers that could not be reached (down, stuck, timed out). The remove is sent to them again
   * every second in the background until they answer or leave the ring; meanwhile a get of the
   * key on them returns the old value at most until their copy's `hotTtlMs` runs out (docs/freshness.md).
   */
  pending: string[];
  /** Peers that answered but refused it (401: another secret; a golang/groupcache peer): not retried. */
  refused: string[];
}

/** Who the cluster is, as a group's PeerPicker tells it (HttpPool, Membership). */
export interface WriteTargets {
  /** This peer's URL. */
  readonly self: string;
  /** The URL of `key`'s owner. */
  ownerOf(key: string): string | undefined;
  /** The client of every other peer, by URL. */
  getters(): ReadonlyMap<string, PeerGetter>;
  /** A write's fan-out starts: the peers out of the ring miss it (their writers' next write tells them). */
  wrote?(): void;
}

type Outcome = 'acknowledged' | 'pending' | 'refused';

/**
 * How long the removes started together (in one turn of the event loop) wait, once the first of
 * their owners answered, for the other owners before each fans out anyway.
 */
export const GATHER_MS = 500;

/**
 * Writes to peers a gate lets out per turn of the event loop (removes × other peers): a thousand
 * removes on a ring of a thousand are a million, which in one turn would hold this process (and
 * the requests it has in flight) for seconds.
 */
export const FANOUT_PER_TURN = 300_000;

/** The removes started in one turn: their fan-outs leave together once all their owners answered (or GATHER_MS after the first did). */
interface Gate {
  /** Removes whose owner has not answered yet. */
  left: number;
  /** Those that wait for the others. */
  readonly waiting: (() => void)[];
  released: boolean;
  timer?: NodeJS.Timeout;
}

/**
 * Sends one group's removes to the other peers (`DELETE {basePath}{group}/{key}`, or the whole
 * group), and keeps sending those a peer missed until it answers or leaves the ring.
 */
export class Invalidator {
  readonly #targets: () => WriteTargets | undefined;
  readonly #logger: () => Logger | undefined;
  /** Refusals, warned once per peer (a loop of removes to a golang/groupcache peer would be a line each). */
  readonly #notices = new Notices({ warn: (message) => this.#logger()?.warn(message) });
  /** Peers told about (warned once) while they have removes pending. */
  readonly #warned = new Set<string>();
  /** Removes a peer has not acknowledged yet, by peer URL, then by key ('' for a clear, 't' + id for a tag invalidation). */
  readonly #pending = new Map<string, Map<string, RemoveRequest>>();
  #timer: NodeJS.Timeout | undefined;
  /** The gate the removes started in this turn join (see Gate). */
  #gate: Gate | undefined;
  #retrying = false;
  #closed = false;

  constructor(targets: () => WriteTargets | undefined, logger: () => Logger | undefined = () => undefined) {
    this.#targets = targets;
    this.#logger = logger;
  }

  /** Removes not yet acknowledged, by peer URL (for tests and diagnostics). */
  pending(): Map<string, number> {
    return new Map([...this.#pending].map(([peer, requests]) => [peer, requests.size]));
  }

  /**
   * Sends `request` to every other peer except `skip`; `first`, when given, is asked before all
   * the others (the key's owner: a peer that dropped its copy and asks the owner again must not
   * get the old value back). Resolves once every peer answered or failed.
   */
  async broadcast(request: RemoveRequest, options: { first?: string; skip?: string } = {}): Promise<InvalidationReport> {
    const targets = this.#targets();
    const report: InvalidationReport = { acknowledged: targets ? [targets.self] : [], pending: [], refused: [] };
    if (!targets) return report;
    targets.wrote?.();
    const getters = targets.getters();
    const record = (peer: string, outcome: Outcome) => report[outcome].push(peer);
    const { first, skip } = options;
    const firstGetter = first === undefined ? undefined : getters.get(first);
    if (first !== undefined && firstGetter && first !== skip) {
      const gate = this.#join();
      record(first, await this.#send(first, firstGetter, request));
      // The others fan out with this one: each peer then gets them all in one batch, not a few at a time.
      if (--gate.left === 0) this.#release(gate);
      else if (!gate.released) {
        gate.timer ??= setTimeout(() => this.#release(gate), GATHER_MS).unref();
        await new Promise<void>((resolve) => gate.waiting.push(resolve));
      }
    }
    // Callbacks, not a promise per peer: a loop of removes on a large ring makes one per peer per remove.
    const peers: string[] = [];
    const outcomes: Outcome[] = [];
    await new Promise<void>((resolve) => {
      let left = 1; // this loop's own share, so a peer answered at once cannot end it early
      const finish = () => {
        if (--left === 0) resolve();
      };
      getters.forEach((getter, peer) => {
        if (peer === first || peer === skip) return;
        const i = peers.push(peer) - 1;
        left++;
        this.#dispatch(peer, getter, request, (outcome) => {
          outcomes[i] = outcome;
          finish();
        });
      });
      finish();
    });
    for (let i = 0; i < peers.length; i++) record(peers[i], outcomes[i]);
    return report;
  }

  /** The gate of this turn's removes, made by the first of them. */
  #join(): Gate {
    let gate = this.#gate;
    if (!gate) {
      const made: Gate = { left: 0, waiting: [], released: false };
      gate = made;
      this.#gate = made;
      // Only removes started in this turn join it: a stream of removes never holds one back for long.
      setImmediate(() => {
        if (this.#gate === made) this.#gate = undefined;
      });
    }
    gate.left++;
    return gate;
  }

  /** Lets a gate's removes fan out, FANOUT_PER_TURN writes to peers per turn (answers that came meanwhile are read between). */
  #release(gate: Gate): void {
    if (gate.released) return;
    gate.released = true;
    clearTimeout(gate.timer);
    const slice = Math.max(1, Math.floor(FANOUT_PER_TURN / Math.max(1, this.#targets()?.getters().size ?? 1)));
    const next = () => {
      for (const resolve of gate.waiting.splice(0, slice)) resolve();
      if (gate.waiting.length > 0) setImmediate(next);
    };
    next();
  }

  /** Queues `request` for `peer` as if it had been missed (a set whose owner could not store it). */
  queue(peer: string, request: RemoveRequest): void {
    let requests = this.#pending.get(peer);
    if (!requests) {
      requests = new Map();
      this.#pending.set(peer, requests);
    }
    // A clear covers every key and tag; a later remove of one key (or tag invalidation) after it must still go.
    if (request.key === undefined && request.tags === undefined) requests.clear();
    const id = request.tags !== undefined ? `t${request.id}` : request.key === undefined ? '' : `k${request.key}`;
    if (requests.size >= MAX_PENDING_PER_PEER && !requests.has(id)) this.#overflow(peer, requests);
    requests.set(id, request);
    this.#schedule();
  }

  /** Too many removes wait for `peer`: all dropped, and the peer told so by its next write (it then drops everything it holds). */
  #overflow(peer: string, requests: Map<string, RemoveRequest>): void {
    requests.clear();
    this.#targets()?.getters().get(peer)?.dropped?.();
    this.#logger()?.warn(
      `geecache: over ${MAX_PENDING_PER_PEER} removes waited for peer ${peer}; they were dropped, and its next write tells it to drop everything it holds`,
    );
  }

  /** Stops the retries (the middleware's close()). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#pending.clear();
  }

  #send(peer: string, getter: PeerGetter, request: RemoveRequest): Promise<Outcome> {
    return new Promise((resolve) => this.#dispatch(peer, getter, request, resolve));
  }

  /** Sends `request` to `peer` and tells `done` what became of it (a peer that missed it gets it again later). */
  #dispatch(peer: string, getter: PeerGetter, request: RemoveRequest, done: (outcome: Outcome) => void): void {
    const told = (result: boolean | Error) => done(this.#outcome(peer, request, result));
    if (getter.send) getter.send(request, told);
    else if (getter.remove) getter.remove(request).then(told, (err) => told(err instanceof Error ? err : new Error(String(err))));
    else done('refused');
  }

  /** What a peer's answer makes of `request`: a refusal is warned about; a write it missed is queued for the retries. */
  #outcome(peer: string, request: RemoveRequest, result: boolean | Error): Outcome {
    if (result === true) return 'acknowledged';
    if (result === false) {
      this.#notices.warn(
        `refused ${peer}`,
        () => `peer ${peer} refused a remove of group "${request.group}": is it a golang/groupcache peer, or does its secret differ?`,
      );
      return 'refused';
    }
    this.queue(peer, request);
    if (!this.#warned.has(peer)) {
      this.#warned.add(peer);
      this.#logger()?.warn(
        `geecache: peer ${peer} missed a remove of group "${request.group}" (${result.message}); it is sent again every second until the peer answers or leaves the ring, and meanwhile that peer may answer the old value for up to hotTtlMs (its own keys: until it gets the remove). Bring it back or take it out of peers (warned once per peer until it catches up)`,
      );
    }
    return 'pending';
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#retry();
    }, REMOVE_RETRY_MS);
    this.#timer.unref();
  }

  /**
   * Sends every missed remove again, all of a peer's at once (its client sends them in few
   * batches); drops those of peers no longer in the ring.
   */
  async #retry(): Promise<void> {
    if (this.#retrying || this.#closed) return;
    this.#retrying = true;
    try {
      const getters = this.#targets()?.getters() ?? new Map<string, PeerGetter>();
      await Promise.all([...this.#pending].map(([peer, requests]) => this.#retryPeer(peer, requests, getters.get(peer))));
    } finally {
      this.#retrying = false;
      if (this.#pending.size > 0) this.#schedule();
    }
  }

  async #retryPeer(peer: string, requests: Map<string, RemoveRequest>, getter: PeerGetter | undefined): Promise<void> {
    if (!getter) {
      // Left the ring: it serves nothing any more. Its removes are dropped, which counts as writes it
      // missed while out (wrote()): if it comes back, its writer's next write says so.
      this.#pending.delete(peer);
      this.#targets()?.wrote?.();
      return;
    }
    await Promise.all(
      [...requests].map(async ([id, request]) => {
        try {
          if (getter.remove) await getter.remove(request);
          // Answered (applied or refused); a newer request queued meanwhile for the same key stays.
          if (requests.get(id) === request) requests.delete(id);
        } catch {
          // Still unreachable: the next round tries again.
        }
      }),
    );
    if (requests.size === 0 && this.#pending.get(peer) === requests) {
      this.#pending.delete(peer);
      if (this.#warned.delete(peer)) this.#logger()?.info?.(`geecache: peer ${peer} caught up with the removes it had missed`);
    }
  }
}
