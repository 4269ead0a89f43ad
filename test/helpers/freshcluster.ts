// An in-process cluster for the freshness tests: N geecache peers on real HTTP servers on
// loopback in this process, sharing one "database" (a Map) that their getters read. Knobs per key:
// a key starting with "ttl<N>:" sets its own TTL of N ms through setTtl; a key missing from the
// database makes the getter throw NotFoundError; `gate` holds every getter run until released.
import type http from 'node:http';
import { type GeecacheMiddleware, type Group, type GroupOptions, NotFoundError } from '../../lib/index.js';
import { closePeers, startInProcessPeers } from './peer.js';

export const SECRET = 'test-secret-0123456789';

export interface FreshPeer {
  url: string;
  server: http.Server;
  cache: GeecacheMiddleware;
  group: Group;
  /** Getter runs on this peer, by key. */
  loads: Map<string, number>;
}

export interface FreshCluster {
  peers: FreshPeer[];
  db: Map<string, string>;
  /** Getter runs per key across the cluster. */
  loads(key: string): number;
  /** While set, getters that read the database wait for this promise before answering (a slow load). */
  gate: Promise<void> | undefined;
  /** Getters that fail (throw) while true. */
  failing: boolean;
  ownerOf(key: string): FreshPeer;
  /** A peer that does not own `key`. */
  otherThan(key: string, index?: number): FreshPeer;
  close(): Promise<void>;
}

export async function startFreshCluster(n: number, groupOptions: Partial<GroupOptions> = {}, options: { timeoutMs?: number } = {}): Promise<FreshCluster> {
  const loadsOf: Map<string, number>[] = Array.from({ length: n }, () => new Map());
  const cluster: FreshCluster = {
    peers: [],
    db: new Map(),
    gate: undefined,
    failing: false,
    loads: (key) => cluster.peers.reduce((sum, p) => sum + (p.loads.get(key) ?? 0), 0),
    ownerOf: (key) => cluster.peers.find((p) => p.url === cluster.peers[0].cache.pool.ownerOf(key))!,
    otherThan: (key, index = 0) => cluster.peers.filter((p) => p.url !== cluster.peers[0].cache.pool.ownerOf(key))[index],
    close: () => closePeers(started),
  };
  const started = await startInProcessPeers(n, (self, urls, i) => ({
    self,
    peers: urls,
    secret: SECRET,
    logger: false,
    timeoutMs: options.timeoutMs,
    groups: {
      scores: {
        maxBytes: 1 << 20,
        ...groupOptions,
        getter: async (key, { setTtl }) => {
          loadsOf[i].set(key, (loadsOf[i].get(key) ?? 0) + 1);
          // Read first, answer later: a slow load returns what the database held when it started.
          const value = cluster.db.get(key);
          if (cluster.gate) await cluster.gate;
          if (cluster.failing) throw new Error(`backend down for ${key}`);
          const ttl = /^ttl(\d+):/.exec(key);
          if (ttl) setTtl(Number(ttl[1]));
          if (value === undefined) throw new NotFoundError(`no ${key} in the database`);
          return value;
        },
      },
    },
  }));
  cluster.peers = started.map((p, i) => ({ url: p.url, server: p.server, cache: p.cache, group: p.cache.group('scores'), loads: loadsOf[i] }));
  return cluster;
}

/** Gets `key` on `peer` until its hot cache holds a copy (a copy is kept for 1 in 10 fetches); bounded. */
export async function untilHotCopy(peer: FreshPeer, key: string, tries = 500): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (peer.group.peek(key) !== undefined) return true;
    await peer.group.get(key);
  }
  return peer.group.peek(key) !== undefined;
}
