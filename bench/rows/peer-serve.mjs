// Row peer-serve: hot-key throughput of geecache's peer route in an Express 5 app (fast
// path attached) against a bare node:http server answering the same protobuf bytes.
// Also measured: the same with secret: false (no HMAC check), the Express-routed peer path
// (fastPath: false), and the reference a Go user would run: golang/groupcache's own peer route
// (an HTTPPool, test/go/peer; skipped with a message where go or the groupcache package is
// missing). Each server is its own process; the load is a third one. With wrk, a second pass loads
// bare, signed and open at the same time (a wrk each) and compares their CPU per request round by
// round: on a machine shared with other jobs, the servers then see the same moment (pinned, where taskset
// exists, to CPU 0, the wrks to CPU 1).

import { spawnSync } from 'node:child_process';
import { RequestSigner } from '../../dist/protocol/auth.js';
import { encodeGetResponse } from '../../dist/protocol/wire.js';
import { buildGoPeer, startGoPeer } from '../../test/helpers/gopeer.mjs';
import { INSTALL_COMMAND, missingPackages } from '../../test/helpers/tools.mjs';
import { freePorts, get200, HAS_TASKSET, median, round, SECRET, settings, startBenchPeer, startChild, stopAll, track } from '../lib/common.mjs';
import { procCpu } from '../lib/proccpu.mjs';
import { cpuRatio, measure, pairedRatio } from '../lib/throughput.mjs';

export const name = 'peer-serve';
export const title = 'Peer serve';
export const needsLoadgen = true;

const KEY = 'hot';
const PATH = `/_geecache/scores/${KEY}`;
/** golang/groupcache's HTTPPool serves under its own base path. */
const GO_PATH = `/_groupcache/scores/${KEY}`;
const GOAL = { op: /** @type {const} */ ('>='), target: 0.95, text: '≥ 0.95×' };

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ loadgen, log }) {
  const ports = await freePorts(5);
  const url = (p) => `http://127.0.0.1:${p}`;
  const handles = [];
  // The Go reference: built first (the tests' build cache makes it a relink), skipped with the reason when it cannot be.
  const noGo = missingPackages(['go']);
  let goSkipped = noGo.length ? `${noGo.join(' ')} not installed (${INSTALL_COMMAND} installs them): Go reference skipped` : undefined;
  if (!goSkipped) {
    try {
      await buildGoPeer();
    } catch (err) {
      goSkipped = `the Go peer did not build: ${String(err instanceof Error ? err.message : err).split('\n')[0]}; Go reference skipped`;
    }
  }
  if (goSkipped) log(`  ${goSkipped}`);
  try {
    const peer = (port, extra) =>
      startBenchPeer({ self: url(port), secret: SECRET, fastPath: true, valueBytes: settings.valueBytes, hotCacheFraction: 0, ...extra });
    const [bare, fast, open, routed] = await Promise.all([
      startChild('bare-server.mjs', { port: ports[0], key: KEY, valueBytes: settings.valueBytes }, { name: 'bare' }),
      peer(ports[1], {}),
      peer(ports[2], { secret: false }),
      peer(ports[3], { fastPath: false }),
    ]);
    handles.push(bare, fast, open, routed);
    const go = goSkipped ? undefined : await startGo(ports[4], settings.valueBytes);
    handles.push(go);

    // One ordinary request attaches the fast path; then check every server answers the same bytes.
    const signer = new RequestSigner(SECRET);
    const expected = Buffer.from(encodeGetResponse(Buffer.alloc(settings.valueBytes, KEY)));
    for (const h of [fast, open, routed]) await get200(`${url(h.port)}/ping`);
    /** @type {[import('../lib/types.js').ChildHandle, boolean][]} */
    const servers = [
      [bare, true],
      [fast, true],
      [open, false],
      [routed, true],
    ];
    for (const [h, signed] of servers) {
      const body = await get200(url(h.port) + PATH, signed ? { 'x-geecache-auth': signer.sign('GET', url(h.port) + PATH) } : {});
      if (!body.equals(expected)) throw new Error(`${h.name} answered different bytes from the bare server`);
    }
    if (go && !(await get200(url(go.port) + GO_PATH)).equals(expected)) throw new Error('the Go peer answered different bytes from the bare server');
    const attached = { fast: await fast.call({ cmd: 'fastPath' }), open: await open.call({ cmd: 'fastPath' }), routed: await routed.call({ cmd: 'fastPath' }) };
    if (!attached.fast || !attached.open || attached.routed) throw new Error(`fast path state is wrong: ${JSON.stringify(attached)}`);

    // The bare server gets the signed header too, so every server reads the same request bytes.
    const signed = (h) => () => ({ url: url(h.port) + PATH, headers: { 'x-geecache-auth': signer.sign('GET', url(h.port) + PATH) } });
    const configs = [
      { id: 'bare', servers: [bare], load: signed(bare) },
      { id: 'fastSigned', servers: [fast], load: signed(fast) },
      { id: 'fastOpen', servers: [open], load: () => ({ url: url(open.port) + PATH }) },
      { id: 'routed', servers: [routed], load: signed(routed) },
    ];
    // golang/groupcache ignores the signature header; it is sent all the same, so every server reads the same request size.
    if (go) configs.push({ id: 'go', servers: [go], load: () => ({ url: url(go.port) + GO_PATH, headers: signed(go)().headers }) });
    const m = await measure(loadgen, configs, { log });
    // The node servers that answer at the same rate only: routed (a fifth of the rate) would just take CPU from them, and
    // Go's runtime, short of cores, spends CPU spinning (2× its own figure alone, measured), so neither is compared here.
    const peers = configs.filter((c) => c.id !== 'routed' && c.id !== 'go');
    const together = loadgen.kind === 'wrk' ? await measureTogether(loadgen, peers, log) : undefined;
    const togetherRatio = (id) => (together?.[id] ? round(median(together[id].map((x, i) => together.bare[i] / x)), 3) : Number.NaN);
    const togetherSaid = (id) =>
      `${round(median(together?.[id] ?? []), 1)} vs ${round(median(together?.bare ?? []), 1)} µs/req, median of ${together?.bare.length} rounds`;
    const ratio = pairedRatio(m, 'fastSigned', 'bare');
    const refCpu = m.bare.cpu[0];
    const said = (id) => `${Math.round(m[id].rps)} vs ${Math.round(m.bare.rps)} req/s; server CPU ${m[id].cpuUsPerReq} vs ${m.bare.cpuUsPerReq} µs/req`;
    const goLines = go
      ? [
          {
            label: 'golang/groupcache peer route (HTTPPool), reference: throughput ÷ bare node:http',
            value: pairedRatio(m, 'go', 'bare'),
            measured: `${said('go')}; Go uses both cores (GOMAXPROCS default), node one`,
          },
          { label: '… same, server CPU per request: bare ÷ Go', value: cpuRatio(m, 'go', 'bare'), measured: '' },
          {
            label: 'geecache fast path, signed ÷ golang/groupcache: throughput',
            value: pairedRatio(m, 'fastSigned', 'go'),
            measured: `${Math.round(m.fastSigned.rps)} vs ${Math.round(m.go.rps)} req/s`,
          },
          {
            label: '… same, server CPU per request: Go ÷ geecache',
            value: cpuRatio(m, 'fastSigned', 'go'),
            measured: `${m.fastSigned.cpuUsPerReq} vs ${m.go.cpuUsPerReq} µs/req`,
          },
        ]
      : [{ label: 'golang/groupcache peer route (reference)', value: Number.NaN, measured: goSkipped }];
    return {
      value: ratio,
      unit: '×',
      goal: GOAL,
      reference: `bare node:http ${Math.round(m.bare.rps)} req/s`,
      lines: [
        {
          label: 'fast path, signed (x-geecache-auth): throughput',
          value: ratio,
          goal: GOAL,
          measured: said('fastSigned'),
        },
        {
          label: '… same, server CPU per request: bare ÷ this',
          value: cpuRatio(m, 'fastSigned', 'bare'),
          goal: GOAL,
          measured: `what the throughput ratio would be if the server, not the load generator, were the bottleneck (bare server at ${refCpu}% CPU)`,
        },
        // Only with wrk (several load generators at once); BENCH_LOADGEN=autocannon runs skip it.
        ...(together
          ? [
              {
                label: '… same, server CPU per request, every server loaded at once on one core (paired in time): bare ÷ this',
                value: togetherRatio('fastSigned'),
                goal: GOAL,
                measured: `${togetherSaid('fastSigned')}: each round's servers shared one core (CPU 0, the wrks on CPU 1) at the same moment, so other jobs' load falls on all alike`,
              },
            ]
          : []),
        { label: 'fast path, secret: false: throughput', value: pairedRatio(m, 'fastOpen', 'bare'), measured: said('fastOpen') },
        { label: '… same, server CPU per request: bare ÷ this', value: cpuRatio(m, 'fastOpen', 'bare'), measured: '' },
        { label: 'Express-routed (fastPath: false), signed: throughput', value: pairedRatio(m, 'routed', 'bare'), measured: said('routed') },
        { label: '… same, server CPU per request: bare ÷ this', value: cpuRatio(m, 'routed', 'bare'), measured: '' },
        ...goLines,
      ],
      details: {
        valueBytes: settings.valueBytes,
        connections: settings.connections,
        duration: settings.duration,
        rounds: settings.rounds,
        loadgen: loadgen.kind,
        measurements: m,
        // Server CPU µs per request in each round of the pass with every server loaded at once (wrk only).
        together,
        // Below ~90% the load generator, not the server, was the bottleneck and ratios are compressed toward 1.
        referenceServerCpuPercent: refCpu,
        loadgenBound: refCpu < 90,
        go: goSkipped ? { skipped: goSkipped } : { path: GO_PATH },
      },
    };
  } finally {
    await stopAll(handles);
  }
}

/**
 * Server CPU per request with every config's server loaded at the same time, each by its own wrk
 * (the connections shared out), for settings.rounds rounds of duration/rounds seconds. On a
 * machine shared with other jobs the interleaved rounds of measure() put each server in a
 * different moment; here the servers compared in a round saw the same moment.
 * @param {import('../lib/types.js').Loadgen} loadgen wrk (runs in parallel: a process each)
 * @param {{ id: string, servers: import('../lib/types.js').ChildHandle[], load: () => any }[]} configs
 * @param {(...args: unknown[]) => void} log
 * @returns {Promise<Record<string, number[]>>} µs of CPU per answered request, by config, per round
 */
async function measureTogether(loadgen, configs, log) {
  const { rounds } = settings;
  const duration = settings.duration / rounds;
  const connections = Math.max(1, Math.round(settings.connections / configs.length));
  // Every server on CPU 0 (all its threads) and every wrk on CPU 1: unpinned, whichever server
  // shared a core with a wrk in a round measured up to 1.8× the CPU per request of the others
  // (24 vs 43 µs for the same server), which no pairing in time can cancel.
  const pin = HAS_TASKSET ? { cpus: '1' } : {};
  if (HAS_TASKSET) for (const c of configs) spawnSync('taskset', ['-a', '-p', '-c', '0', String(c.servers[0].process.pid)], { stdio: 'ignore' });
  /** @type {Record<string, number[]>} */
  const runs = Object.fromEntries(configs.map((c) => [c.id, []]));
  for (let r = 0; r < rounds; r++) {
    const before = await Promise.all(configs.map((c) => c.servers[0].call({ cmd: 'cpu' })));
    const results = await Promise.all(configs.map((c) => loadgen.run({ ...c.load(), connections, duration, ...pin })));
    const after = await Promise.all(configs.map((c) => c.servers[0].call({ cmd: 'cpu' })));
    for (const [i, c] of configs.entries()) runs[c.id].push((after[i].cpuUs - before[i].cpuUs) / results[i].ok);
    log(`  together, round ${r + 1}/${rounds}: ${configs.map((c) => `${c.id} ${runs[c.id][r].toFixed(1)}`).join(', ')} µs CPU/req`);
  }
  return runs;
}

/**
 * The Go peer alone in its cluster on 127.0.0.1:`port`, its values `valueBytes` bytes of the key
 * repeated (the node servers' values). The handle answers the `cpu` command from /proc (all of
 * the Go runtime's threads).
 * @param {number} port
 * @param {number} valueBytes
 * @returns {Promise<import('../lib/types.js').ChildHandle>}
 */
async function startGo(port, valueBytes) {
  const self = `http://127.0.0.1:${port}`;
  const go = await startGoPeer({ port, self, peers: [self], valueBytes }, { onSpawn: track });
  return {
    ...go,
    name: `go:${port}`,
    async call(message) {
      if (message.cmd !== 'cpu') throw new Error(`Go peer handle: no command ${message.cmd}`);
      return procCpu(/** @type {number} */ (go.pid));
    },
  };
}
