// Row 4 — stampede: `stampedeGets` concurrent gets of one cold key, spread round-robin over 3
// peers' app routes by a separate load process, with a loader that takes stampedeLoaderMs.
// Counts the loader calls cluster-wide (goal: exactly 1) and the gets' latency.
import { freePorts, get200, round, SECRET, settings, startChild, stopAll } from '../lib/common.mjs';

export const id = 4;
export const title = 'Stampede';

export async function run({ log }) {
  const ports = await freePorts(3);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const handles = [];
  try {
    const peers = await Promise.all(
      urls.map((self) =>
        startChild('peer-server.mjs', { self, peers: urls, secret: SECRET, valueBytes: settings.valueBytes, getterDelayMs: settings.stampedeLoaderMs }, { name: `peer:${self}` }),
      ),
    );
    handles.push(...peers);
    for (const u of urls) await get200(`${u}/ping`);
    const client = await startChild('stampede-client.mjs', {}, { name: 'stampede-client' });
    handles.push(client);
    const key = `cold:${Date.now()}`;
    const r = await client.call({ cmd: 'run', urls, gets: settings.stampedeGets, key }, 300_000);
    if (r.failed > 0) throw new Error(`${r.failed} of ${settings.stampedeGets} gets failed, e.g. ${JSON.stringify(r.firstFailure)}`);
    const loads = await Promise.all(peers.map((p) => p.call({ cmd: 'loads', key })));
    const loaderCalls = loads.reduce((n, l) => n + l.key, 0);
    log(`  ${settings.stampedeGets} gets: loader calls ${loaderCalls}, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, sockets ${r.openSockets.join('/')}`);
    const goal = { op: '==', target: 1, text: '= 1' };
    return {
      value: loaderCalls,
      unit: ' calls',
      goal,
      reference: `loader takes ${settings.stampedeLoaderMs} ms`,
      lines: [
        { label: `${settings.stampedeGets} concurrent gets of one cold key over 3 peers: loader calls`, value: loaderCalls, unit: '', goal, measured: `per peer ${loads.map((l) => l.key).join('/')}` },
        { label: 'latency p50 / loader time', unit: '×', value: round(r.p50 / settings.stampedeLoaderMs, 2), measured: `p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms, max ${r.max.toFixed(0)} ms (loader ${settings.stampedeLoaderMs} ms)` },
        { label: 'latency p99 / loader time', unit: '×', value: round(r.p99 / settings.stampedeLoaderMs, 2), measured: `all ${settings.stampedeGets} answered in ${r.totalMs.toFixed(0)} ms; issuing them took ${r.issueMs.toFixed(0)} ms` },
      ],
      details: { gets: settings.stampedeGets, loaderMs: settings.stampedeLoaderMs, loaderCallsPerPeer: loads.map((l) => l.key), ...r, p50: round(r.p50, 1), p99: round(r.p99, 1), max: round(r.max, 1) },
    };
  } finally {
    await stopAll(handles);
  }
}
