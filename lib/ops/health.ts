/**
 * Readiness: {@link health} answers from this peer's own state and asks no other peer, so a
 * probe — or anyone who can reach it — costs no peer traffic however often it is called.
 * {@link clusterHealth} asks every peer for its round answer (its membership's digest, and what
 * it sees of the others), through the shared stats rounds (statsround.ts): concurrent and
 * repeated calls share one round.
 */
import { membershipHash } from '../cluster/agreement.js';
import type { HttpPool } from '../cluster/httppool.js';
import type { PeerView } from './statsdoc.js';
import type { StatsRounds } from './statsround.js';

/** One other peer as {@link health} or {@link clusterHealth} sees it. */
export interface PeerHealth {
  /**
   * health(): this peer has heard from it and its client is not skipping it (it has not refused
   * a connection or gone silent); absent while it is `unknown`. clusterHealth(): it answered the
   * stats request (which may still have been refused: see state).
   */
  reachable?: boolean;
  /**
   * `up`, or why not: `down`; health() also `unknown` (not heard from yet: nothing was asked of it,
   * or no answer has come — neither up nor down, and not degraded); clusterHealth() also
   * `unauthorized`, `no stats`, `bad answer`.
   */
  state: string;
  /** clusterHealth() only: it lists the same peers, ring and basePath as this one (undefined when it could not be asked). */
  agrees?: boolean;
  /** clusterHealth() only: what it sees of the others (how many down, and the first few by name; how many not heard from yet). */
  sees?: PeerView;
  error?: string;
}

/** The answer of {@link health} and {@link clusterHealth}: an HTTP status and a JSON body. */
export interface HealthReport {
  /** 200 while this peer serves (ok or degraded); 503 when it does not, or when `strict` and degraded. */
  status: 200 | 503;
  body: {
    status: 'ok' | 'degraded' | 'not serving';
    /** This peer answers peer requests (close() not called, not draining). */
    serving: boolean;
    self: string;
    /** Every other peer, by URL: the body names the cluster's members, so do not hand it to anonymous callers. */
    peers: Record<string, PeerHealth>;
    /**
     * health(): no peer has asked with a membership other than ours for over 30 s (RingAgreement).
     * clusterHealth(): every peer that answered lists the same members and ring.
     */
    ringAgreement: boolean;
    /** With a discovery source: whether it has answered, and its last error while it fails. */
    discovery?: { answered: boolean; error?: string };
  };
}

/** What {@link health} reads: all of it this process's own state. */
export interface LocalHealthSource {
  pool: HttpPool;
  serving: boolean;
  strict?: boolean;
  /** Persistent membership disagreement as seen in peers' requests (RingAgreement). */
  agreement: { agrees(): boolean };
  /** The discovery source, if any: its last good answer and its last error. */
  discovery?: { readonly peers: readonly string[] | undefined; readonly lastError: string | undefined };
}

/**
 * This peer's own view, for readiness probes, without asking any other peer: is it serving, is
 * membership known (the discovery source answered and is not failing), which peers its client
 * is skipping as down (as already tracked from its own traffic and probes), which it has not
 * heard from yet (`unknown`: it does not guess, and they do not make it degraded — a peer just
 * started has asked nobody), and whether peers have asked with another membership for long. A
 * degraded cluster still answers 200 by default: a peer being down must not take every other
 * instance out of the load balancer (each still answers gets, loading locally); `strict`
 * answers 503 then.
 */
export async function health(source: LocalHealthSource): Promise<HealthReport> {
  const { pool, serving } = source;
  const getters = pool.getters();
  const peers: Record<string, PeerHealth> = {};
  let degraded = false;
  for (const url of serving ? pool.peers() : []) {
    if (url === pool.self) continue;
    const getter = getters.get(url);
    if (getter && !getter.isDown) {
      if (getter.heardFrom) peers[url] = { reachable: true, state: 'up' };
      else {
        // Not heard from yet: an earlier failure that did not mark it down (a reset) is still worth saying.
        const error = getter.monitor.lastError?.message;
        peers[url] = error === undefined ? { state: 'unknown' } : { state: 'unknown', error };
      }
      continue;
    }
    degraded = true;
    const error = getter ? getter.monitor.lastError?.message : 'no client for this peer: geecache was closed';
    peers[url] = error === undefined ? { reachable: false, state: 'down' } : { reachable: false, state: 'down', error };
  }
  const ringAgreement = source.agreement.agrees();
  const body: HealthReport['body'] = { status: 'ok', serving, self: pool.self, peers, ringAgreement };
  if (source.discovery) {
    const { peers: answer, lastError } = source.discovery;
    body.discovery = lastError === undefined ? { answered: answer !== undefined } : { answered: answer !== undefined, error: lastError };
    if (answer === undefined || lastError !== undefined) degraded = true;
  }
  return report(body, serving, degraded || !ringAgreement, source.strict);
}

/** What {@link clusterHealth} needs: the shared stats rounds and what this peer's own view is compared with. */
export interface ClusterHealthSource {
  pool: HttpPool;
  rounds: StatsRounds;
  ring: string;
  basePath: string;
  serving: boolean;
  strict?: boolean;
}

/**
 * The cluster as every peer reports it: each other peer is asked for its stats (signed) — once
 * per stats round, shared by every caller meanwhile — and `agrees` says it lists the same
 * members, ring and basePath. Mount it behind the app's own auth, like the dashboard.
 */
export async function clusterHealth(source: ClusterHealthSource): Promise<HealthReport> {
  const { pool, serving } = source;
  const mine = membershipHash(pool.peers());
  const results = serving ? await source.rounds.gather() : [];
  const peers: Record<string, PeerHealth> = {};
  let agreement = true;
  let degraded = false;
  for (const r of results) {
    if (r.url === pool.self) continue;
    if (!r.ok) {
      // 'no stats': with secret: false nobody serves stats; the peer answered, which is all we can know.
      if (r.state !== 'no stats') degraded = true;
      peers[r.url] = { reachable: r.state !== 'down', state: r.state, error: r.error };
      continue;
    }
    const agrees = r.doc.members.hash === mine && r.doc.ring === source.ring && r.doc.basePath === source.basePath;
    if (!agrees) agreement = false;
    peers[r.url] = { reachable: true, state: 'up', agrees, sees: r.doc.view };
  }
  return report({ status: 'ok', serving, self: pool.self, peers, ringAgreement: agreement }, serving, degraded || !agreement, source.strict);
}

function report(body: HealthReport['body'], serving: boolean, degraded: boolean, strict: boolean | undefined): HealthReport {
  body.status = !serving ? 'not serving' : degraded ? 'degraded' : 'ok';
  const code = body.status === 'not serving' || (body.status === 'degraded' && strict) ? 503 : 200;
  return { status: code, body };
}
