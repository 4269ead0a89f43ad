// Shared by the bench orchestrator and its rows: settings from the environment, child
// processes that are always cleaned up, and small statistics helpers.
import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChildPeer, whenReady } from '../../test/helpers/child.mjs';

export { freePorts, stopAll } from '../../test/helpers/child.mjs';
export { sleep } from '../../test/helpers/wait.mjs';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(BENCH_DIR, '..');
export const CHILDREN = path.join(BENCH_DIR, 'children');

const num = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
};

const smoke = process.env.BENCH_SMOKE === '1' || process.env.BENCH_SMOKE === 'true';

/**
 * Every knob of the bench. BENCH_SMOKE=1 shrinks everything so the whole harness runs in
 * seconds (it then measures nothing meaningful: it only proves the harness works).
 */
export const settings = {
  smoke,
  /** Seconds of load per throughput measurement (one configuration of a row), split over the rounds. */
  duration: num('BENCH_DURATION', smoke ? 0.25 : 5),
  /**
   * Interleaved rounds per throughput row: each round measures every configuration for
   * duration/rounds seconds, the order rotating; a row's ratio is the median of the per-round
   * ratios, so a burst of load from other processes on the machine hits one round, not one side.
   */
  rounds: Math.round(num('BENCH_ROUNDS', smoke ? 1 : 5)),
  /** Seconds of untimed load on each server before its rounds. */
  warmup: num('BENCH_WARMUP', smoke ? 0.1 : 2),
  /** Load generator connections. */
  connections: Math.round(num('BENCH_CONNECTIONS', smoke ? 4 : 50)),
  /** Size of the cached values served in the local-hit, peer-serve, end-to-end and stampede rows. */
  valueBytes: Math.round(num('BENCH_VALUE_BYTES', 1024)),
  /** local-hit: operations per timed run, and timed runs per side. */
  localOps: Math.round(num('BENCH_LOCAL_OPS', smoke ? 20_000 : 1_000_000)),
  localRuns: Math.round(num('BENCH_LOCAL_RUNS', smoke ? 3 : 9)),
  localKeys: Math.round(num('BENCH_LOCAL_KEYS', smoke ? 1_000 : 10_000)),
  /** end-to-end: distinct keys per set (remote-owned, locally owned). */
  e2eKeys: Math.round(num('BENCH_E2E_KEYS', smoke ? 30 : 1_000)),
  /** stampede: concurrent gets, and how long the loader takes. */
  stampedeGets: Math.round(num('BENCH_STAMPEDE_GETS', smoke ? 300 : 10_000)),
  stampedeLoaderMs: num('BENCH_STAMPEDE_LOADER_MS', 100),
  /** ring: keys hashed per ring. */
  ringKeys: Math.round(num('BENCH_RING_KEYS', smoke ? 10_000 : 100_000)),
  ringPeers: (process.env.BENCH_RING_PEERS ?? '3,5,10,50').split(',').map(Number),
  /** memory: the cache's maxBytes, in MB. */
  memoryMB: num('BENCH_MEMORY_MB', smoke ? 8 : 200),
  /** vs-redis: pin the servers to CPU 0 and wrk to CPU 1 with taskset (BENCH_PIN=1). Off by default: on a machine shared with other jobs, a pinned server cannot escape a busy core. */
  pin: process.env.BENCH_PIN === '1',
  /** membership: cached keys before the scale-out, closed-loop clients and getter time during the restart, and the steady phases. */
  membershipKeys: Math.round(num('BENCH_MEMBERSHIP_KEYS', smoke ? 300 : 10_000)),
  membershipClients: Math.round(num('BENCH_MEMBERSHIP_CLIENTS', smoke ? 2 : 8)),
  membershipGetterMs: num('BENCH_MEMBERSHIP_GETTER_MS', 20),
  membershipSteadyMs: smoke ? 500 : 3_000,
  /** 'autocannon' (default) or 'wrk' (falls back to autocannon when wrk is not installed). */
  loadgen: process.env.BENCH_LOADGEN ?? 'autocannon',
  /** Where the JSON goes. */
  out: process.env.BENCH_OUT ?? path.join(BENCH_DIR, 'results', 'latest.json'),
};

export const SECRET = 'bench-secret-0123456789abcdef';

// ---------------------------------------------------------------------------------------------
// Child processes. Every child is registered here and killed when the orchestrator exits for any
// reason; every child script also exits by itself when its IPC channel to us closes, so even a
// SIGKILLed orchestrator leaves nothing behind.

const live = new Set();
/** Every child pid ever started, so the smoke test can check none is left. */
export const startedPids = [];

export function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      killAll();
      process.exit(128 + (os.constants.signals[signal] ?? 1));
    });
  }
}

/**
 * Starts `node script` with `config` (JSON in argv[2]) and an IPC channel; resolves once the
 * child prints its ready line (test/helpers/ready.mjs: the protocol of every child, in the tests
 * too). The handle's `call(msg)` sends a message with an id and resolves with the child's
 * { id, result } / rejects with its { id, error } (test/helpers/child.mjs).
 * @param {string} script a file of bench/children/
 * @param {Record<string, unknown>} [config]
 * @param {{ nodeArgs?: string[], name?: string, readyTimeoutMs?: number, cpus?: string }} [options] cpus: pin to these CPUs (taskset -c) where taskset exists
 * @returns {Promise<import('./types.js').ChildHandle>}
 */
export function startChild(script, config = {}, { nodeArgs = [], name = path.basename(script), readyTimeoutMs = 30_000, cpus } = {}) {
  const child = spawn(...pinned(cpus, process.execPath, [...nodeArgs, path.resolve(CHILDREN, script), JSON.stringify(config)]), {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return whenReady(track(child), name, { readyTimeoutMs });
}

/**
 * Starts the geecache peer fixture (test/fixtures/peer.mjs) for `config.self`, with an IPC channel
 * (the fixture then answers the bench's commands) and what the bench wants unless `config` says
 * otherwise: 64 MB per cache, no Prometheus registry.
 * @param {{ self: string } & Record<string, unknown>} config
 * @returns {Promise<import('./types.js').ChildHandle>}
 */
export function startBenchPeer(config) {
  const port = Number(new URL(config.self).port);
  return startChildPeer({ port, maxBytes: 64 << 20, metrics: false, ...config }, { ipc: true, env: { NODE_ENV: 'production' }, onSpawn: track });
}

/**
 * Runs a hit micro-benchmark child (bench/children/local-hit.mjs, ttl-hit.mjs) in a fresh process,
 * so other rows' JIT state cannot tilt it, with the settings' key count, value size, ops and runs;
 * logs and returns its result (`nsPerOp` by case, and whatever else the child reports) with the
 * row's `details` (the settings and the rounded ns/op).
 * @param {string} script
 * @param {(line: string) => void} log
 */
export async function runHitChild(script, log) {
  const child = await startChild(script, {}, { name: script.replace(/\.mjs$/, '') });
  try {
    const r = await child.call({ cmd: 'run', keyCount: settings.localKeys, valueBytes: settings.valueBytes, ops: settings.localOps, runs: settings.localRuns });
    log(
      `  ns/op: ${Object.entries(r.nsPerOp)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')}`,
    );
    const details = {
      keys: settings.localKeys,
      valueBytes: settings.valueBytes,
      opsPerRun: settings.localOps,
      runs: settings.localRuns,
      nsPerOp: Object.fromEntries(Object.entries(r.nsPerOp).map(([k, v]) => [k, round(v, 1)])),
    };
    return { ...r, details };
  } finally {
    await child.stop();
  }
}

/** Whether `taskset` is installed (util-linux): then processes can be pinned to CPUs. */
export const HAS_TASKSET = spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).status === 0;

/**
 * [command, args] for spawn, run under `taskset -c cpus` when cpus is given and taskset exists
 * (taskset execs the command: the pid stays the command's).
 * @param {string | undefined} cpus
 * @param {string} command
 * @param {string[]} args
 * @returns {[string, string[]]}
 */
export function pinned(cpus, command, args) {
  return cpus && HAS_TASKSET ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
}

/** Registers an external (non-node) process, e.g. wrk, so it is killed with the rest. */
export function track(child) {
  hookExit();
  live.add(child);
  startedPids.push(child.pid);
  child.on('exit', () => live.delete(child));
  return child;
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting.

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The q-quantile (0..1) of `xs` by nearest rank. */
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export const round = (x, digits = 3) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

export function fmtCount(x) {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (Math.abs(x) >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toFixed(1);
}

export function machine() {
  const nproc = spawnSync('nproc', { encoding: 'utf8' }).stdout?.trim();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim();
  return {
    nproc: Number(nproc) || os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    totalMemMB: Math.round(os.totalmem() / 2 ** 20),
    loadavg: os.loadavg().map((x) => round(x, 2)),
    commit: commit || undefined,
  };
}

/** pass/miss of `value` against a goal { op: '<=' | '>=' | '==', target }. */
export function judge(value, goal) {
  if (!goal || !Number.isFinite(value)) return null;
  if (goal.op === '<=') return value <= goal.target;
  if (goal.op === '>=') return value >= goal.target;
  if (goal.op === '==') return value === goal.target;
  throw new Error(`unknown goal op ${goal.op}`);
}

/** GET `url` with node's fetch; throws unless the status is 200. Returns the body's bytes. */
export async function get200(url, headers = {}) {
  const res = await fetch(url, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${body.toString('utf8', 0, 300)}`);
  return body;
}
