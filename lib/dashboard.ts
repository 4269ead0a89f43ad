import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type GroupFigures, gatherStats, type PeerStatsResult, type StatsSource } from './clusterstats.js';
import { PAGE_SCRIPT, PAGE_STYLE, pageHtml } from './dashboardpage.js';

/** How often the page refreshes itself. */
const REFRESH_MS = 2000;
/** Keys hashed to estimate each peer's share of the ring. */
const SHARE_SAMPLES = 10_000;
/** Longest key the owner box accepts. */
const MAX_OWNER_KEY = 4096;

/** One group's figures, summed over peers. */
export interface DashboardFigures {
  gets: number;
  hits: number;
  /** hits / gets, or null before the first get. */
  hitRatio: number | null;
  localLoads: number;
  peerLoads: number;
  errors: number;
  bytes: number;
  items: number;
  /** Share of cache hits answered by the hot cache (copies of keys other peers own). */
  hotShare: number | null;
  evictions: number;
}

/** What `GET api/cluster` answers: the page's whole model. */
export interface DashboardModel {
  self: string;
  time: number;
  ring: string;
  refreshMs: number;
  /** Every peer that answered lists the same members and ring. */
  agreement: boolean;
  peers: { url: string; self: boolean; share: number; state: string; latencyMs: number | null; requests: number; errors: number; error: string | null }[];
  groups: { name: string; cluster: DashboardFigures; peers: { url: string; state: string; figures: DashboardFigures | null }[] }[];
}

function figures(g: GroupFigures): DashboardFigures {
  const hits = g.main.hits + g.hot.hits;
  return {
    gets: g.stats.gets,
    hits,
    hitRatio: g.stats.gets ? g.stats.cacheHits / g.stats.gets : null,
    localLoads: g.stats.localLoads,
    peerLoads: g.stats.peerLoads,
    errors: g.stats.localLoadErrs + g.stats.peerErrors,
    bytes: g.main.bytes + g.hot.bytes,
    items: g.main.items + g.hot.items,
    hotShare: hits ? g.hot.hits / hits : null,
    evictions: g.main.evictions + g.hot.evictions,
  };
}

function sum(list: DashboardFigures[]): DashboardFigures {
  const total = { gets: 0, hits: 0, localLoads: 0, peerLoads: 0, errors: 0, bytes: 0, items: 0, evictions: 0, hotHits: 0 };
  for (const f of list) {
    total.gets += f.gets;
    total.hits += f.hits;
    total.localLoads += f.localLoads;
    total.peerLoads += f.peerLoads;
    total.errors += f.errors;
    total.bytes += f.bytes;
    total.items += f.items;
    total.evictions += f.evictions;
    total.hotHits += (f.hotShare ?? 0) * f.hits;
  }
  const { hotHits, ...rest } = total;
  return { ...rest, hitRatio: rest.gets ? rest.hits / rest.gets : null, hotShare: rest.hits ? hotHits / rest.hits : null };
}

/**
 * The dashboard: one page (inline script and style, no build step) and the two JSON answers it
 * reads. Mount it behind the app's own auth: it shows every peer's URL and figures. It answers
 * GET only, and calls next() for any path it does not serve.
 */
export function dashboard(source: StatsSource): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void {
  // Inline code is allowed by its hash only: a name that slipped past escaping still could not run.
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${createHash('sha256').update(PAGE_SCRIPT).digest('base64')}'`,
    `style-src 'sha256-${createHash('sha256').update(PAGE_STYLE).digest('base64')}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const html = Buffer.from(pageHtml());
  let shares: { members: string; share: Map<string, number> } | undefined;

  /** Each peer's share of keys, estimated by hashing sample keys; recomputed when membership changes. */
  const ringShares = (): Map<string, number> => {
    const members = source.pool.peers().join(' ');
    if (shares?.members !== members) {
      const counts = new Map<string, number>();
      for (let i = 0; i < SHARE_SAMPLES; i++) {
        const owner = source.pool.ownerOf(`share-sample-${i}`) ?? '';
        counts.set(owner, (counts.get(owner) ?? 0) + 1);
      }
      shares = { members, share: new Map([...counts].map(([url, n]) => [url, n / SHARE_SAMPLES])) };
    }
    return shares.share;
  };

  const model = async (): Promise<DashboardModel> => {
    const results = await gatherStats(source);
    const mine = source.pool.peers().slice().sort().join(' ');
    const share = ringShares();
    const getters = source.pool.getters();
    const groupNames = new Set<string>();
    for (const r of results) if (r.ok) for (const name of Object.keys(r.doc.groups)) groupNames.add(name);
    const stateOf = (r: PeerStatsResult) => (!r.ok ? r.state : getters.get(r.url)?.isDown ? 'backing off' : 'up');
    return {
      self: source.pool.self,
      time: Date.now(),
      ring: source.ring,
      refreshMs: REFRESH_MS,
      agreement: results.every((r) => !r.ok || (r.doc.peers.slice().sort().join(' ') === mine && r.doc.ring === source.ring)),
      peers: results.map((r) => {
        const monitor = getters.get(r.url)?.monitor;
        const errors = monitor ? Object.values(monitor.errors).reduce((n, v) => n + (v ?? 0), 0) : 0;
        return {
          url: r.url,
          self: r.url === source.pool.self,
          share: share.get(r.url) ?? 0,
          state: stateOf(r),
          latencyMs: r.url === source.pool.self ? null : (monitor?.latencyMs ?? r.ms),
          requests: monitor?.requests ?? 0,
          errors,
          error: r.ok ? (monitor?.lastError?.message ?? null) : r.error,
        };
      }),
      groups: [...groupNames].sort().map((name) => {
        const peers = results.map((r) => {
          const g = r.ok ? r.doc.groups[name] : undefined;
          return { url: r.url, state: r.ok ? (g ? 'up' : 'no such group') : r.state, figures: g ? figures(g) : null };
        });
        return { name, cluster: sum(peers.flatMap((p) => (p.figures ? [p.figures] : []))), peers };
      }),
    };
  };

  return (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') return next ? next() : send(res, 405, 'text/plain', 'GET only\n');
    if (path === '/' || path === '/index.html') return send(res, 200, 'text/html; charset=utf-8', html, { 'content-security-policy': csp });
    if (path === '/api/cluster') {
      model().then(
        (m) => send(res, 200, 'application/json', JSON.stringify(m)),
        (err) => send(res, 500, 'application/json', JSON.stringify({ error: String((err as Error)?.message ?? err) })),
      );
      return;
    }
    if (path === '/api/owner') {
      const key = url.searchParams.get('key');
      if (!key || key.length > MAX_OWNER_KEY)
        return send(res, 400, 'application/json', JSON.stringify({ error: `give a key of 1 to ${MAX_OWNER_KEY} characters: ?key=...` }));
      const owner = source.pool.ownerOf(key) ?? null;
      return send(res, 200, 'application/json', JSON.stringify({ key, owner, self: owner === source.pool.self }));
    }
    if (next) return next();
    send(res, 404, 'text/plain', 'not found\n');
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(bytes);
}
