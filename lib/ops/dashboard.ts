/**
 * dashboard.ts serves the dashboard: the page, its JSON feed of every peer's figures, and the owner of a
 * key, mounted behind the application's own auth.
 */

import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { membershipHash } from '../cluster/agreement.js';
import { messageOf } from '../common/errors.js';
import { PAGE_SCRIPT, PAGE_STYLE, pageHtml } from './dashboardpage.js';
import type { GroupFigures, PeerView } from './statsdoc.js';
import type { StatsRounds, StatsSource } from './statsround.js';

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
  peers: {
    url: string;
    self: boolean;
    share: number;
    state: string;
    latencyMs: number | null;
    requests: number;
    errors: number;
    error: string | null;
    /** What that peer sees of the others, from its answer (null when it gave none). */
    sees: PeerView | null;
  }[];
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

/** Each peer's share of keys, estimated by hashing sample keys; recomputed when membership changes. */
class RingShares {
  readonly #pool: StatsSource['pool'];
  #members = '';
  #shares = new Map<string, number>();

  constructor(pool: StatsSource['pool']) {
    this.#pool = pool;
  }

  get(): Map<string, number> {
    const members = this.#pool.peers().join(' ');
    if (members !== this.#members) {
      const counts = new Map<string, number>();
      for (let i = 0; i < SHARE_SAMPLES; i++) {
        const owner = this.#pool.ownerOf(`share-sample-${i}`) ?? '';
        counts.set(owner, (counts.get(owner) ?? 0) + 1);
      }
      this.#members = members;
      this.#shares = new Map([...counts].map(([url, n]) => [url, n / SHARE_SAMPLES]));
    }
    return this.#shares;
  }
}

/**
 * The page's model: every peer's stats (from the shared stats round: however many pages are
 * open, each peer is asked once per round), this peer's view of each, summed per group.
 */
async function clusterModel(source: StatsSource, shares: RingShares, rounds: StatsRounds): Promise<DashboardModel> {
  const results = await rounds.gather();
  const { pool } = source;
  const mine = membershipHash(pool.peers());
  const share = shares.get();
  const getters = pool.getters();
  const peers = results.map((r) => {
    const monitor = getters.get(r.url)?.monitor;
    const self = r.url === pool.self;
    return {
      url: r.url,
      self,
      share: share.get(r.url) ?? 0,
      state: !r.ok ? r.state : getters.get(r.url)?.isDown ? 'backing off' : 'up',
      // This peer's requests to it when there were any, else the stats request just made.
      latencyMs: self ? null : (monitor?.latencyMs ?? r.ms),
      requests: monitor?.requests ?? 0,
      errors: monitor ? Object.values(monitor.errors).reduce((n: number, v) => n + (v ?? 0), 0) : 0,
      error: r.ok ? (monitor?.lastError?.message ?? null) : r.error,
      sees: r.ok ? r.doc.view : null,
    };
  });
  const names = new Set(results.flatMap((r) => (r.ok ? Object.keys(r.doc.groups) : [])));
  const groups = [...names].sort().map((name) => {
    const rows = results.map((r) => {
      const g = r.ok ? r.doc.groups[name] : undefined;
      return { url: r.url, state: r.ok ? (g ? 'up' : 'no such group') : r.state, figures: g ? figures(g) : null };
    });
    return { name, cluster: sum(rows.flatMap((p) => (p.figures ? [p.figures] : []))), peers: rows };
  });
  const agreement = results.every((r) => !r.ok || (r.doc.members.hash === mine && r.doc.ring === source.ring));
  return { self: pool.self, time: Date.now(), ring: source.ring, refreshMs: REFRESH_MS, agreement, peers, groups };
}

/** The page's Content-Security-Policy: its inline script and style are allowed by their hashes only. */
function contentSecurityPolicy(): string {
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  return [
    "default-src 'none'",
    `script-src ${hash(PAGE_SCRIPT)}`,
    `style-src ${hash(PAGE_STYLE)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * The dashboard: one page (inline script and style, no build step) and the two JSON answers it
 * reads, `api/cluster` and `api/owner?key=`. Mount it behind the app's own auth: it shows every
 * peer's URL and figures. It calls next() for what it does not serve. A name that slipped past
 * the page's escaping still could not run: the CSP allows only the page's own inline code.
 */
export function dashboard(source: StatsSource, rounds: StatsRounds): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void {
  const csp = contentSecurityPolicy();
  const html = Buffer.from(pageHtml());
  const shares = new RingShares(source.pool);
  const json = (res: ServerResponse, status: number, value: unknown) => send(res, status, 'application/json', JSON.stringify(value));

  return (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') return next ? next() : send(res, 405, 'text/plain', 'GET only\n');
    if (path === '/' || path === '/index.html') return send(res, 200, 'text/html; charset=utf-8', html, { 'content-security-policy': csp });
    if (path === '/api/cluster') {
      clusterModel(source, shares, rounds).then(
        (model) => json(res, 200, model),
        (err) => json(res, 500, { error: messageOf(err) }),
      );
      return;
    }
    if (path === '/api/owner') {
      const key = url.searchParams.get('key');
      if (!key || key.length > MAX_OWNER_KEY) return json(res, 400, { error: `give a key of 1 to ${MAX_OWNER_KEY} characters: ?key=...` });
      const owner = source.pool.ownerOf(key) ?? null;
      return json(res, 200, { key, owner, self: owner === source.pool.self });
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
