/**
 * Stats rounds: asking every other peer for its figures, and how often. A round asks each peer
 * once, for the bounded answer (`?view=round`: its figures and a summary of its view, O(groups)
 * bytes, so a round is O(N) bytes in all; a peer that answers the full document instead, an older
 * geecache, is summarized on arrival). Every caller meanwhile — concurrent dashboard pages,
 * clusterHealth() calls, however many — shares it, and its answers for {@link STATS_ROUND_MS}
 * after it ends. So requests from outside, anonymous or not, never turn into more than one stats
 * request per peer per round.
 */
import type { GroupRegistry } from '../cache/registry.js';
import type { HttpGetter } from '../client/httpgetter.js';
import type { HttpPool } from '../cluster/httppool.js';
import { messageOf } from '../common/errors.js';
import { type RoundStats, readRoundAnswer, roundStats } from './statsdoc.js';

/** A round's answers are reused this long after it ends. */
export const STATS_ROUND_MS = 1_000;
/** Largest stats answer read from a peer (a round's answer is a few KiB; an older peer's full document grows with N). */
const MAX_STATS_BYTES = 1 << 20;

/** The outcome of asking one peer for its stats. */
export type PeerStatsResult =
  | { url: string; ok: true; doc: RoundStats; ms: number }
  | { url: string; ok: false; state: 'down' | 'unauthorized' | 'no stats' | 'bad answer'; error: string; ms: number };

/**
 * Asks `peer` for its round answer through its client in the pool (HttpGetter.stats: the
 * transport, signer and timeouts of its gets); never throws. Without a secret there are no stats
 * to ask for (the route answers 403).
 */
export async function fetchStats(getter: HttpGetter | undefined, peer: string, secret: string | false | undefined): Promise<PeerStatsResult> {
  const started = performance.now();
  const ms = () => performance.now() - started;
  if (!getter) return { url: peer, ok: false, state: 'down', error: 'no client for this peer: geecache was closed', ms: 0 };
  let status: number;
  let body: Buffer | undefined;
  try {
    ({ status, body } = await getter.stats(MAX_STATS_BYTES, 'round'));
  } catch (err) {
    return { url: peer, ok: false, state: 'down', error: messageOf(err), ms: ms() };
  }
  if (status === 401) return { url: peer, ok: false, state: 'unauthorized', error: 'refused our signature: secrets differ or clocks are skewed', ms: ms() };
  // Without a secret there are no stats to ask for: the peer answered, which is all we learn
  // (a geecache peer says 403, a golang/groupcache peer 400 or 404).
  if (status === 403 || (!secret && status !== 200)) return { url: peer, ok: false, state: 'no stats', error: 'no stats without a secret', ms: ms() };
  if (status !== 200 || body === undefined) return { url: peer, ok: false, state: 'bad answer', error: `answered ${status}`, ms: ms() };
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { url: peer, ok: false, state: 'bad answer', error: `bad stats answer: not JSON (${JSON.stringify(text.slice(0, 40))})`, ms: ms() };
  }
  try {
    return { url: peer, ok: true, doc: readRoundAnswer(json), ms: ms() };
  } catch (err) {
    return { url: peer, ok: false, state: 'bad answer', error: (err as Error).message.slice(0, 200), ms: ms() };
  }
}

/** What a stats round needs of the cache. */
export interface StatsSource {
  pool: HttpPool;
  registry: GroupRegistry;
  /** Whether requests are signed: without a secret, peers serve no stats. */
  secret: string | false | undefined;
  ring: string;
  basePath: string;
}

/** Every peer's round answer: this one's read locally, the others' asked for in parallel. In ring order. */
export async function gatherStats(source: StatsSource): Promise<PeerStatsResult[]> {
  const { pool } = source;
  return Promise.all(
    pool
      .peers()
      .map(
        async (url): Promise<PeerStatsResult> =>
          url === pool.self
            ? { url, ok: true, doc: roundStats(pool, source.registry, source.ring, source.basePath), ms: 0 }
            : fetchStats(pool.getters().get(url), url, source.secret),
      ),
  );
}

/** One instance's stats rounds (see the file's comment). */
export class StatsRounds {
  readonly #source: StatsSource;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #round: Promise<PeerStatsResult[]> | undefined;
  /** The membership the round asked, joined: a change of members starts a new round. */
  #members = '';
  #running = false;
  #endedAt = Number.NEGATIVE_INFINITY;

  constructor(source: StatsSource, maxAgeMs = STATS_ROUND_MS, now: () => number = () => performance.now()) {
    this.#source = source;
    this.#maxAgeMs = maxAgeMs;
    this.#now = now;
  }

  /** Every peer's stats (see gatherStats): the round running, or the last one if it is recent enough, else a new one. */
  gather(): Promise<PeerStatsResult[]> {
    const members = this.#source.pool.peers().join(' ');
    if (this.#round && members === this.#members && (this.#running || this.#now() - this.#endedAt < this.#maxAgeMs)) return this.#round;
    this.#members = members;
    this.#running = true;
    const round = gatherStats(this.#source).finally(() => {
      if (this.#round !== round) return;
      this.#running = false;
      this.#endedAt = this.#now();
    });
    this.#round = round;
    return round;
  }
}
