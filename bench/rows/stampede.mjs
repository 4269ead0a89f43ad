// Row stampede: `stampedeGets` concurrent gets of one cold key, spread round-robin over 3
// peers' app routes by a separate load process, with a loader that takes stampedeLoaderMs.
// Counts the loader calls cluster-wide (goal: exactly 1) and the gets' latency.
import { freePorts, get200, round, SECRET, settings, startBenchPeer, startChild, stopAll } from '../lib/common.mjs';
import { findRedis, NO_REDIS, startRedis } from '../lib/redis.mjs';

export const name = 'stampede';
export const title = 'Stampede';

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const ports = await freePorts(3);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const handles = [];
  try {
    const peers = await Promise.all(
      urls.map((self) => startBenchPeer({ self, peers: urls, secret: SECRET, valueBytes: settings.valueBytes, getterDelayMs: settings.stampedeLoaderMs })),
    );
    handles.push(...peers);
    for (const u of urls) await get200(`${u}/ping`);
    const client = await startChild('stampede-client.mjs', {}, { name: 'stampede-client' });
    handles.push(client);
    const key = `cold:${Date.now()}`;
    const burst = async (target = { urls, key }) => {
      const r = await client.call({ cmd: 'run', urls: target.urls, gets: settings.stampedeGets, key: target.key }, 300_000);
      if (r.failed > 0) throw new Error(`${r.failed} of ${settings.stampedeGets} gets failed, e.g. ${JSON.stringify(r.firstFailure)}`);
      return r;
    };
    const r = await burst();
    const loads = await Promise.all(peers.map((p) => p.call({ cmd: 'loads', key })));
    const loaderCalls = loads.reduce((n, l) => n + l.key, 0);
    // peerErrors > 0 on a peer that ran the loader: its fetch from the owner failed (typically the
    // timeoutMs deadline) and it fell back to loading the key itself.
    const stats = (await Promise.all(peers.map((p) => p.call({ cmd: 'stats' })))).map((s) => s.stats);
    // The reference: the same burst once the key is cached, so the loader and singleflight play
    // no part: what is left is the cost of 10,000 concurrent requests through 3 Express apps.
    const warm = await burst();
    log(`  same burst, warm key: p50 ${warm.p50.toFixed(1)} ms, p99 ${warm.p99.toFixed(1)} ms`);
    log(
      `  ${settings.stampedeGets} gets: loader calls ${loaderCalls}, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, sockets ${r.openSockets.join('/')}`,
    );
    const viaRedis = await redisStampede(burst, log);
    /** @type {import('../lib/types.js').Goal} */
    const goal = { op: '==', target: 1, text: '= 1' };
    return {
      value: loaderCalls,
      unit: ' calls',
      goal,
      reference: `loader takes ${settings.stampedeLoaderMs} ms; latency vs the same burst on the cached key`,
      lines: [
        {
          label: `${settings.stampedeGets} concurrent gets of one cold key over 3 peers: loader calls`,
          value: loaderCalls,
          unit: '',
          goal,
          measured: `per peer ${loads.map((l) => l.key).join('/')}; failed peer fetches per peer ${stats.map((s) => s.peerErrors).join('/')}`,
        },
        viaRedis.skipped || !viaRedis.perFront
          ? { label: 'Express + Redis read-through, same burst: loader calls', value: Number.NaN, unit: '', measured: viaRedis.skipped }
          : {
              label: 'Express + Redis read-through (ioredis GET, miss → load → SET), same burst over 3 instances: loader calls',
              value: viaRedis.loaderCalls,
              unit: '',
              measured: `per instance ${viaRedis.perFront.join('/')}; geecache: ${loaderCalls}`,
            },
        {
          label: 'latency p50: cold key ÷ same burst on the cached key',
          unit: '×',
          value: round(r.p50 / warm.p50, 2),
          measured: `p50 ${r.p50.toFixed(0)} vs ${warm.p50.toFixed(0)} ms (loader ${settings.stampedeLoaderMs} ms)`,
        },
        {
          label: 'latency p99: cold ÷ cached',
          unit: '×',
          value: round(r.p99 / warm.p99, 2),
          measured: `p99 ${r.p99.toFixed(0)} vs ${warm.p99.toFixed(0)} ms; max ${r.max.toFixed(0)} ms; all answered in ${r.totalMs.toFixed(0)} ms, issuing took ${r.issueMs.toFixed(0)} ms`,
        },
      ],
      details: {
        gets: settings.stampedeGets,
        loaderMs: settings.stampedeLoaderMs,
        loaderCallsPerPeer: loads.map((l) => l.key),
        redis: viaRedis,
        peerStats: stats,
        ...r,
        p50: round(r.p50, 1),
        p99: round(r.p99, 1),
        max: round(r.max, 1),
        warm: { p50: round(warm.p50, 1), p99: round(warm.p99, 1), max: round(warm.max, 1), totalMs: round(warm.totalMs, 0) },
      },
    };
  } finally {
    await stopAll(handles);
  }
}

/**
 * The same burst against 3 Express + Redis read-through instances (bench/children/front.mjs,
 * mode redis) sharing one real redis-server: how many times the loader runs without singleflight.
 */
async function redisStampede(burst, log) {
  const bin = findRedis();
  if (!bin) {
    log(`  ${NO_REDIS}`);
    return { skipped: NO_REDIS };
  }
  const ports = await freePorts(4);
  const handles = [];
  try {
    handles.push(await startRedis(bin, ports[0]));
    const fronts = await Promise.all(
      ports
        .slice(1)
        .map((port) =>
          startChild(
            'front.mjs',
            { mode: 'redis', port, redisPort: ports[0], valueBytes: settings.valueBytes, loaderMs: settings.stampedeLoaderMs },
            { name: `redis-front:${port}` },
          ),
        ),
    );
    handles.push(...fronts);
    const urls = ports.slice(1).map((p) => `http://127.0.0.1:${p}`);
    const key = `cold:redis:${Date.now()}`;
    const r = await burst({ urls, key });
    const perFront = (await Promise.all(fronts.map((f) => f.call({ cmd: 'loads' })))).map((l) => l.loads);
    const loaderCalls = perFront.reduce((n, x) => n + x, 0);
    log(`  Express + Redis read-through, same burst: loader calls ${loaderCalls} (${perFront.join('/')}), p50 ${r.p50.toFixed(1)} ms`);
    return { loaderCalls, perFront, p50: round(r.p50, 1), p99: round(r.p99, 1) };
  } finally {
    await stopAll(handles);
  }
}
