// Row end-to-end: an Express handler doing `await req.cache.get(k)` on peer A, for keys that
// peers B and C own (A's hot cache off, so every get crosses the network) against the same
// handler for keys A owns (cached). For the analysis, also measured with the same load:
//   - the remote gets from A', a fourth process with batch: false (one HTTP request per get);
//   - a handler on A that fetches the owner's peer route with node-fetch directly (no group, no
//     cache), and the same with node:http's own client: what the hop alone costs.
// Throughput counts A's answers; CPU per request sums all peers' CPU (the cluster's cost).
import { RendezvousRing } from 'geecache';
import { freePorts, get200, round, SECRET, settings, startBenchPeer, stopAll } from '../lib/common.mjs';
import { cpuRatio, measure, pairedRatio } from '../lib/throughput.mjs';

export const name = 'end-to-end';
export const title = 'End-to-end';
export const needsLoadgen = true;

async function eachLimited(items, limit, fn) {
  let i = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ loadgen, log }) {
  const ports = await freePorts(4);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const cluster = urls.slice(0, 3); // A, B, C
  const unbatchedPeers = [urls[3], urls[1], urls[2]]; // A', B, C
  const handles = [];
  try {
    const start = (self, peers, extra = {}) => startBenchPeer({ self, peers, secret: SECRET, valueBytes: settings.valueBytes, hotCacheFraction: 0, ...extra });
    const [a, b, c, a2] = await Promise.all([
      start(urls[0], cluster),
      start(urls[1], cluster),
      start(urls[2], cluster),
      start(urls[3], unbatchedPeers, { batch: false }),
    ]);
    handles.push(a, b, c, a2);
    const peers = [a, b, c, a2];

    // Partition keys by owner with the rings the peers use; remote keys have the same owner for A and A'.
    const ring = new RendezvousRing();
    ring.add(...cluster);
    const ring2 = new RendezvousRing();
    ring2.add(...unbatchedPeers);
    const local = [];
    const remote = [];
    for (let i = 0; local.length < settings.e2eKeys || remote.length < settings.e2eKeys; i++) {
      const key = `item:${i}`;
      const owner = ring.get(key);
      if (owner === urls[0]) {
        if (local.length < settings.e2eKeys) local.push(key);
      } else if (owner === ring2.get(key) && remote.length < settings.e2eKeys) remote.push(key);
    }
    for (const u of urls) await get200(`${u}/ping`); // attaches every peer's fast path
    for (const p of [b, c]) await p.call({ cmd: 'peerHttp' }); // starts counting peer requests
    // Load every key once (the owners cache them), and check each handler answers.
    const check = async (url) => {
      const body = await get200(url);
      if (body.length !== settings.valueBytes) throw new Error(`${url} answered ${body.length} bytes`);
    };
    await eachLimited([...local, ...remote], 16, (k) => check(`${urls[0]}/get?key=${encodeURIComponent(k)}`));
    await eachLimited(remote, 16, (k) => check(`${urls[3]}/get?key=${encodeURIComponent(k)}`));
    for (const route of ['/rawfetch', '/rawhttp']) await check(`${urls[0]}${route}?key=${encodeURIComponent(remote[0])}`);
    const before = (await a.call({ cmd: 'stats' })).stats;
    const before2 = (await a2.call({ cmd: 'stats' })).stats;
    if (before.peerLoads < remote.length || before2.peerLoads < remote.length) {
      throw new Error(`A/A' fetched ${before.peerLoads}/${before2.peerLoads} values from peers while warming ${remote.length} remote keys`);
    }

    const paths = (route, keys) => keys.map((k) => `${route}?key=${encodeURIComponent(k)}`);
    const configs = [
      { id: 'local', servers: peers, load: () => ({ url: urls[0], paths: paths('/get', local) }) },
      { id: 'remote', servers: peers, load: () => ({ url: urls[0], paths: paths('/get', remote) }) },
      { id: 'remoteUnbatched', servers: peers, load: () => ({ url: urls[3], paths: paths('/get', remote) }) },
      { id: 'rawFetch', servers: peers, load: () => ({ url: urls[0], paths: paths('/rawfetch', remote) }) },
      { id: 'rawHttp', servers: peers, load: () => ({ url: urls[0], paths: paths('/rawhttp', remote) }) },
    ];
    const m = await measure(loadgen, configs, { log });
    const after = (await a.call({ cmd: 'stats' })).stats;
    const misses = after.loads - before.loads;
    const merged = misses - (after.loadsDeduped - before.loadsDeduped);

    // Gets per peer HTTP request under this load: one short extra run of the remote config.
    const counts = async () =>
      (await Promise.all([b, c].map((p) => p.call({ cmd: 'peerHttp' })))).reduce(
        (s, x) => ({ peerHttp: s.peerHttp + x.peerHttp, served: s.served + x.served }),
        { peerHttp: 0, served: 0 },
      );
    const c0 = await counts();
    await loadgen.run({ ...configs[1].load(), connections: settings.connections, duration: settings.duration / settings.rounds });
    const c1 = await counts();
    const getsPerPeerRequest = round((c1.served - c0.served) / Math.max(1, c1.peerHttp - c0.peerHttp), 2);

    const ratio = pairedRatio(m, 'remote', 'local');
    /** @type {import('../lib/types.js').Goal} */
    const goal = { op: '>=', target: 0.8, text: '≥ 0.8×' };
    const rps = (id) => Math.round(m[id].rps);
    const cpu = (id) => `${Math.round(m[id].cpuUsPerReq)} µs CPU/req`;
    return {
      value: ratio,
      unit: '×',
      goal,
      reference: `same handler, locally owned cached keys: ${rps('local')} req/s`,
      lines: [
        {
          label: 'req.cache.get, key owned by another peer (hot cache off): throughput',
          value: ratio,
          goal,
          measured: `${rps('remote')} vs ${rps('local')} req/s (local, cached); ${getsPerPeerRequest} gets per peer request`,
        },
        {
          label: '… same, cluster CPU per request: local ÷ remote',
          value: cpuRatio(m, 'remote', 'local'),
          goal,
          measured: `${cpu('remote')} vs ${cpu('local')}, all peers`,
        },
        {
          label: 'remote with batch: false (one HTTP request per get)',
          value: pairedRatio(m, 'remoteUnbatched', 'local'),
          measured: `${rps('remoteUnbatched')} req/s, ${cpu('remoteUnbatched')}`,
        },
        {
          label: "raw node-fetch GET of the owner's peer route (no cache)",
          value: pairedRatio(m, 'rawFetch', 'local'),
          measured: `${rps('rawFetch')} req/s, ${cpu('rawFetch')}`,
        },
        {
          label: 'raw node:http GET of the owner (no cache)',
          value: pairedRatio(m, 'rawHttp', 'local'),
          measured: `${rps('rawHttp')} req/s, ${cpu('rawHttp')}; node-fetch ÷ node:http = ${pairedRatio(m, 'rawFetch', 'rawHttp').toFixed(2)}×`,
        },
      ],
      details: {
        peers: 3,
        keysPerSet: settings.e2eKeys,
        valueBytes: settings.valueBytes,
        connections: settings.connections,
        loadgen: loadgen.kind,
        measurements: m,
        getsPerPeerRequest,
        remoteVsRawFetch: pairedRatio(m, 'remote', 'rawFetch'),
        // Share of remote gets merged by singleflight (should be ~0: the keys are distinct).
        singleflightMerged: misses > 0 ? round(merged / misses, 4) : 0,
        cpuNote: "cpu = % of one core for [A (loaded), B, C, A' (batch: false)] during each run",
      },
    };
  } finally {
    await stopAll(handles);
  }
}
