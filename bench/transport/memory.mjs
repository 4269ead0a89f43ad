// What a response in flight from a peer costs the asking process.
//   node --expose-gc bench/transport/memory.mjs      (after npm run build)
// 1. One legitimate value of VALUE_MIB (60) MiB fetched from a peer: peak growth of RSS and of
//    ArrayBuffer memory while it is read, as a multiple of the value's size.
// 2. A hostile peer, CONCURRENT (30) gets at once: each answer announces a 1 GB Content-Length,
//    or streams without end (chunked), or (batched) announces a 1 GB result frame. Peak growth
//    against maxResponseBytes (64 MiB) — each answer is cut there, all together at the budget.
// Prints one JSON line per case. The asker is this process; the fake peer is a child process.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { geecache } from 'geecache';
import { sleep } from '../../test/helpers/wait.mjs';

const VALUE_MIB = Number(process.env.VALUE_MIB ?? 60);
const CONCURRENT = Number(process.env.CONCURRENT ?? 30);
const MIB = 1 << 20;
const gc = globalThis.gc ?? (() => {});
if (!globalThis.gc) console.error('run with node --expose-gc for steadier figures');

const child = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'fakepeer.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] });
const port = await new Promise((resolve, reject) => {
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    const m = /ready (\d+)/.exec(out);
    if (m) resolve(Number(m[1]));
  });
  child.on('exit', (code) => reject(new Error(`fake peer exited with ${code}`)));
});
const peer = `http://127.0.0.1:${port}`;
const self = 'http://127.0.0.1:9';

function asker(batch) {
  const ring = { add() {}, remove() {}, get: () => peer, peers: () => [self, peer] };
  return geecache({
    self,
    peers: [self, peer],
    secret: false,
    batch,
    ring: () => ring,
    timeoutMs: 60_000,
    logger: false,
    groups: { g: { maxBytes: 1 << 30, hotCacheFraction: 0, getter: (key) => `local:${key}` } },
  });
}

/** Runs `fn`, sampling memory every ms; the peak growth over the settled baseline, in MiB. */
async function peak(fn) {
  gc();
  await sleep(50);
  gc();
  const base = process.memoryUsage();
  let rss = base.rss;
  let ab = base.arrayBuffers;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    ab = Math.max(ab, m.arrayBuffers);
  };
  const timer = setInterval(sample, 1);
  const result = await fn();
  sample();
  clearInterval(timer);
  return { result, rssMiB: (rss - base.rss) / MIB, arrayBuffersMiB: (ab - base.arrayBuffers) / MIB };
}

const cache = asker(true);
const group = cache.group('g');
const out = [];
{
  await group.get('big:1'); // warm the connection and the code
  const started = performance.now();
  const { result, rssMiB, arrayBuffersMiB } = await peak(() => group.get(`big:${VALUE_MIB}`));
  const ms = Math.round(performance.now() - started);
  if (result.length !== VALUE_MIB * MIB) throw new Error(`expected a ${VALUE_MIB} MiB value from the peer, got ${result.length} bytes`);
  out.push({
    case: `one ${VALUE_MIB} MiB value`,
    rssMiB: +rssMiB.toFixed(1),
    arrayBuffersMiB: +arrayBuffersMiB.toFixed(1),
    xValue: +(Math.max(rssMiB, arrayBuffersMiB) / VALUE_MIB).toFixed(2),
    ms,
  });
}
const plain = asker(false);
/** @type {[string, string, ReturnType<typeof asker>][]} */
const hostile = [
  ['1 GB Content-Length', 'cl1g', plain],
  ['endless chunked stream', 'endless', plain],
  ['batch frame announcing 1 GB', 'frame', cache],
];
for (const [label, prefix, c] of hostile) {
  const keys = Array.from({ length: CONCURRENT }, (_, i) => `${prefix}:${i}:${Date.now()}`);
  const g = c.group('g');
  const { result, rssMiB, arrayBuffersMiB } = await peak(() => Promise.all(keys.map((k) => g.get(k).then(String))));
  const local = result.filter((v, i) => v === `local:${keys[i]}`).length;
  out.push({ case: `${CONCURRENT} gets, ${label}`, rssMiB: +rssMiB.toFixed(1), arrayBuffersMiB: +arrayBuffersMiB.toFixed(1), loadedLocally: local });
}
for (const line of out) console.log(JSON.stringify(line));
cache.close();
plain.close();
child.stdin.end();
child.kill();
