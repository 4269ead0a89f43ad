// Row hit-ratio: how many loads the cache policy saves at a given memory. Each trace of
// ../shared/traces/ is replayed through the real Group (its getter counts the misses) at 1%, 5%
// and 10% of its distinct keys, with `policy: 'lru'` (geecache before the policy) and with the
// default `policy: 'adaptive'`, beside Belady's OPT (computed: the trace is known in advance) and
// the README's W-TinyLFU figures (static 1% window, Caffeine's simulator). Then a cluster of three
// in-process peers replays one trace through middleware.get, and a fresh process measures what the
// policy adds to a hit and to a miss. Writes docs/hit-ratio/<trace>.svg (hit ratio against cache
// size). The adaptive policy's hash seed is per group, so traces up to 200,000 accesses are
// replayed BENCH_HIT_REPEATS (3) times with it and the mean shown (the range in the line).
// BENCH_HIT_TRACES=gli,ps picks traces; BENCH_HIT_LIMIT caps each trace's accesses.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { optHitRatio } from '../hitratio/opt.mjs';
import { ENTRY_BYTES, replayCluster, VALUE_BYTES } from '../hitratio/replay.mjs';
import { hitRatioSvg } from '../hitratio/svg.mjs';
import { keyNames, loadTrace, SHARES, TRACES } from '../hitratio/traces.mjs';
import { quantile, ROOT, round, settings, startChild } from '../lib/common.mjs';

export const name = 'hit-ratio';
export const title = 'Hit ratio on real traces: the adaptive policy against LRU and OPT';

/** Replays of the adaptive policy per short trace and capacity (BENCH_HIT_REPEATS). */
const REPEATS = Math.max(1, Number(process.env.BENCH_HIT_REPEATS ?? (settings.smoke ? 1 : 3)));
/** The trace and per-peer capacity (share of its distinct keys) of the cluster part. */
const CLUSTER = { trace: 'web07', share: 0.05 };
const SVG_DIR = path.join(ROOT, 'docs', 'hit-ratio');

const pct = (x) => round(100 * x, 1);

/**
 * Runs replay tasks on a pool of worker threads (one per core, at most 4).
 * @param {{ trace: string, capacity: number, policy: 'lru' | 'adaptive', limit: number }[]} tasks
 * @param {(line: string) => void} log
 */
async function replayAll(tasks, log) {
  const size = Math.max(1, Math.min(4, os.availableParallelism?.() ?? os.cpus().length, tasks.length));
  const workers = Array.from({ length: size }, () => new Worker(new URL('../hitratio/worker.mjs', import.meta.url)));
  /** @type {any[]} */
  const results = new Array(tasks.length);
  // Tasks sorted by trace so that a worker keeps its trace loaded; the longest traces first.
  const order = tasks.map((_, i) => i).sort((a, b) => tasks[a].trace.localeCompare(tasks[b].trace));
  let next = 0;
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise((resolve, reject) => {
            const take = () => {
              if (next >= order.length) return resolve(undefined);
              const i = order[next++];
              worker.postMessage({ id: i, ...tasks[i] });
            };
            worker.on('message', (msg) => {
              if (msg.error) return reject(new Error(msg.error));
              results[msg.id] = msg.result;
              const t = tasks[msg.id];
              log(`  ${t.trace} ${t.capacity} ${t.policy}: ${pct(msg.result.hitRatio)}% (${msg.result.ms} ms)`);
              take();
            });
            worker.on('error', reject);
            take();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}

/** The cost child's figures: paired ratios adaptive / lru for hits and misses, and heap per entry. */
async function measureCost(log) {
  const child = await startChild('policy-cost.mjs', {}, { name: 'policy-cost', nodeArgs: ['--expose-gc'] });
  try {
    const r = await child.call({ cmd: 'run', keyCount: settings.localKeys, valueBytes: settings.valueBytes, ops: settings.localOps, runs: settings.localRuns });
    const summary = (/** @type {{ samples: Record<string, number[]>, ratios: number[] }} */ part) => ({
      lruNs: quantile(part.samples.lru, 0.5),
      adaptiveNs: quantile(part.samples.adaptive, 0.5),
      ratio: quantile(part.ratios, 0.5),
      q1: quantile(part.ratios, 0.25),
      q3: quantile(part.ratios, 0.75),
      min: Math.min(...part.ratios),
      max: Math.max(...part.ratios),
    });
    const cost = { hit: summary(r.hit), miss: summary(r.miss), heapPerEntry: r.heapPerEntry, gc: r.gc };
    log(
      `  hit ${cost.hit.ratio.toFixed(2)}× (quartiles ${cost.hit.q1.toFixed(2)}-${cost.hit.q3.toFixed(2)}), miss ${cost.miss.ratio.toFixed(2)}× (${cost.miss.q1.toFixed(2)}-${cost.miss.q3.toFixed(2)})`,
    );
    return cost;
  } finally {
    await child.stop();
  }
}

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const picked = process.env.BENCH_HIT_TRACES?.split(',').map((s) => s.trim());
  const limit = Number(process.env.BENCH_HIT_LIMIT ?? (settings.smoke ? 20_000 : 0));
  const traces = TRACES.filter((t) => !picked || picked.includes(t.name));
  if (traces.length === 0) throw new Error(`BENCH_HIT_TRACES names no trace; the traces are: ${TRACES.map((t) => t.name).join(', ')}`);

  log('  cost of a hit and a miss (fresh process)');
  const cost = await measureCost(log);

  // The traces, their capacities and OPT (here, while the workers replay).
  const loaded = traces.map((t) => {
    const { accesses, distinct } = loadTrace(t);
    const used = limit > 0 && accesses.length > limit ? accesses.subarray(0, limit) : accesses;
    return { ...t, accesses: used, distinct, capacities: SHARES.map((s) => Math.max(2, Math.round(distinct * s))) };
  });
  if (limit > 0) log(`  BENCH_HIT_LIMIT: the first ${limit} accesses of each trace (the W-TinyLFU figures are for whole traces)`);
  // The adaptive policy hashes keys with a seed of its own per group: on a short trace the hash
  // collisions it happens to get move its hit ratio, so short traces are replayed REPEATS times.
  const repeatsOf = (/** @type {{ accesses: Int32Array }} */ t) => (t.accesses.length <= 200_000 ? REPEATS : 1);
  const tasks = loaded.flatMap((t) =>
    t.capacities.flatMap((capacity) => [
      { trace: t.name, capacity, policy: /** @type {const} */ ('lru'), limit },
      ...Array.from({ length: repeatsOf(t) }, () => ({ trace: t.name, capacity, policy: /** @type {const} */ ('adaptive'), limit })),
    ]),
  );
  const started = Date.now();
  const replays = replayAll(tasks, log);
  const opts = loaded.map((t) => t.capacities.map((c) => optHitRatio(t.accesses, t.distinct, c)));
  const results = await replays;
  log(`  replays: ${Math.round((Date.now() - started) / 1000)} s`);

  /** @type {import('../lib/types.js').Line[]} */
  const lines = [];
  const table = [];
  let task = 0;
  for (const [ti, t] of loaded.entries()) {
    /** @type {{ lru: number[], adaptive: number[], opt: number[] }} */
    const chart = { lru: [], adaptive: [], opt: [] };
    for (const [ci, capacity] of t.capacities.entries()) {
      const lru = results[task++];
      const runs = results.slice(task, task + repeatsOf(t));
      task += runs.length;
      const adaptive = { hitRatio: runs.reduce((sum, r) => sum + r.hitRatio, 0) / runs.length, items: runs[0].items };
      const opt = opts[ti][ci];
      const gap = opt - lru.hitRatio;
      const closed = gap > 0.0005 ? (adaptive.hitRatio - lru.hitRatio) / gap : 1;
      const row = {
        trace: t.name,
        share: SHARES[ci],
        capacity,
        lru: pct(lru.hitRatio),
        adaptive: pct(adaptive.hitRatio),
        adaptiveRuns: runs.map((r) => pct(r.hitRatio)),
        wtinylfu: t.wtinylfu[ci],
        opt: pct(opt),
        closed: round(100 * closed, 0),
        items: { lru: lru.items, adaptive: adaptive.items },
      };
      table.push(row);
      chart.lru.push(row.lru);
      chart.adaptive.push(row.adaptive);
      chart.opt.push(row.opt);
      lines.push({
        label: `${t.name}, ${capacity} entries (${Math.round(100 * SHARES[ci])}%)`,
        value: row.adaptive,
        unit: '%',
        goal: { op: '>=', target: round(row.lru - 0.5, 1), text: '≥ LRU − 0.5' },
        measured: `LRU ${row.lru}, adaptive ${row.adaptive}${runs.length > 1 ? ` (${Math.min(...row.adaptiveRuns)}-${Math.max(...row.adaptiveRuns)} over ${runs.length} runs)` : ''}, W-TinyLFU ${row.wtinylfu}, OPT ${row.opt}; ${row.closed}% of the LRU→OPT gap`,
      });
    }
    // The committed charts are of whole traces: a smoke run, a limit or a pick of traces leaves them be.
    if (settings.smoke || limit > 0 || picked) continue;
    fs.mkdirSync(SVG_DIR, { recursive: true });
    fs.writeFileSync(
      path.join(SVG_DIR, `${t.name}.svg`),
      hitRatioSvg({
        title: `${t.name}: ${t.kind}`,
        subtitle: `${t.accesses.length.toLocaleString('en')} accesses, ${t.distinct.toLocaleString('en')} keys; geecache's Group, ${VALUE_BYTES}-byte values`,
        xs: SHARES,
        xLabels: SHARES.map((s, i) => `${Math.round(100 * s)}% (${t.capacities[i]})`),
        series: [
          { name: 'LRU', color: '#888', ys: chart.lru },
          { name: 'geecache (adaptive)', color: '#1f6feb', ys: chart.adaptive },
          { name: 'OPT (the limit)', color: '#2da44e', dash: '5 3', ys: chart.opt },
        ],
      }),
    );
  }

  const meanClosed = table.reduce((s, r) => s + r.closed, 0) / table.length;
  const nearRef = table.filter((r) => r.adaptive >= r.wtinylfu - 0.5).length / table.length;
  const worst = Math.min(...table.map((r) => r.adaptive - r.lru));

  log(`  cluster: 3 peers, ${CLUSTER.trace} at ${Math.round(100 * CLUSTER.share)}% of its keys per peer`);
  const ct = loaded.find((t) => t.name === CLUSTER.trace) ?? loaded[0];
  const cAccesses = settings.smoke ? ct.accesses.subarray(0, 3_000) : ct.accesses;
  const cKeys = keyNames(ct.distinct);
  const cCapacity = Math.round(ct.distinct * CLUSTER.share);
  const cluster = { lru: await replayCluster(cAccesses, cKeys, cCapacity, 'lru'), adaptive: await replayCluster(cAccesses, cKeys, cCapacity, 'adaptive') };

  lines.push(
    {
      label: 'rows within 0.5 of the static W-TinyLFU figures',
      value: round(100 * nearRef, 0),
      unit: '%',
      goal: { op: '>=', target: 90, text: '≥ 90%' },
      measured: `${Math.round(nearRef * table.length)} of ${table.length}`,
    },
    { label: 'worst row, adaptive − LRU', value: round(worst, 1), unit: ' points', goal: { op: '>=', target: -0.5, text: '≥ −0.5' } },
    {
      label: `cluster of 3 (${ct.name}, ${cCapacity} entries per peer): getter calls, adaptive / LRU`,
      value: round(cluster.adaptive.getterCalls / cluster.lru.getterCalls, 3),
      unit: '×',
      measured: `${cluster.adaptive.getterCalls} vs ${cluster.lru.getterCalls} (hit ratio ${pct(cluster.adaptive.hitRatio)}% vs ${pct(cluster.lru.hitRatio)}%)`,
    },
    {
      label: 'cost of a hit, await group.get: adaptive / LRU',
      value: round(cost.hit.ratio, 2),
      unit: '×',
      goal: { op: '<=', target: 1.1, text: '≤ 1.1×' },
      measured: `${cost.hit.adaptiveNs.toFixed(0)} vs ${cost.hit.lruNs.toFixed(0)} ns; paired runs ${cost.hit.q1.toFixed(2)}-${cost.hit.q3.toFixed(2)} (quartiles), ${cost.hit.min.toFixed(2)}-${cost.hit.max.toFixed(2)}`,
    },
    {
      label: 'cost of a miss (getter + add + eviction): adaptive / LRU',
      value: round(cost.miss.ratio, 2),
      unit: '×',
      goal: { op: '<=', target: 1.2, text: '≤ 1.2×' },
      measured: `${cost.miss.adaptiveNs.toFixed(0)} vs ${cost.miss.lruNs.toFixed(0)} ns; paired runs ${cost.miss.q1.toFixed(2)}-${cost.miss.q3.toFixed(2)} (quartiles), ${cost.miss.min.toFixed(2)}-${cost.miss.max.toFixed(2)}`,
    },
    {
      label: 'heap per cached entry (100-byte values), adaptive − LRU',
      value: round(cost.heapPerEntry.adaptive - cost.heapPerEntry.lru, 0),
      unit: ' B',
      measured: `${Math.round(cost.heapPerEntry.adaptive)} vs ${Math.round(cost.heapPerEntry.lru)} B per entry${cost.gc ? '' : ' (no --expose-gc: rough)'}`,
    },
  );
  /** @type {import('../lib/types.js').Goal} */
  const goal = { op: '>=', target: 60, text: '≥ 60% on average' };
  return {
    value: round(meanClosed, 0),
    unit: '%',
    goal,
    reference: 'LRU (policy: lru) and OPT on the same replay',
    headline: 'share of the LRU→OPT gap closed, mean over the rows',
    lines: [{ label: 'share of the LRU→OPT gap closed, mean over the rows', value: round(meanClosed, 0), unit: '%', goal }, ...lines],
    details: { entryBytes: ENTRY_BYTES, valueBytes: VALUE_BYTES, table, cluster, cost },
  };
}
