import { gatherStats, type StatsSource } from './statsdoc.js';

/** One other peer as {@link health} sees it. */
export interface PeerHealth {
  /** It answered (the stats request may still have been refused: see state). */
  reachable: boolean;
  /** `up`, or why not: `down`, `unauthorized`, `no stats`, `bad answer`. */
  state: string;
  /** It lists the same peers and ring as this one (undefined when it could not be asked). */
  agrees?: boolean;
  error?: string;
}

/** The answer of {@link health}: an HTTP status and a JSON body. */
export interface HealthReport {
  /** 200 while this peer serves (ok or degraded); 503 when it does not, or when `strict` and degraded. */
  status: 200 | 503;
  body: {
    status: 'ok' | 'degraded' | 'not serving';
    /** This peer answers peer requests (close() not called). */
    serving: boolean;
    self: string;
    peers: Record<string, PeerHealth>;
    /** Every reachable peer lists the same members and ring. */
    ringAgreement: boolean;
  };
}

/**
 * This peer's view of the cluster, for readiness probes: is it serving, which peers answer a
 * signed stats request, and do they agree on membership and ring. A degraded cluster still
 * answers 200 by default: a peer being down must not take every other instance out of the load
 * balancer (each still answers gets, loading locally); `strict` answers 503 then.
 */
export async function health(source: StatsSource & { serving: boolean; strict?: boolean }): Promise<HealthReport> {
  const serving = source.serving;
  const mine = source.pool.peers().slice().sort().join(' ');
  const results = serving ? await gatherStats(source) : [];
  const peers: Record<string, PeerHealth> = {};
  let agreement = true;
  let degraded = false;
  for (const r of results) {
    if (r.url === source.pool.self) continue;
    if (!r.ok) {
      // 'no stats': with secret: false nobody serves stats; the peer answered, which is all we can know.
      if (r.state !== 'no stats') degraded = true;
      peers[r.url] = { reachable: r.state !== 'down', state: r.state, error: r.error };
      continue;
    }
    const agrees = r.doc.peers.slice().sort().join(' ') === mine && r.doc.ring === source.ring && r.doc.basePath === source.basePath;
    if (!agrees) agreement = false;
    peers[r.url] = { reachable: true, state: 'up', agrees };
  }
  const status = !serving ? 'not serving' : degraded || !agreement ? 'degraded' : 'ok';
  const code = status === 'not serving' || (status === 'degraded' && source.strict) ? 503 : 200;
  return { status: code, body: { status, serving, self: source.pool.self, peers, ringAgreement: agreement } };
}
