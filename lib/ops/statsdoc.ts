/**
 * statsdoc.ts is the stats document: one peer's figures (groups, caches, peer clients, membership) as the
 * _stats route serves them, and the check a document read from another peer passes.
 */

import type { Group } from '../cache/group.js';
import type { LRUStats } from '../cache/lru.js';
import type { GroupRegistry } from '../cache/registry.js';
import type { GroupStats } from '../cache/stats.js';
import type { HttpGetter } from '../client/httpgetter.js';
import type { PeerErrorCause } from '../client/peermonitor.js';
import type { HttpPool } from '../cluster/httppool.js';
import { messageOf } from '../common/errors.js';

/** Largest stats answer read from a peer. */
const MAX_STATS_BYTES = 1 << 20;

/** One group's figures on one peer. */
export interface GroupFigures {
  stats: GroupStats;
  main: LRUStats;
  hot: LRUStats;
  /** Getter runs and their total time. */
  getter: { count: number; seconds: number };
}

/** What this peer sees of one other peer. */
export interface PeerClientFigures {
  requests: number;
  errors: Partial<Record<PeerErrorCause, number>>;
  /** Moving average latency of requests to it, in ms. */
  latencyMs: number | null;
  /** Skipped after a refused connection or a timeout. */
  backingOff: boolean;
  lastError: { cause: PeerErrorCause; message: string; at: number } | null;
  /** Its clock less this one's, in ms, measured from its answers (null before it sent a value that expires). */
  clockSkewMs: number | null;
}

/** A peer's answer to the stats request: what the dashboard and health() aggregate. */
export interface StatsDocument {
  self: string;
  /** Membership as that peer sees it. */
  peers: string[];
  ring: string;
  basePath: string;
  /** That peer's clock, ms since the epoch. */
  time: number;
  groups: Record<string, GroupFigures>;
  peerClients: Record<string, PeerClientFigures>;
}

/** The ring option as a name other peers can compare. */
export function ringName(ring: unknown): string {
  return typeof ring === 'string' ? ring : 'custom';
}

/** This peer's figures. */
export function localStats(pool: HttpPool, registry: GroupRegistry, ring: string, basePath: string): StatsDocument {
  const groups: Record<string, GroupFigures> = {};
  for (const group of registry.groups()) groups[group.name] = groupFigures(group);
  const peerClients: Record<string, PeerClientFigures> = {};
  for (const [url, getter] of pool.getters()) {
    const m = getter.monitor;
    const last = m.lastError;
    peerClients[url] = {
      requests: m.requests,
      errors: { ...m.errors },
      latencyMs: m.latencyMs ?? null,
      backingOff: getter.isDown,
      lastError: last ? { cause: last.cause, message: last.message, at: last.at } : null,
      clockSkewMs: m.clock.ms === undefined ? null : Math.round(m.clock.ms),
    };
  }
  return { self: pool.self, peers: pool.peers(), ring, basePath, time: Date.now(), groups, peerClients };
}

function groupFigures(group: Group): GroupFigures {
  const { main, hot } = group.cacheStats();
  const latency = group.getterLatency.snapshot();
  return { stats: { ...group.stats }, main, hot, getter: { count: latency.count, seconds: latency.sum } };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a peer's stats answer field by field and returns it, or throws saying what is wrong:
 * the dashboard shows such a peer as "bad answer" and renders the rest.
 */
export function checkStatsDocument(value: unknown): StatsDocument {
  const fail = (what: string): never => {
    throw new Error(`bad stats answer: ${what}`);
  };
  if (!isObject(value)) return fail('not a JSON object');
  if (typeof value.self !== 'string') fail('self is not a string');
  if (!Array.isArray(value.peers) || !value.peers.every((p) => typeof p === 'string')) fail('peers is not a list of URLs');
  if (typeof value.ring !== 'string' || typeof value.basePath !== 'string' || !isCount(value.time)) fail('ring, basePath or time missing');
  if (!isObject(value.groups) || !isObject(value.peerClients)) fail('groups or peerClients missing');
  for (const [name, g] of Object.entries(value.groups as object)) {
    if (!isObject(g) || !isObject(g.stats) || !isObject(g.main) || !isObject(g.hot) || !isObject(g.getter)) fail(`group ${JSON.stringify(name)} is malformed`);
    const fig = g as unknown as GroupFigures;
    const numbers = [...Object.values(fig.stats), ...Object.values(fig.main), ...Object.values(fig.hot), fig.getter.count, fig.getter.seconds];
    if (!numbers.every(isCount)) fail(`group ${JSON.stringify(name)} has a figure that is not a count`);
  }
  for (const [url, c] of Object.entries(value.peerClients as object)) {
    if (!isObject(c) || !isCount(c.requests) || !isObject(c.errors) || typeof c.backingOff !== 'boolean') fail(`peer ${JSON.stringify(url)} is malformed`);
  }
  return value as unknown as StatsDocument;
}

/** The outcome of asking one peer for its stats. */
export type PeerStatsResult =
  | { url: string; ok: true; doc: StatsDocument; ms: number }
  | { url: string; ok: false; state: 'down' | 'unauthorized' | 'no stats' | 'bad answer'; error: string; ms: number };

/**
 * Asks `peer` for its stats through its client in the pool (HttpGetter.stats: the transport,
 * signer and timeouts of its gets); never throws. Without a secret there are no stats to ask for
 * (the route answers 403).
 */
export async function fetchStats(getter: HttpGetter | undefined, peer: string, secret: string | false | undefined): Promise<PeerStatsResult> {
  const started = performance.now();
  const ms = () => performance.now() - started;
  if (!getter) return { url: peer, ok: false, state: 'down', error: 'no client for this peer: geecache was closed', ms: 0 };
  let status: number;
  let body: Buffer | undefined;
  try {
    ({ status, body } = await getter.stats(MAX_STATS_BYTES));
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
    return { url: peer, ok: true, doc: checkStatsDocument(json), ms: ms() };
  } catch (err) {
    return { url: peer, ok: false, state: 'bad answer', error: (err as Error).message.slice(0, 200), ms: ms() };
  }
}

/** What gatherStats needs of the cache. */
export interface StatsSource {
  pool: HttpPool;
  registry: GroupRegistry;
  /** Whether requests are signed: without a secret, peers serve no stats. */
  secret: string | false | undefined;
  ring: string;
  basePath: string;
}

/** Every peer's stats: this one's read locally, the others' asked for in parallel. In ring order. */
export async function gatherStats(source: StatsSource): Promise<PeerStatsResult[]> {
  const { pool } = source;
  return Promise.all(
    pool
      .peers()
      .map(
        async (url): Promise<PeerStatsResult> =>
          url === pool.self
            ? { url, ok: true, doc: localStats(pool, source.registry, source.ring, source.basePath), ms: 0 }
            : fetchStats(pool.getters().get(url), url, source.secret),
      ),
  );
}
