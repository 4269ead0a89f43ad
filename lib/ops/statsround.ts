/**
 * How often other peers are asked for their stats: a round asks each peer once, and every caller
 * meanwhile — concurrent dashboard pages, clusterHealth() calls, however many — shares it, and
 * its answers for {@link STATS_ROUND_MS} after it ends. So requests from outside, anonymous or
 * not, never turn into more than one stats request per peer per round.
 */
import { gatherStats, type PeerStatsResult, type StatsSource } from './statsdoc.js';

/** A round's answers are reused this long after it ends. */
export const STATS_ROUND_MS = 1_000;

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
