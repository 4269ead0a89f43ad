// One process of the `scale` row (bench/rows/scale.mjs): it hosts many geecache instances, each an
// HTTP server of its own on its own loopback address (127.1.x.y), sharing nothing but the process.
// Every request each server receives is counted by kind (peer gets, probes, stats, writes, app),
// with its bytes. Commands (IPC): start and stop instances, user traffic, writes, health calls,
// dashboard refreshes, and samples of this process's CPU, heap, sockets and timers.
import http from 'node:http';
import { config, cpuSample, ready, serve } from './ipc.mjs';

// Timers held: Node lists only the timers that keep it alive (geecache unrefs its own), so the
// global timer functions are wrapped, before geecache loads, to keep the set of live ones.
const liveTimers = new Set();
/** @type {any} */
const timers = globalThis;
const { setTimeout: st, setInterval: si, clearTimeout: ct, clearInterval: ci } = timers;
timers.setTimeout = (/** @type {Function} */ fn, /** @type {any[]} */ ...rest) => {
  const timer = st(
    (/** @type {any[]} */ ...args) => {
      liveTimers.delete(timer);
      fn(...args);
    },
    ...rest,
  );
  liveTimers.add(timer);
  return timer;
};
timers.setInterval = (/** @type {any[]} */ ...args) => {
  const timer = si(...args);
  liveTimers.add(timer);
  return timer;
};
timers.clearTimeout = (/** @type {any} */ timer) => {
  liveTimers.delete(timer);
  ct(timer);
};
timers.clearInterval = (/** @type {any} */ timer) => {
  liveTimers.delete(timer);
  ci(timer);
};

const { geecache } = await import(config.dist ? `${config.dist}/index.js` : 'geecache');

const SECRET = 'bench-scale-secret-0123456789abcdef';
const BASE = '/_geecache/';
const KINDS = ['get', 'batch', 'probe', 'stats', 'remove', 'set', 'other', 'app'];

/** Where discovery answers come from: the fleet's list as the parent last sent it. */
let listed = [];
/** By index: { url, host, port, server, cache, counts, bytes }. */
const instances = new Map();

const silent = { info() {}, warn() {}, error() {} };
const zero = () => Object.fromEntries(KINDS.map((k) => [k, 0]));

function kindOf(req) {
  const path = (req.url ?? '').split('?')[0];
  if (!path.startsWith(BASE)) return 'app';
  if (req.method === 'DELETE') return 'remove';
  if (req.method === 'PUT') return 'set';
  if (req.method === 'POST') return 'batch';
  if (req.method !== 'GET') return 'other';
  if (path === BASE) return 'probe';
  if (path === `${BASE}_stats`) return 'stats';
  return 'get';
}

async function startOne({ i, host, port }) {
  const url = `http://${host}:${port}`;
  const cache = geecache({
    self: url,
    peers: config.discovery ? { discover: () => listed, intervalMs: config.intervalMs ?? 1_000 } : listed,
    secret: SECRET,
    ring: config.ring ?? 'default',
    logger: silent,
    groups: { g: { maxBytes: 1 << 20, getter: (key) => `value:${key}` } },
  });
  const dashboard = cache.dashboard();
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/dash/')) {
      req.url = url.slice('/dash'.length);
      return dashboard(req, res);
    }
    res.writeHead(404).end();
  });
  cache.attach(server);
  const one = { i, url, host, port, server, cache, counts: zero(), bytes: zero() };
  // Counted before geecache sees the request (attach put its listener first; this goes before it).
  server.prependListener('request', (req, res) => {
    const kind = kindOf(req);
    one.counts[kind]++;
    one.bytes[kind] += Number(req.headers['content-length'] ?? 0);
    // Bytes of the answer's body, however it is written.
    const { write, end } = res;
    const count = (chunk) => {
      if (chunk && typeof chunk !== 'function') one.bytes[kind] += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    };
    /** @type {any} */
    const wrapped = res;
    wrapped.write = function (/** @type {any} */ chunk, /** @type {any[]} */ ...rest) {
      count(chunk);
      return Reflect.apply(write, this, [chunk, ...rest]);
    };
    wrapped.end = function (/** @type {any} */ chunk, /** @type {any[]} */ ...rest) {
      count(chunk);
      return Reflect.apply(end, this, [chunk, ...rest]);
    };
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(undefined));
  });
  instances.set(i, one);
}

async function stopOne(i) {
  const one = instances.get(i);
  if (!one) return;
  instances.delete(i);
  await one.cache.close();
  await new Promise((resolve) => {
    one.server.close(() => resolve(undefined));
    one.server.closeAllConnections();
  });
}

/** Live handles of this process by kind (sockets, servers, timers), as Node lists them. */
function resources() {
  const byType = {};
  for (const type of process.getActiveResourcesInfo()) byType[type] = (byType[type] ?? 0) + 1;
  // Timers that have not fired or been cleared, unref'd or not (an interval counts until cleared).
  let timers = 0;
  for (const t of liveTimers) {
    if (t._destroyed) liveTimers.delete(t);
    else timers++;
  }
  byType.Timeout = timers;
  return byType;
}

function sample(gc = false) {
  if (gc) globalThis.gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { ...cpuSample(), heapUsed, rss, resources: resources(), instances: instances.size };
}

serve({
  setList: ({ peers }) => {
    listed = peers;
    return listed.length;
  },
  start: async ({ list }) => {
    const before = sample(true);
    // A few at a time: 250 listens at once is fine, but each instance builds its pool too.
    for (let k = 0; k < list.length; k += 25) await Promise.all(list.slice(k, k + 25).map(startOne));
    return { before, after: sample(true) };
  },
  stop: async ({ indices }) => {
    await Promise.all(indices.map(stopOne));
    return instances.size;
  },
  sample: ({ gc }) => sample(gc),
  /** Requests received since the last reset, summed, and the busiest instance's total. */
  counters: ({ reset }) => {
    const counts = zero();
    const bytes = zero();
    let maxPerInstance = 0;
    for (const one of instances.values()) {
      let total = 0;
      for (const k of KINDS) {
        counts[k] += one.counts[k];
        bytes[k] += one.bytes[k];
        if (k !== 'app') total += one.counts[k];
      }
      maxPerInstance = Math.max(maxPerInstance, total);
      if (reset) {
        one.counts = zero();
        one.bytes = zero();
      }
    }
    return { counts, bytes, maxPerInstance, instances: instances.size };
  },
  /** User gets: `perSecond` per instance for `ms`, each of a random key of `keys`. */
  traffic: async ({ perSecond, ms, keys }) => {
    let gets = 0;
    let failed = 0;
    const pending = [];
    const list = [...instances.values()];
    let turn = 0;
    const start = performance.now();
    // Paced by the clock, not by ticks: a busy process catches up instead of sending fewer. Round robin over the instances.
    for (let now = start; now < start + ms; now = performance.now()) {
      const due = Math.floor(((now - start) / 1000) * perSecond * list.length);
      for (; turn < due; turn++) {
        const one = list[turn % list.length];
        // One stopped (a rolling restart) is skipped: its app would not be serving either.
        if (instances.get(one.i) !== one) continue;
        gets++;
        const key = `key-${Math.floor(Math.random() * keys)}`;
        pending.push(
          one.cache.get(key).then(
            (v) => {
              if (v.toString() !== `value:${key}`) failed++;
            },
            () => failed++,
          ),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await Promise.all(pending);
    return { gets, failed };
  },
  /**
   * Removes `keys` at once from instance i: `ms` until every report came back, `ackedMs` until
   * every peer had acknowledged every remove (the reports', or for those pending the background
   * retry's; undefined after `waitMs`).
   */
  remove: async ({ i, keys, waitMs = 60_000 }) => {
    const group = instances.get(i).cache.group('g');
    const t = performance.now();
    const reports = await Promise.all(keys.map((key) => group.remove(key)));
    const ms = performance.now() - t;
    while (group.pendingRemoves().size > 0 && performance.now() - t < waitMs) await new Promise((resolve) => setTimeout(resolve, 20));
    const ackedMs = group.pendingRemoves().size > 0 ? undefined : performance.now() - t;
    return { ms, ackedMs, ...summarize(reports) };
  },
  clear: async ({ i }) => {
    const t = performance.now();
    const report = await instances.get(i).cache.group('g').clear();
    return { ms: performance.now() - t, ...summarize([report]) };
  },
  health: async ({ i, calls }) => {
    const cache = instances.get(i).cache;
    const reports = await Promise.all(Array.from({ length: calls }, () => cache.health()));
    return { status: reports[0].status };
  },
  clusterHealth: async ({ i, calls }) => {
    const cache = instances.get(i).cache;
    const reports = await Promise.all(Array.from({ length: calls }, () => cache.clusterHealth()));
    return { status: reports[0].status };
  },
  /** `pages` concurrent refreshes of instance i's dashboard data (GET /dash/api/cluster). */
  dashboard: async ({ i, pages }) => {
    const { url } = instances.get(i);
    const answers = await Promise.all(Array.from({ length: pages }, () => fetch(`${url}/dash/api/cluster`).then((r) => r.status)));
    return { statuses: answers };
  },
  owners: ({ i, keys }) => {
    const pool = instances.get(i).cache.pool;
    return keys.map((k) => pool.ownerOf(k));
  },
});

function summarize(reports) {
  let pending = 0;
  let acknowledged = 0;
  let refused = 0;
  for (const r of reports) {
    pending += r.pending.length;
    acknowledged += r.acknowledged.length;
    refused += r.refused.length;
  }
  return { reports: reports.length, acknowledged, pending, refused };
}

ready();
