// Row peer-serve: hot-key throughput of geecache's peer route in an Express 5 app (fast
// path attached) against a bare node:http server answering the same protobuf bytes.
// Also measured: the same with secret: false (no HMAC check), and the Express-routed peer path
// (fastPath: false). Each server is its own process; the load is a third one.
import { RequestSigner } from '../../dist/auth.js';
import { encodeGetResponse } from '../../dist/wire.js';
import { freePorts, get200, SECRET, settings, startChild, startPeer, stopAll } from '../lib/common.mjs';
import { cpuRatio, measure, pairedRatio } from '../lib/throughput.mjs';

export const name = 'peer-serve';
export const title = 'Peer serve';
export const needsLoadgen = true;

const KEY = 'hot';
const PATH = `/_geecache/scores/${KEY}`;

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ loadgen, log }) {
  const ports = await freePorts(4);
  const url = (p) => `http://127.0.0.1:${p}`;
  const handles = [];
  try {
    const peer = (port, extra) =>
      startPeer({ self: url(port), secret: SECRET, fastPath: true, valueBytes: settings.valueBytes, hotCacheFraction: 0, ...extra });
    const [bare, fast, open, routed] = await Promise.all([
      startChild('bare-server.mjs', { port: ports[0], key: KEY, valueBytes: settings.valueBytes }, { name: 'bare' }),
      peer(ports[1], {}),
      peer(ports[2], { secret: false }),
      peer(ports[3], { fastPath: false }),
    ]);
    handles.push(bare, fast, open, routed);

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
    const m = await measure(loadgen, configs, { log });
    const ratio = pairedRatio(m, 'fastSigned', 'bare');
    const refCpu = m.bare.cpu[0];
    const said = (id) => `${Math.round(m[id].rps)} vs ${Math.round(m.bare.rps)} req/s; server CPU ${m[id].cpuUsPerReq} vs ${m.bare.cpuUsPerReq} µs/req`;
    return {
      value: ratio,
      unit: '×',
      goal: { op: '>=', target: 0.9, text: '≥ 0.9×' },
      reference: `bare node:http ${Math.round(m.bare.rps)} req/s`,
      lines: [
        {
          label: 'fast path, signed (x-geecache-auth): throughput',
          value: ratio,
          goal: { op: '>=', target: 0.9, text: '≥ 0.9×' },
          measured: said('fastSigned'),
        },
        {
          label: '… same, server CPU per request: bare ÷ this',
          value: cpuRatio(m, 'fastSigned', 'bare'),
          goal: { op: '>=', target: 0.9, text: '≥ 0.9×' },
          measured: `what the throughput ratio would be if the server, not the load generator, were the bottleneck (bare server at ${refCpu}% CPU)`,
        },
        { label: 'fast path, secret: false: throughput', value: pairedRatio(m, 'fastOpen', 'bare'), measured: said('fastOpen') },
        { label: '… same, server CPU per request: bare ÷ this', value: cpuRatio(m, 'fastOpen', 'bare'), measured: '' },
        { label: 'Express-routed (fastPath: false), signed: throughput', value: pairedRatio(m, 'routed', 'bare'), measured: said('routed') },
        { label: '… same, server CPU per request: bare ÷ this', value: cpuRatio(m, 'routed', 'bare'), measured: '' },
      ],
      details: {
        valueBytes: settings.valueBytes,
        connections: settings.connections,
        duration: settings.duration,
        rounds: settings.rounds,
        loadgen: loadgen.kind,
        measurements: m,
        // Below ~90% the load generator, not the server, was the bottleneck and ratios are compressed toward 1.
        referenceServerCpuPercent: refCpu,
        loadgenBound: refCpu < 90,
      },
    };
  } finally {
    await stopAll(handles);
  }
}
