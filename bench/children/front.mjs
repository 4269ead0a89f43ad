// The "front" of the vs-redis row: the Express app a user would write, `GET /v?k=` answering a
// 1 KB string value, read through one of three caches (config.mode):
//   geecache: app.use(geecache(...)) and `(await req.cache.get(k)).toString()` — one peer of a cluster;
//   redis:    ioredis GET; on a miss, load, SET, answer (the usual Express + Redis read-through);
//   lru:      a per-process lru-cache; on a miss, load and set.
// The loader (the "database") counts its calls and can take config.loaderMs. `/get?key=` is the same
// route under the stampede client's path; `/ping` answers ok. Commands over IPC: cpu, loads, stats.
import express from 'express';
import { geecache } from 'geecache';
import { LRUCache } from 'lru-cache';
import { sleep } from '../../test/helpers/wait.mjs';
import { config, cpuSample, ready, serve } from './ipc.mjs';

const valueBytes = config.valueBytes ?? 1024;
let loads = 0;
/** The loader: a string of valueBytes characters derived from the key (ASCII: 1 byte each). */
const load = async (key) => {
  loads++;
  if (config.loaderMs) await sleep(config.loaderMs);
  return `${key}:`.repeat(Math.ceil(valueBytes / (key.length + 1))).slice(0, valueBytes);
};

const app = express();
/** @type {(key: string) => Promise<string>} */
let read;
/** @type {ReturnType<typeof geecache> | undefined} */
let cache;
if (config.mode === 'geecache') {
  cache = geecache({
    self: config.self,
    peers: config.peers,
    secret: config.secret,
    logger: false,
    ...(config.transport ? { transport: config.transport } : {}),
    groups: { v: { maxBytes: config.maxBytes ?? 256 << 20, hotCacheFraction: config.hotCacheFraction, getter: (key) => load(key) } },
  });
  app.use(cache);
} else if (config.mode === 'redis') {
  const { Redis } = await import('ioredis');
  const redis = new Redis({ host: '127.0.0.1', port: config.redisPort, enableAutoPipelining: config.autoPipelining === true, lazyConnect: true });
  await redis.connect();
  read = async (key) => {
    const hit = await redis.get(key);
    if (hit !== null) return hit;
    const value = await load(key);
    await redis.set(key, value);
    return value;
  };
} else if (config.mode === 'lru') {
  /** @type {LRUCache<string, string>} */
  const lru = new LRUCache({ max: 1_000_000 });
  read = async (key) => {
    const hit = lru.get(key);
    if (hit !== undefined) return hit;
    const value = await load(key);
    lru.set(key, value);
    return value;
  };
} else throw new Error(`front: unknown mode ${config.mode}`);

// The same handler for every mode but the line that reads the value.
const handler = (param) =>
  config.mode === 'geecache'
    ? async (req, res) => {
        try {
          res.send((await req.cache.get(String(req.query[param]))).toString());
        } catch (err) {
          res.status(500).send(`error: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    : async (req, res) => {
        try {
          res.send(await read(String(req.query[param])));
        } catch (err) {
          res.status(500).send(`error: ${err instanceof Error ? err.message : String(err)}`);
        }
      };
app.get('/v', handler('k'));
app.get('/get', handler('key'));
app.get('/ping', (_req, res) => res.send('ok'));

serve({
  cpu: () => cpuSample(),
  loads: () => ({ loads }),
  stats: () => (cache ? { stats: cache.group('v').stats, cache: cache.group('v').cacheStats() } : {}),
  memory: () => process.memoryUsage(),
});
// As the geecache peers (test/fixtures/peer.mjs): the stampede row opens 3,334 sockets per front
// before its burst, which a 511-connection backlog and a 5 s keep-alive cut (ECONNRESET) on a loaded machine.
const server = app.listen({ port: config.port ?? 0, host: '127.0.0.1', backlog: 4096 }, () => {
  if (cache) cache.attach(server);
  ready(/** @type {import('node:net').AddressInfo} */ (server.address()).port);
});
server.keepAliveTimeout = 60_000;
