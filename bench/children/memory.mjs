// The memory row's process (started with --expose-gc, fresh for each value size): RSS growth while a
// group's main cache fills to maxBytes and keeps evicting, per byte the cache accounts (`run`); or
// while a front's hot cache fills with values fetched in batches from an owner (`hot`). With
// config.owner it is that owner instead: a peer whose getter returns random bytes (binary values,
// nothing compressible), counting the HTTP requests it is asked, so the row can tell gets per batch.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import v8 from 'node:v8';
import { geecache } from 'geecache';
import { fillAndChurn, valueGetter } from '../../test/helpers/churn.mjs';
import { sleep } from '../../test/helpers/wait.mjs';
import { config, ready, serve } from './ipc.mjs';

async function settle() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc?.();
    await sleep(50);
  }
  return process.memoryUsage();
}

/** MB committed / used per V8 heap space (new_space, old_space, ...): where "heap committed" goes. */
function heapSpaces() {
  const mb = (x) => Math.round(x / 2 ** 20);
  return Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, [mb(s.space_size), mb(s.space_used_size)]]));
}

async function run({ maxBytes, valueBytes, churn, kind = 'shared' }) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  const template = randomBytes(valueBytes); // random: no page can be shared or compressed away
  const middleware = geecache({ self: 'http://127.0.0.1:1', groups: { mem: { maxBytes, hotCacheFraction: 0, getter: valueGetter(kind, template) } } });
  const group = middleware.group('mem');
  const before = await settle();
  const snapshot = async ({ keysLoaded, peakRss }) => {
    const after = await settle();
    const main = group.cacheStats().main;
    const delta = (f) => after[f] - before[f];
    return {
      keysLoaded,
      // The highest RSS while loading so far, above the baseline: garbage not yet collected included.
      peakRssGrowth: peakRss - before.rss,
      accountedBytes: main.bytes,
      items: main.items,
      evictions: main.evictions,
      rssGrowth: delta('rss'),
      heapUsedGrowth: delta('heapUsed'),
      heapTotalGrowth: delta('heapTotal'),
      externalGrowth: delta('external'),
      arrayBuffersGrowth: delta('arrayBuffers'),
      ratio: delta('rss') / main.bytes,
      // RSS per byte of the values themselves (key + value, the old accounting).
      perValueByte: delta('rss') / (main.items * valueBytes),
      heapSpaces: heapSpaces(),
      before,
      after,
    };
  };
  // Full: loaded until the first eviction; then `churn` × maxBytes more of new keys.
  return fillAndChurn(group, { maxBytes, valueBytes, rounds: churn }, snapshot);
}

/**
 * The hot cache of a front (this process) that asks an owner (another process) for every key, the
 * gets of each step started in one turn (`batch: true`, the default: one request per step):
 * loaded until the hot cache's first eviction, then until it replaced as many entries as it holds
 * (a full hot cache admits 1 fetched value in 10, so this takes ~10× its size in gets).
 */
async function hot({ self, owner, secret, maxBytes, hotCacheFraction, perBatch, warmup = 0 }) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  const middleware = geecache({
    self,
    peers: [self, owner],
    secret,
    logger: false,
    groups: { mem: { maxBytes, hotCacheFraction, getter: () => "never: every key asked is the owner's" } },
  });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  middleware.attach(server);
  await new Promise((resolve) => server.listen(Number(new URL(self).port), '127.0.0.1', () => resolve(undefined)));
  const group = middleware.group('mem');
  let n = 0;
  /** The next `count` keys the owner owns. */
  const ownerKeys = (count) => {
    const keys = [];
    while (keys.length < count) {
      const key = `key:${n++}`;
      if (middleware.pool.ownerOf(key) === owner) keys.push(key);
    }
    return keys;
  };
  let gets = 0;
  let peakRss = 0;
  const step = async () => {
    const values = await Promise.all(ownerKeys(perBatch).map((k) => group.get(k)));
    gets += values.length;
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  };
  // The baseline: a process already serving this traffic, its hot cache empty. The traffic's own
  // cost — V8's young generation grows from ~2 to 32 MB under this allocation rate, sockets,
  // codecs — is the process's, not the hot cache's: `warmup` gets of other keys, then forgotten.
  const cold = await settle();
  const warmKeys = [];
  for (let w = 0; w < warmup; w += perBatch) {
    const keys = ownerKeys(perBatch);
    warmKeys.push(...keys);
    await Promise.all(keys.map((k) => group.get(k)));
  }
  for (const k of warmKeys) group.forget(k);
  const before = await settle();
  const snapshot = async () => {
    const after = await settle();
    const stats = group.cacheStats();
    const delta = (f) => after[f] - before[f];
    return {
      gets,
      accountedBytes: stats.hot.bytes,
      items: stats.hot.items,
      evictions: stats.hot.evictions,
      mainItems: stats.main.items,
      peerLoads: group.stats.peerLoads,
      localLoads: group.stats.localLoads,
      rssGrowth: delta('rss'),
      heapUsedGrowth: delta('heapUsed'),
      heapTotalGrowth: delta('heapTotal'),
      externalGrowth: delta('external'),
      arrayBuffersGrowth: delta('arrayBuffers'),
      ratio: delta('rss') / stats.hot.bytes,
      // The same from before the warm-up: the process's growth, the traffic's cost included.
      rssGrowthFromCold: after.rss - cold.rss,
      peakRssGrowth: peakRss - before.rss,
      heapSpaces: heapSpaces(),
    };
  };
  try {
    const evicted = group.cacheStats().hot.evictions; // by the warm-up, in a small cache
    while (group.cacheStats().hot.evictions === evicted) await step();
    const full = await snapshot();
    const target = evicted + group.cacheStats().hot.items;
    while (group.cacheStats().hot.evictions < target) await step();
    const churned = await snapshot();
    return { full, churned };
  } finally {
    await middleware.close();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** The owner: a peer on config.port whose getter returns `valueBytes` random bytes. */
async function startOwner() {
  const middleware = geecache({
    self: config.self,
    peers: config.peers,
    secret: config.secret,
    logger: false,
    groups: { mem: { maxBytes: config.maxBytes, getter: () => randomBytes(config.valueBytes) } },
  });
  let requests = 0;
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  middleware.attach(server);
  server.on('request', () => requests++); // after attach: beside its listener, so every request counts
  await new Promise((resolve) => server.listen(Number(new URL(config.self).port), '127.0.0.1', () => resolve(undefined)));
  serve({ requests: () => requests });
  ready(Number(new URL(config.self).port));
}

if (config.owner) await startOwner();
else {
  serve({ run, hot });
  ready();
}
