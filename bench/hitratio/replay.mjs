// Replays a trace through the real Group, and through a cluster of three in-process peers: every
// miss is a getter call, counted; a hit is a get that never reached the getter.
import http from 'node:http';
import express from 'express';
import { Group, geecache } from 'geecache';

/** Bytes of every value: with an 8-character key, each entry costs 256 + 8 + 1,024 = 1,288 bytes under maxBytes. */
export const VALUE_BYTES = 1024;
const VALUE = 'v'.repeat(VALUE_BYTES);
/** What one entry costs against maxBytes (LRU.cost: 256 bytes of overhead + key + value). */
export const ENTRY_BYTES = 256 + 8 + VALUE_BYTES;

/**
 * Hit ratio of a Group with room for `capacity` entries (`capacity` × ENTRY_BYTES of maxBytes,
 * the policy's own memory included) replaying `accesses` one after the other, and the window
 * share the adaptive policy ended with. A hit is not awaited (its promise is already settled);
 * a miss is, so the next access sees it cached.
 * @param {Int32Array} accesses
 * @param {string[]} keys
 * @param {number} capacity
 * @param {'lru' | 'adaptive'} policy
 */
export async function replayGroup(accesses, keys, capacity, policy) {
  let loads = 0;
  const group = new Group(`hit-ratio-${policy}`, {
    maxBytes: capacity * ENTRY_BYTES,
    policy,
    getter: () => {
      loads++;
      return VALUE;
    },
  });
  const stats = group.stats;
  for (let i = 0; i < accesses.length; i++) {
    const before = stats.loads;
    const got = group.get(keys[accesses[i]]);
    if (stats.loads !== before) await got;
  }
  const main = group.cacheStats().main;
  group.close();
  return { hitRatio: 1 - loads / accesses.length, items: main.items };
}

/**
 * Getter calls of a cluster of three peers (real HTTP servers on loopback, one process) replaying
 * `accesses` as a load balancer would spread them: access i goes to peer i mod 3, through
 * middleware.get; each peer replays its share in order, the three at once. Each peer has room for
 * `capacity` entries.
 * @param {Int32Array} accesses
 * @param {string[]} keys
 * @param {number} capacity
 * @param {'lru' | 'adaptive'} policy
 */
export async function replayCluster(accesses, keys, capacity, policy) {
  const n = 3;
  const servers = Array.from({ length: n }, () => http.createServer());
  const ports = await Promise.all(
    servers.map(
      (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(/** @type {import('node:net').AddressInfo} */ (server.address()).port))),
    ),
  );
  const urls = ports.map((port) => `http://127.0.0.1:${port}`);
  let loads = 0;
  const peers = urls.map((self, i) => {
    const cache = geecache({
      self,
      peers: urls,
      secret: 'hit-ratio-bench-secret-0123456789',
      logger: false,
      groups: {
        trace: {
          maxBytes: capacity * ENTRY_BYTES,
          policy,
          getter: () => {
            loads++;
            return VALUE;
          },
        },
      },
    });
    const app = express();
    app.use(cache);
    servers[i].on('request', app);
    return cache;
  });
  try {
    await Promise.all(
      peers.map(async (cache, p) => {
        for (let i = p; i < accesses.length; i += n) await cache.get(keys[accesses[i]]);
      }),
    );
    const hot = peers.reduce((sum, cache) => sum + cache.group('trace').cacheStats().hot.items, 0);
    return { getterCalls: loads, hitRatio: 1 - loads / accesses.length, hotItems: hot };
  } finally {
    for (const cache of peers) await cache.close();
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  }
}
