// Row membership: membership that follows the deployment.
// 1. Scale-out reload ratio: 3 peers with membershipKeys cached keys, a 4th joins under user load;
//    getter calls after the change ÷ keys that moved, with warm handoff (default) and without
//    (handoffMs: 0).
// 2. Rolling restart of 1 of 3 peers under user traffic (closed-loop clients through the other
//    two peers' Express route): user latency before vs during the restart, and failed requests,
//    with the drain (SIGTERM, drainOnSigterm) and without it (the process just exits).
// Peers are the test fixture (test/fixtures/peer.mjs) in child processes on loopback.
import { RendezvousRing } from 'geecache';
import { freePorts, round, settings, sleep, startBenchPeer, stopAll } from '../lib/common.mjs';

export const name = 'membership';
export const title = 'Membership';

const SECRET = 'bench-membership-secret-0123456789';
const urlOf = (peer) => `http://127.0.0.1:${peer.port}`;

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function totalLoads(peers) {
  let n = 0;
  for (const p of peers) for (const c of Object.values(await (await fetch(`${urlOf(p)}/_test/loads`)).json())) n += c;
  return n;
}

async function limited(jobs, width = 3) {
  const queue = [...jobs];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }),
  );
}

const chunks = (list, size) => Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));

/** Resolves once the child has exited. */
function exited(peer) {
  if (peer.process.exitCode !== null || peer.process.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => peer.process.once('exit', resolve));
}

/** Scale 3 → 4 with `handoffMs`; getter calls after the change and keys moved. */
async function scaleOut(handoffMs) {
  const KEYS = settings.membershipKeys;
  const ports = await freePorts(4);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const old = urls.slice(0, 3);
  const base = { secret: SECRET, maxBytes: 64 << 20, timeoutMs: 30_000, handoffMs };
  const peers = await Promise.all([
    ...old.map((self) => startBenchPeer({ ...base, self, peers: old })),
    startBenchPeer({ ...base, self: urls[3], peers: [urls[3]] }),
  ]);
  try {
    const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`);
    const getMany = async (peer, list) => {
      const { failed } = await post(`${urlOf(peer)}/_test/getmany`, { keys: list });
      if (failed.length > 0) throw new Error(`gets failed via ${urlOf(peer)}: ${failed.slice(0, 3)}`);
    };
    await limited(chunks(keys, 500).map((c, i) => () => getMany(peers[i % 3], c)));
    const warm = await totalLoads(peers);
    let stop = false;
    const load = async (w) => {
      for (let i = 0; !stop; i++)
        await getMany(
          peers[(w + i) % 3],
          Array.from({ length: 100 }, (_, j) => keys[(w * 7919 + i * 104729 + j * 613) % KEYS]),
        );
    };
    const background = [0, 1].map(load);
    for (const p of [peers[3], peers[0], peers[1], peers[2]]) await post(`${urlOf(p)}/_test/members`, { peers: urls });
    await limited(chunks(keys, 250).map((c, i) => () => getMany(peers[(i * 3) % 4], c)));
    stop = true;
    await Promise.all(background);
    const ring = (list) => {
      const r = new RendezvousRing();
      r.add(...list);
      return r;
    };
    const [before, after] = [ring(old), ring(urls)];
    const moved = keys.filter((k) => before.get(k) !== after.get(k)).length;
    const reloads = (await totalLoads(peers)) - warm;
    return { handoffMs, keys: KEYS, warmLoads: warm, moved, reloads, ratio: reloads / moved };
  } finally {
    await stopAll(peers);
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const summary = (ms) => {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? Number.NaN };
};

/** Rolling restart of the third peer; latency of user requests via the other two. */
async function rollingRestart(drain) {
  const { membershipClients: CLIENTS, membershipGetterMs: GETTER_MS, membershipSteadyMs: STEADY_MS } = settings;
  const urls = (await freePorts(3)).map((p) => `http://127.0.0.1:${p}`);
  const configs = urls.map((self) => ({ secret: SECRET, self, peers: urls, getterDelayMs: GETTER_MS, drainOnSigterm: drain }));
  const peers = await Promise.all(configs.map(startBenchPeer));
  /** @type {[number, number][]} */
  const samples = [];
  let failures = 0;
  let stop = false;
  const client = async (w) => {
    for (let i = 0; !stop; i++) {
      const via = peers[(w + i) % 2];
      const key = `user-${(w * 7919 + i * 104729) % 2_000}`;
      const t = performance.now();
      try {
        const res = await fetch(`${urlOf(via)}/get?key=${key}`);
        const text = await res.text();
        if (res.status !== 200 || text !== `value:${key}`) failures++;
      } catch {
        failures++;
      }
      samples.push([t, performance.now() - t]);
    }
  };
  try {
    const clients = Array.from({ length: CLIENTS }, (_, w) => client(w));
    // Warm, then the steady state.
    await sleep(STEADY_MS);
    const steadyFrom = performance.now();
    await sleep(STEADY_MS);
    const restartAt = performance.now();
    const gone = exited(peers[2]);
    peers[2].process.kill('SIGTERM');
    await gone;
    const exitedAt = performance.now();
    peers[2] = await startBenchPeer(configs[2]);
    await sleep(STEADY_MS);
    const endAt = performance.now();
    stop = true;
    await Promise.all(clients);
    const before = summary(samples.filter(([t]) => t >= steadyFrom && t < restartAt).map(([, ms]) => ms));
    const during = summary(samples.filter(([t]) => t >= restartAt && t < endAt).map(([, ms]) => ms));
    return { drain, getterMs: GETTER_MS, clients: CLIENTS, before, during, failures, drainMs: exitedAt - restartAt };
  } finally {
    stop = true;
    await stopAll(peers);
  }
}

const f = (ms) => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : '—');

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const scale = [];
  for (const handoffMs of [60_000, 0]) {
    log(`  scale-out, handoffMs ${handoffMs}...`);
    scale.push(await scaleOut(handoffMs));
    log(`  ${JSON.stringify(scale.at(-1))}`);
  }
  const restart = [];
  for (const drain of [true, false]) {
    log(`  rolling restart, ${drain ? 'drain on SIGTERM' : 'no drain (exit on SIGTERM)'}...`);
    restart.push(await rollingRestart(drain));
    log(`  ${JSON.stringify(restart.at(-1))}`);
  }
  /** @type {import('../lib/types.js').Line[]} */
  const lines = [
    ...scale.map((s) => ({
      label: `scale 3 → 4, ${s.keys} cached keys, ${s.handoffMs ? 'warm handoff' : 'no handoff (handoffMs: 0)'}: getter calls ÷ moved keys`,
      value: round(100 * s.ratio, 2),
      unit: '%',
      measured: `${s.reloads} getter calls for ${s.moved} moved keys`,
    })),
    ...restart.map((r) => ({
      label: `rolling restart 1 of 3, ${r.drain ? 'drain (SIGTERM, drainOnSigterm)' : 'no drain (exit on SIGTERM)'}: max during ÷ p99 before`,
      value: round(r.during.max / r.before.p99, 2),
      unit: '×',
      measured:
        `before: p50 ${f(r.before.p50)}, p99 ${f(r.before.p99)} (${r.before.n} req); during: p50 ${f(r.during.p50)}, p99 ${f(r.during.p99)}, ` +
        `max ${f(r.during.max)} (${r.during.n} req); ${r.failures} failed; SIGTERM to exit ${f(r.drainMs)}`,
    })),
  ];
  return {
    value: lines[0].value,
    unit: '%',
    reference: 'keys that moved to the new peer; user latency before the restart',
    headline: 'scale 3 → 4 with warm handoff: getter calls ÷ moved keys',
    lines,
    details: { scale, restart },
  };
}
