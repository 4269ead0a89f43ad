// One interface over the two load generators, both in their own process:
//   autocannon (default): bench/children/loadgen.mjs, autocannon's API over IPC;
//   wrk (BENCH_LOADGEN=wrk, if installed): the C tool, usually able to push a server harder.
// run({ url, paths, headers, connections, duration }) -> { rps, p50, p99, ok, non2xx, errors }
// where rps counts 2xx answers only; any non-2xx or socket error fails the measurement.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolPath } from '../../test/helpers/tools.mjs';
import { pinned, settings, startChild, track } from './common.mjs';

function findWrk() {
  return toolPath('wrk');
}

/** wrk itself, whatever BENCH_LOADGEN says (for rows that need a load generator that saturates the server), or undefined. */
export function wrkLoadgen() {
  const wrk = findWrk();
  return wrk ? { kind: /** @type {const} */ ('wrk'), note: undefined, run: (o) => check(o, runWrk(wrk, o)), stop: async () => {} } : undefined;
}

export async function createLoadgen() {
  const wrk = settings.loadgen === 'wrk' ? findWrk() : undefined;
  const note = settings.loadgen === 'wrk' && !wrk ? 'wrk requested but not installed: fell back to autocannon' : undefined;
  if (note) console.warn(`bench: ${note}`);
  if (wrk) return { kind: 'wrk', note, run: (o) => check(o, runWrk(wrk, o)), stop: async () => {} };
  const child = await startChild('loadgen.mjs', {}, { name: 'loadgen' });
  return {
    kind: 'autocannon',
    note,
    run: (o) => check(o, child.call({ cmd: 'run', ...o }, (o.duration + 60) * 1000)),
    stop: () => child.stop(),
  };
}

async function check(opts, promise) {
  const r = await promise;
  if (r.non2xx > 0 || r.errors > 0 || r.ok === 0) {
    throw new Error(`load on ${opts.url} got ${r.ok} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors: the measurement is invalid`);
  }
  return r;
}

function runWrk(bin, { url, paths, headers = {}, connections, duration, cpus }) {
  const list = paths && paths.length > 0 ? paths : [new URL(url).pathname + new URL(url).search];
  const lua = `
local paths = {${list.map((p) => JSON.stringify(p)).join(',')}}
local headers = {${Object.entries(headers)
    .map(([k, v]) => `[${JSON.stringify(k)}]=${JSON.stringify(v)}`)
    .join(',')}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nJSON{"requests":%d,"duration_us":%d,"errors":%d,"status":%d,"p50":%f,"p99":%f,"mean":%f}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
`;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'geecache-bench-')), 'load.lua');
  fs.writeFileSync(file, lua);
  const origin = new URL(url).origin;
  const seconds = Math.max(1, Math.round(duration));
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(...pinned(cpus, bin, ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', file, origin]), { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', () => {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
      const m = out.match(/JSON(\{.*\})/);
      if (!m) return reject(new Error(`wrk failed:\n${out}`));
      const j = JSON.parse(m[1]);
      const d = j.duration_us / 1e6;
      const ok = j.requests - j.status;
      resolve({ rps: ok / d, total: j.requests, ok, non2xx: j.status, errors: j.errors, duration: d, p50: j.p50, p99: j.p99, meanLatency: j.mean });
    });
  });
}
