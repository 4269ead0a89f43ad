// An in-process cluster for the bulk-read and tag tests: N geecache peers on real HTTP servers on
// loopback, whose group "items" loads from one shared "database" (a Map) through a bulk getter
// (getMany), and with `single` a getter too, tagging each value with the tags `tags` gives its
// key. Knobs: keys the bulk getter leaves out of its answer (`omit`), keys whose call throws
// (`throwFor`), and `gate`, which holds every load until released. Each load reads the database
// first and answers later, so a held load returns what the database held when it started.
import { Group, type GroupOptions, NotFoundError } from '../../lib/index.js';
import { closePeers, type InProcessPeer, startInProcessPeers } from './peer.js';

export const TAG_SECRET = 'test-secret-0123456789';

export interface TagPeer {
  url: string;
  peer: InProcessPeer;
  group: Group;
}

export interface TagCluster {
  peers: TagPeer[];
  db: Map<string, string>;
  /** The tags the getters give each key's value (none when absent). */
  tags: Map<string, string[]>;
  /** Per peer: the keys of each bulk getter call, in order. */
  calls: string[][][];
  /** Per peer: the keys the single getter ran for. */
  singles: string[][];
  gate: Promise<void> | undefined;
  omit: Set<string>;
  throwFor: Set<string>;
  ownerOf(key: string): TagPeer;
  /** The `index`th peer that does not own `key`. */
  otherThan(key: string, index?: number): TagPeer;
  /** Bulk getter calls across the cluster. */
  totalCalls(): number;
  close(): Promise<void>;
}

export interface TagClusterOptions {
  /** Give the group a single getter as well as getMany. */
  single?: boolean;
  groupOptions?: Partial<GroupOptions>;
  timeoutMs?: number;
}

/** What a database read answers for `keys`: values (undefined: missing) and tags, read now. */
function read(cluster: TagCluster, keys: readonly string[]) {
  return keys.map((key) => ({ key, value: cluster.db.get(key), tags: cluster.tags.get(key) }));
}

export async function startTagCluster(n: number, { single = false, groupOptions = {}, timeoutMs }: TagClusterOptions = {}): Promise<TagCluster> {
  const cluster: TagCluster = {
    peers: [],
    db: new Map(),
    tags: new Map(),
    calls: Array.from({ length: n }, () => []),
    singles: Array.from({ length: n }, () => []),
    gate: undefined,
    omit: new Set(),
    throwFor: new Set(),
    ownerOf: (key) => cluster.peers.find((p) => p.url === cluster.peers[0].peer.cache.pool.ownerOf(key)) as TagPeer,
    otherThan: (key, index = 0) => cluster.peers.filter((p) => p.url !== cluster.peers[0].peer.cache.pool.ownerOf(key))[index],
    totalCalls: () => cluster.calls.reduce((sum, calls) => sum + calls.length, 0),
    close: () => closePeers(started),
  };
  const started = await startInProcessPeers(n, (self, urls, i) => ({
    self,
    peers: urls,
    secret: TAG_SECRET,
    logger: false,
    timeoutMs,
    groups: {
      items: {
        maxBytes: 1 << 20,
        ...groupOptions,
        getMany: async (keys, context) => {
          cluster.calls[i].push([...keys]);
          const rows = read(cluster, keys);
          if (cluster.gate) await cluster.gate;
          if (keys.some((key) => cluster.throwFor.has(key))) throw new Error(`backend failed for ${keys.join(',')}`);
          const out = new Map<string, string>();
          for (const row of rows) {
            if (row.value === undefined || cluster.omit.has(row.key)) continue;
            out.set(row.key, row.value);
            if (row.tags) context.tags(row.key, ...row.tags);
          }
          return out;
        },
        ...(single
          ? {
              getter: async (key: string, context: { tags(...tags: string[]): void }) => {
                cluster.singles[i].push(key);
                const [row] = read(cluster, [key]);
                if (cluster.gate) await cluster.gate;
                if (cluster.throwFor.has(key)) throw new Error(`backend failed for ${key}`);
                if (row.value === undefined || cluster.omit.has(key)) throw new NotFoundError(`no ${key}`);
                if (row.tags) context.tags(...row.tags);
                return row.value;
              },
            }
          : {}),
      },
    },
  }));
  cluster.peers = started.map((peer) => ({ url: peer.url, peer, group: peer.cache.group('items') }));
  return cluster;
}

/** A group alone (no peers) loading from `db` through getMany, recording each call's keys. */
export function soloGroup(db: Map<string, string>, options: Partial<GroupOptions> = {}): { group: Group; calls: string[][] } {
  const calls: string[][] = [];
  const group = new Group('solo', {
    maxBytes: 1 << 20,
    getMany: async (keys) => {
      calls.push([...keys]);
      return new Map(keys.flatMap((key) => (db.has(key) ? [[key, db.get(key) as string]] : [])));
    },
    ...options,
  });
  return { group, calls };
}
