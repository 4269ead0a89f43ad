/**
 * statsdoc.ts is the stats document: one peer's figures (groups, caches, peer clients, membership) as the
 * _stats route serves them; the bounded answer a stats round asks for instead (its own figures and a
 * summary of its view: O(groups) bytes, not O(peers)); and the checks an answer read from another peer passes.
 */

import type { Group } from '../cache/group.js';
import type { LRUStats } from '../cache/lru.js';
import type { GroupRegistry } from '../cache/registry.js';
import type { GroupStats } from '../cache/stats.js';
import type { PeerErrorCause } from '../client/peermonitor.js';
import { membershipHash } from '../cluster/agreement.js';
import type { HttpPool } from '../cluster/httppool.js';

/** Most peers a round's answer names (those it sees down, sorted); the rest are only counted. */
export const MAX_NAMED_PEERS = 16;

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
  /** Whether it has answered anything (a request or a probe) since this peer started; absent from older geecache peers. */
  heard?: boolean;
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
      heard: getter.heardFrom,
    };
  }
  return { self: pool.self, peers: pool.peers(), ring, basePath, time: Date.now(), groups, peerClients };
}

/** What one peer sees of the others, bounded whatever their number: counts, and the first few it sees down. */
export interface PeerView {
  /** Other peers it has a client for. */
  peers: number;
  /** Of them, those its client skips as down (they refused a connection or went silent). */
  down: number;
  /** Of them, those it has not heard from yet (nothing asked, or no answer yet); absent when it does not say (an older geecache). */
  unknown?: number;
  /** The first {@link MAX_NAMED_PEERS} of those down, sorted. */
  downPeers: string[];
}

/**
 * A peer's answer in a stats round (`GET {basePath}_stats?view=round`): what the dashboard and
 * clusterHealth() use — its figures per group, its ring and basePath, its membership as a count
 * and an order-free digest to compare with (membershipHash) — and a bounded summary of its view
 * of the others. O(groups) bytes, so a round over N peers is O(N), where full documents are O(N²).
 */
export interface RoundStats {
  self: string;
  ring: string;
  basePath: string;
  /** That peer's clock, ms since the epoch. */
  time: number;
  /** Its membership: how many peers it lists (itself included), and their digest. */
  members: { count: number; hash: string };
  groups: Record<string, GroupFigures>;
  view: PeerView;
}

/** This peer's answer in a stats round. */
export function roundStats(pool: HttpPool, registry: GroupRegistry, ring: string, basePath: string): RoundStats {
  const groups: Record<string, GroupFigures> = {};
  for (const group of registry.groups()) groups[group.name] = groupFigures(group);
  const view: PeerView = { peers: 0, down: 0, unknown: 0, downPeers: [] };
  const down: string[] = [];
  for (const [url, getter] of pool.getters()) {
    view.peers++;
    if (getter.isDown) down.push(url);
    else if (!getter.heardFrom) view.unknown = (view.unknown ?? 0) + 1;
  }
  view.down = down.length;
  view.downPeers = down.sort().slice(0, MAX_NAMED_PEERS);
  const peers = pool.peers();
  return { self: pool.self, ring, basePath, time: Date.now(), members: { count: peers.length, hash: membershipHash(peers) }, groups, view };
}

/** A full document (from a peer that answered the round with one: an older geecache) as a round's answer. */
export function summarize(doc: StatsDocument): RoundStats {
  const clients = Object.entries(doc.peerClients);
  const down = clients.filter(([, c]) => c.backingOff).map(([url]) => url);
  const view: PeerView = { peers: clients.length, down: down.length, downPeers: down.sort().slice(0, MAX_NAMED_PEERS) };
  // Older documents do not say whether a peer was heard from.
  if (clients.every(([, c]) => typeof c.heard === 'boolean')) view.unknown = clients.filter(([, c]) => !c.backingOff && !c.heard).length;
  const { self, ring, basePath, time, groups, peers } = doc;
  return { self, ring, basePath, time, members: { count: peers.length, hash: membershipHash(peers) }, groups, view };
}

function groupFigures(group: Group): GroupFigures {
  const { main, hot } = group.cacheStats();
  const latency = group.getterLatency.snapshot();
  return { stats: { ...group.stats }, main, hot, getter: { count: latency.count, seconds: latency.sum } };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const fail = (what: string): never => {
  throw new Error(`bad stats answer: ${what}`);
};

/** The fields both answers share: self, ring, basePath, time, and groups of counts. */
function checkCommon(value: Record<string, unknown>): void {
  if (typeof value.self !== 'string') fail('self is not a string');
  if (typeof value.ring !== 'string' || typeof value.basePath !== 'string' || !isCount(value.time)) fail('ring, basePath or time missing');
  if (!isObject(value.groups)) fail('groups missing');
  for (const [name, g] of Object.entries(value.groups as object)) {
    if (!isObject(g) || !isObject(g.stats) || !isObject(g.main) || !isObject(g.hot) || !isObject(g.getter)) fail(`group ${JSON.stringify(name)} is malformed`);
    const fig = g as unknown as GroupFigures;
    const numbers = [...Object.values(fig.stats), ...Object.values(fig.main), ...Object.values(fig.hot), fig.getter.count, fig.getter.seconds];
    if (!numbers.every(isCount)) fail(`group ${JSON.stringify(name)} has a figure that is not a count`);
  }
}

/**
 * Checks a peer's full stats document field by field and returns it, or throws saying what is
 * wrong: the dashboard shows such a peer as "bad answer" and renders the rest.
 */
export function checkStatsDocument(value: unknown): StatsDocument {
  if (!isObject(value)) return fail('not a JSON object');
  checkCommon(value);
  if (!Array.isArray(value.peers) || !value.peers.every((p) => typeof p === 'string')) fail('peers is not a list of URLs');
  if (!isObject(value.peerClients)) fail('peerClients missing');
  for (const [url, c] of Object.entries(value.peerClients as object)) {
    if (!isObject(c) || !isCount(c.requests) || !isObject(c.errors) || typeof c.backingOff !== 'boolean') fail(`peer ${JSON.stringify(url)} is malformed`);
  }
  return value as unknown as StatsDocument;
}

/**
 * A peer's answer to a round's stats request as a {@link RoundStats}, or throws saying what is
 * wrong (see checkStatsDocument): a round's answer is checked as one, a full document (a peer
 * that does not know `?view=round`) is checked and summarized. Names beyond MAX_NAMED_PEERS are dropped.
 */
export function readRoundAnswer(value: unknown): RoundStats {
  if (!isObject(value)) return fail('not a JSON object');
  if (!('members' in value)) return summarize(checkStatsDocument(value));
  checkCommon(value);
  const { members, view } = value;
  if (!isObject(members) || !isCount(members.count) || typeof members.hash !== 'string') fail('members is not a count and a digest');
  if (!isObject(view) || !isCount(view.peers) || !isCount(view.down) || (view.unknown !== undefined && !isCount(view.unknown)))
    fail('view is not counts of peers');
  const named = (view as Record<string, unknown>).downPeers;
  if (!Array.isArray(named) || !named.every((p) => typeof p === 'string')) fail('view.downPeers is not a list of URLs');
  const answer = value as unknown as RoundStats;
  answer.view.downPeers = answer.view.downPeers.slice(0, MAX_NAMED_PEERS);
  return answer;
}
