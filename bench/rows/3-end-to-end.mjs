// Row 3 — end to end: an Express handler doing `await req.cache.get(k)` on peer A, for keys that
// peers B and C own (A's hot cache off, so every get crosses the network) against the same
// handler for keys A owns (cached). Reference for the hop itself: a handler on A that fetches
// the owner's peer route with node-fetch directly (no group, no cache, same agent settings),
// and the same with node:http's own client.
import { RendezvousRing } from 'geecache';
import { freePorts, get200, SECRET, settings, startChild, stopAll } from '../lib/common.mjs';
import { measure, pairedRatio } from '../lib/throughput.mjs';

export const id = 3;
export const title = 'End-to-end';

async function eachLimited(items, limit, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

export async function run({ loadgen, log }) {
  const ports = await freePorts(3);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const handles = [];
  try {
    const peers = await Promise.all(
      urls.map((self) =>
        startChild('peer-server.mjs', { self, peers: urls, secret: SECRET, valueBytes: settings.valueBytes, hotCacheFraction: 0 }, { name: `peer:${self}` }),
      ),
    );
    handles.push(...peers);
    const [a] = peers;

    // Partition keys by owner with the same ring the peers use.
    const ring = new RendezvousRing();
    ring.add(...urls);
    const local = [];
    const remote = [];
    for (let i = 0; local.length < settings.e2eKeys || remote.length < settings.e2eKeys; i++) {
      const key = `item:${i}`;
      const list = ring.get(key) === urls[0] ? local : remote;
      if (list.length < settings.e2eKeys) list.push(key);
    }
    for (const u of urls) await get200(`${u}/ping`); // attaches every peer's fast path
    // Load every key once (owners cache them), and check each handler answers.
    await eachLimited([...local, ...remote], 16, async (k) => {
      const body = await get200(`${urls[0]}/get?key=${encodeURIComponent(k)}`);
      if (body.length !== settings.valueBytes) throw new Error(`/get?key=${k} answered ${body.length} bytes`);
    });
    for (const route of ['/rawfetch', '/rawhttp']) {
      const body = await get200(`${urls[0]}${route}?key=${encodeURIComponent(remote[0])}`);
      if (body.length !== settings.valueBytes) throw new Error(`${route} answered ${body.length} bytes`);
    }
    const before = (await a.call({ cmd: 'stats' })).stats;
    if (before.peerLoads < remote.length) throw new Error(`A fetched ${before.peerLoads} values from peers while warming ${remote.length} remote keys`);

    const paths = (route, keys) => keys.map((k) => `${route}?key=${encodeURIComponent(k)}`);
    const configs = [
      { id: 'local', servers: peers, load: () => ({ url: urls[0], paths: paths('/get', local) }) },
      { id: 'remote', servers: peers, load: () => ({ url: urls[0], paths: paths('/get', remote) }) },
      { id: 'rawFetch', servers: peers, load: () => ({ url: urls[0], paths: paths('/rawfetch', remote) }) },
      { id: 'rawHttp', servers: peers, load: () => ({ url: urls[0], paths: paths('/rawhttp', remote) }) },
    ];
    const m = await measure(loadgen, configs, { log });
    const after = (await a.call({ cmd: 'stats' })).stats;
    const misses = after.loads - before.loads;
    const merged = misses - (after.loadsDeduped - before.loadsDeduped);
    const ratio = pairedRatio(m, 'remote', 'local');
    const goal = { op: '>=', target: 0.8, text: '≥ 0.8×' };
    return {
      value: ratio,
      unit: '×',
      goal,
      reference: `same handler, locally owned cached keys: ${Math.round(m.local.rps)} req/s`,
      lines: [
        { label: 'req.cache.get, key owned by another peer (hot cache off)', value: ratio, goal, measured: `${Math.round(m.remote.rps)} vs ${Math.round(m.local.rps)} req/s (local, cached)` },
        { label: 'raw node-fetch of the owner\'s peer route (no cache)', value: pairedRatio(m, 'rawFetch', 'local'), measured: `${Math.round(m.rawFetch.rps)} vs ${Math.round(m.local.rps)} req/s; remote/raw = ${pairedRatio(m, 'remote', 'rawFetch').toFixed(2)}×` },
        { label: 'raw node:http client to the owner (no cache)', value: pairedRatio(m, 'rawHttp', 'local'), measured: `${Math.round(m.rawHttp.rps)} req/s; node-fetch/node:http = ${pairedRatio(m, 'rawFetch', 'rawHttp').toFixed(2)}×` },
      ],
      details: {
        peers: urls.length,
        keysPerSet: settings.e2eKeys,
        valueBytes: settings.valueBytes,
        connections: settings.connections,
        loadgen: loadgen.kind,
        measurements: m,
        remoteVsRawFetch: pairedRatio(m, 'remote', 'rawFetch'),
        // Share of remote gets merged by singleflight (should be ~0: the keys are distinct).
        singleflightMerged: misses > 0 ? merged / misses : 0,
        cpuNote: 'cpu = % of one core for peers [A (loaded), B, C] during each run',
      },
    };
  } finally {
    await stopAll(handles);
  }
}
