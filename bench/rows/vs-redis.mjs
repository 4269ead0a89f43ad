// Row vs-redis: what a user would pick instead of geecache. The same Express handler,
// `GET /v?k=` answering a 1 KB string, in three fronts (bench/children/front.mjs):
//   geecache: peer A of 3 geecache peers (A, B, C), default options (hot cache 1/8) and the README's maxBytes (64 MiB); and the
//             same again with transport: 'undici' (a second cluster of 3);
//   redis:    Express + ioredis read-through against a real redis-server (persistence off);
//   lru:      Express + a per-process lru-cache.
// Workloads: uniform and zipf (s = 1) keys over 10,000 keys, every key loaded once before the
// rounds (a warm read-through cache). Load: wrk (whatever BENCH_LOADGEN says); with BENCH_PIN=1
// wrk is pinned to CPU 1 and every server to CPU 0 (taskset). Throughput is the front's answers; "front CPU" is the loaded front process alone,
// "system CPU" adds its peers (B, C) or redis-server.
import { RendezvousRing } from 'geecache';
import { freePorts, get200, HAS_TASKSET, round, SECRET, settings, startChild, stopAll } from '../lib/common.mjs';
import { wrkLoadgen } from '../lib/loadgen.mjs';
import { findRedis, NO_REDIS, startRedis } from '../lib/redis.mjs';
import { cpuRatio, firstCpuRatio, measure, pairedRatio } from '../lib/throughput.mjs';

export const name = 'vs-redis';
export const title = 'vs Express + Redis';
export const needsLoadgen = true;

const SERVER_CPUS = settings.pin ? '0' : undefined;
const LOAD_CPUS = '1';

/** A deterministic PRNG (mulberry32), so every front gets the same key sequence. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` draws from keys[0..], uniform or zipf(s = 1) by rank. */
function sample(keys, n, kind, seed) {
  const random = prng(seed);
  if (kind === 'uniform') return Array.from({ length: n }, () => keys[Math.floor(random() * keys.length)]);
  const cdf = new Float64Array(keys.length);
  let sum = 0;
  for (let i = 0; i < keys.length; i++) cdf[i] = sum += 1 / (i + 1);
  return Array.from({ length: n }, () => {
    const x = random() * sum;
    let lo = 0;
    let hi = keys.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return keys[lo];
  });
}

async function eachLimited(items, limit, fn) {
  let i = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ loadgen: fallback, log }) {
  const redisBin = findRedis();
  const keyCount = settings.smoke ? 100 : 10_000;
  if (!redisBin) {
    log(`  ${NO_REDIS}`);
    return { value: Number.NaN, unit: '×', goal: { op: '>=', target: 1, text: '≥ 1.0×' }, reference: NO_REDIS, lines: [], details: { skipped: NO_REDIS } };
  }
  // wrk runs whole seconds: smoke mode keeps the harness's own (fractional) load generator.
  const loadgen = (settings.smoke ? undefined : wrkLoadgen()) ?? fallback;
  const ports = await freePorts(9);
  const urls = ports.slice(0, 3).map((p) => `http://127.0.0.1:${p}`);
  // A second cluster, the same but for transport: 'undici' (the opt-in transport, side by side).
  const undiciUrls = [ports[8], ports[6], ports[7]].map((p) => `http://127.0.0.1:${p}`);
  const handles = [];
  try {
    const front = (config, label) =>
      startChild('front.mjs', { valueBytes: settings.valueBytes, ...config }, { name: label, cpus: SERVER_CPUS }).then((h) => {
        handles.push(h);
        return h;
      });
    const redis = await startRedis(redisBin, ports[3], SERVER_CPUS);
    handles.push(redis);
    const undici = { transport: 'undici' };
    // The README's maxBytes, as a user would copy it: 64 MiB for 10,000 keys of 1 KB (13 MB of entries, as counted).
    const maxBytes = 64 << 20;
    const [a, b, c, ua, ub, uc, redisFront, lruFront] = await Promise.all([
      ...urls.map((self, i) => front({ mode: 'geecache', port: ports[i], self, peers: urls, secret: SECRET, maxBytes }, `gee:${ports[i]}`)),
      ...undiciUrls.map((self) =>
        front({ mode: 'geecache', port: Number(new URL(self).port), self, peers: undiciUrls, secret: SECRET, maxBytes, ...undici }, `gee-undici:${self}`),
      ),
      front({ mode: 'redis', port: ports[4], redisPort: ports[3] }, 'redis-front'),
      front({ mode: 'lru', port: ports[5] }, 'lru-front'),
    ]);
    const keys = Array.from({ length: keyCount }, (_, i) => `k${i}`);
    const ring = new RendezvousRing();
    ring.add(...urls);
    const localKeys = keys.filter((k) => ring.get(k) === urls[0]);
    // As many keys owned by B and C as A owns: the same working set, only the owner differs.
    const remoteKeys = keys.filter((k) => ring.get(k) !== urls[0]).slice(0, localKeys.length);
    const n = settings.smoke ? 2_000 : 100_000;
    const draws = {
      uniform: sample(keys, n, 'uniform', 1),
      zipf: sample(keys, n, 'zipf', 2),
      local: sample(localKeys, n, 'uniform', 3),
      remote: sample(remoteKeys, n, 'uniform', 4),
    };
    const paths = (list) => list.map((k) => `/v?k=${k}`);
    const base = { a: urls[0], ua: undiciUrls[0], redis: `http://127.0.0.1:${ports[4]}`, lru: `http://127.0.0.1:${ports[5]}` };

    // Warm every front: each key read once through it (geecache: the owners load and cache it).
    for (const [id, url] of Object.entries(base)) {
      await eachLimited(keys, 16, async (k) => {
        const body = await get200(`${url}/v?k=${k}`);
        if (body.length !== settings.valueBytes) throw new Error(`${id} front answered ${body.length} bytes for ${k}`);
      });
    }
    const before = await a.call({ cmd: 'stats' });

    const pin = settings.pin && loadgen.kind === 'wrk' && HAS_TASKSET ? { cpus: LOAD_CPUS } : {};
    // Each run follows untimed load of its own, so it measures its workload's steady state, not
    // what the configurations before it left: 6 s for a geecache front, whose hot copies expire
    // while other configurations run (hotTtlMs) and are fetched again, as on a front serving that
    // route all along; 1 s for the others, whose caches do not expire. (wrk runs whole seconds;
    // smoke runs are shorter.)
    const prewarm = settings.smoke ? settings.warmup : 1;
    const steady = settings.smoke ? settings.warmup : 6;
    const counters = async (/** @type {import('../lib/types.js').ChildHandle} */ h) => {
      const { stats } = await h.call({ cmd: 'stats' });
      return { gets: stats.gets, cacheHits: stats.cacheHits, hotRenewals: stats.hotRenewals ?? 0 };
    };
    const configs = [];
    for (const w of /** @type {const} */ (['uniform', 'zipf'])) {
      configs.push(
        { id: `gee-${w}`, servers: [a, b, c], load: () => ({ url: base.a, paths: paths(draws[w]), ...pin }), prewarm: steady, counters: () => counters(a) },
        { id: `undici-${w}`, servers: [ua, ub, uc], load: () => ({ url: base.ua, paths: paths(draws[w]), ...pin }), prewarm: steady },
        { id: `redis-${w}`, servers: [redisFront, redis], load: () => ({ url: base.redis, paths: paths(draws[w]), ...pin }), prewarm },
        { id: `lru-${w}`, servers: [lruFront], load: () => ({ url: base.lru, paths: paths(draws[w]), ...pin }), prewarm },
      );
    }
    configs.push(
      { id: 'gee-local', servers: [a, b, c], load: () => ({ url: base.a, paths: paths(draws.local), ...pin }), prewarm: steady, counters: () => counters(a) },
      { id: 'gee-remote', servers: [a, b, c], load: () => ({ url: base.a, paths: paths(draws.remote), ...pin }), prewarm: steady, counters: () => counters(a) },
      { id: 'lru-local', servers: [lruFront], load: () => ({ url: base.lru, paths: paths(draws.local), ...pin }), prewarm },
    );
    const m = await measure(loadgen, configs, { log });
    const after = await a.call({ cmd: 'stats' });
    const gets = after.stats.gets - before.stats.gets;
    const ownHits = (after.stats.cacheHits - before.stats.cacheHits) / Math.max(1, gets);
    const hotHits = (after.cache.hot.hits - before.cache.hot.hits) / Math.max(1, gets);

    const rps = (id) => Math.round(m[id].rps);
    const frontCpu = (id) => m[id].firstCpuUsPerReqRuns.slice().sort((x, y) => x - y)[m[id].firstCpuUsPerReqRuns.length >> 1];
    const goals = {
      uniform: /** @type {import('../lib/types.js').Goal} */ ({ op: '>=', target: 1.0, text: '≥ 1.0×' }),
      zipf: /** @type {import('../lib/types.js').Goal} */ ({ op: '>=', target: 1.3, text: '≥ 1.3×' }),
      local: /** @type {import('../lib/types.js').Goal} */ ({ op: '>=', target: 0.97, text: '≥ 0.97×' }),
    };
    /** @type {import('../lib/types.js').Line[]} */
    const lines = [];
    for (const w of /** @type {const} */ (['uniform', 'zipf'])) {
      lines.push(
        {
          label: `${w} keys (10,000, 1 KB): geecache front ÷ Express + Redis, throughput`,
          value: pairedRatio(m, `gee-${w}`, `redis-${w}`),
          goal: goals[w],
          measured: `${rps(`gee-${w}`)} vs ${rps(`redis-${w}`)} req/s; front CPU ${frontCpu(`gee-${w}`)} vs ${frontCpu(`redis-${w}`)} µs/req`,
        },
        {
          label: `… same, front CPU per request: Redis front ÷ geecache front`,
          value: firstCpuRatio(m, `gee-${w}`, `redis-${w}`),
          measured: `system CPU (front + B + C / front + redis-server): ${Math.round(m[`gee-${w}`].cpuUsPerReq)} vs ${Math.round(m[`redis-${w}`].cpuUsPerReq)} µs/req; ratio ${cpuRatio(m, `gee-${w}`, `redis-${w}`).toFixed(2)}×`,
        },
        {
          label: `… same with transport: 'undici' ÷ Express + Redis`,
          value: pairedRatio(m, `undici-${w}`, `redis-${w}`),
          goal: goals[w],
          measured: `${rps(`undici-${w}`)} req/s; front CPU ${frontCpu(`undici-${w}`)} µs/req (Redis front ÷ this: ${firstCpuRatio(m, `undici-${w}`, `redis-${w}`).toFixed(2)}×)`,
        },
        {
          label: `${w} keys: Express + lru-cache (per process) ÷ Express + Redis`,
          value: pairedRatio(m, `lru-${w}`, `redis-${w}`),
          measured: `${rps(`lru-${w}`)} req/s, front CPU ${frontCpu(`lru-${w}`)} µs/req`,
        },
      );
    }
    lines.push({
      label: 'keys owned by A only: geecache route ÷ the same route on a plain lru-cache',
      value: pairedRatio(m, 'gee-local', 'lru-local'),
      goal: goals.local,
      measured: `${rps('gee-local')} vs ${rps('lru-local')} req/s; front CPU ${frontCpu('gee-local')} vs ${frontCpu('lru-local')} µs/req (CPU ratio ${firstCpuRatio(m, 'gee-local', 'lru-local').toFixed(2)}×)`,
    });
    lines.push({
      label: 'keys owned by B and C only: geecache route ÷ the same route with keys owned by A only, front CPU per request',
      value: firstCpuRatio(m, 'gee-local', 'gee-remote'),
      unit: '×',
      goal: { op: '<=', target: 1.1, text: '≤ 1.1×' },
      measured: `front CPU ${frontCpu('gee-remote')} vs ${frontCpu('gee-local')} µs/req; ${rps('gee-remote')} vs ${rps('gee-local')} req/s (${remoteKeys.length} keys each)`,
    });
    const counted = (id) => m[id].counted ?? { gets: 0, cacheHits: 0, hotRenewals: 0 };
    const own = (id) => counted(id).cacheHits / Math.max(1, counted(id).gets);
    lines.push({
      label: "share of A's gets answered from its own caches during the measured runs: uniform / zipf / B-and-C-owned keys",
      value: round(own('gee-uniform'), 3),
      unit: '',
      measured: `uniform ${own('gee-uniform').toFixed(3)}, zipf ${own('gee-zipf').toFixed(3)}, B-and-C-owned ${own('gee-remote').toFixed(3)}; hot copies renewed during them: ${['gee-uniform', 'gee-zipf', 'gee-remote'].map((id) => counted(id).hotRenewals).join(' / ')}`,
    });
    lines.push({
      label: "share of A's gets answered from its own caches (main + hot), all workloads",
      value: round(ownHits, 3),
      unit: '',
      measured: `hot cache ${Math.round(hotHits * 100)}% of gets; hot cache holds ${after.cache.hot.items} items`,
    });
    const headline = pairedRatio(m, 'gee-uniform', 'redis-uniform');
    return {
      value: headline,
      unit: '×',
      goal: goals.uniform,
      reference: `Express + ioredis read-through on redis-server, same handler, same keys (${loadgen.kind}${pin.cpus ? ', pinned' : ''})`,
      lines,
      details: {
        keys: keyCount,
        valueBytes: settings.valueBytes,
        draws: n,
        loadgen: loadgen.kind,
        pinned: Boolean(pin.cpus),
        transports: { gee: 'node-fetch (default)', undici: 'undici' },
        measurements: m,
        ownHits,
        hotHits,
        cpuNote: 'cpu = % of one core for each server of a configuration: [A, B, C], [redis front, redis-server] or [lru front]',
      },
    };
  } finally {
    await stopAll(handles);
  }
}
