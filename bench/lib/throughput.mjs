// Interleaved throughput measurement: every configuration is warmed, then measured once per
// round, the order rotating each round so no configuration always follows the same one. The
// machine is shared and noisy, so what counts is the median of each configuration and ratios
// between configurations measured in the same rounds.
import { median, round, settings } from './common.mjs';

/** Percent of one core used by each `servers` handle while `fn` runs. */
async function withCpu(servers, fn) {
  const before = await Promise.all(servers.map((s) => s.call({ cmd: 'cpu' })));
  const result = await fn();
  const after = await Promise.all(servers.map((s) => s.call({ cmd: 'cpu' })));
  const cpu = servers.map((_s, i) => (100 * (after[i].cpuUs - before[i].cpuUs) * 1000) / (after[i].wallNs - before[i].wallNs));
  // CPU time the servers spent per answered request: the server's cost, whether or not the load
  // generator managed to saturate it (on a shared 2-core machine it often cannot).
  const cpuUsPerReqEach = servers.map((_s, i) => (after[i].cpuUs - before[i].cpuUs) / result.ok);
  const cpuUsPerReq = cpuUsPerReqEach.reduce((n, x) => n + x, 0);
  return { result, cpu, cpuUsPerReq, cpuUsPerReqEach };
}

/**
 * configs: [{ id, servers: [handles whose CPU to watch], load: () => loadgen options without
 * connections/duration, prewarm?: seconds of untimed load right before each measured run (for
 * state that lasts seconds, e.g. hot copies: the steady state of that workload, not what the
 * configurations before it left), counters?: () => Promise<{ [name]: number }> read around each
 * measured run }] (load() is called before every run, so signatures stay fresh).
 * Returns { [id]: { rps, rpsRuns, p50, p99, cpu: [per server %], counted?: { [name]: sum over runs } } }.
 * @param {import('./types.js').Loadgen} loadgen
 * @param {{ id: string, servers: import('./types.js').ChildHandle[], load: () => Omit<import('./types.js').LoadOptions, 'connections' | 'duration'>, prewarm?: number, counters?: () => Promise<Record<string, number>> }[]} configs
 * @param {{ log?: (...args: unknown[]) => void }} [options]
 */
export async function measure(loadgen, configs, { log = () => {} } = {}) {
  const { warmup, connections, rounds } = settings;
  const duration = settings.duration / rounds;
  for (const c of configs) {
    await loadgen.run({ ...c.load(), connections, duration: warmup });
  }
  /** @type {Record<string, Record<string, number>>} */
  const counted = {};
  /** @type {Record<string, (import('./types.js').LoadResult & { cpu: number[], cpuUsPerReq: number, cpuUsPerReqEach: number[] })[]>} */
  const runs = Object.fromEntries(configs.map((c) => [c.id, []]));
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < configs.length; j++) {
      const c = configs[(j + r) % configs.length];
      if (c.prewarm) await loadgen.run({ ...c.load(), connections, duration: c.prewarm });
      const before = await c.counters?.();
      const { result, cpu, cpuUsPerReq, cpuUsPerReqEach } = await withCpu(c.servers, () => loadgen.run({ ...c.load(), connections, duration }));
      runs[c.id].push({ ...result, cpu, cpuUsPerReq, cpuUsPerReqEach });
      if (before) {
        const after = await c.counters?.();
        counted[c.id] = counted[c.id] ?? {};
        const sums = counted[c.id];
        for (const [k, v] of Object.entries(after ?? {})) sums[k] = (sums[k] ?? 0) + v - (before[k] ?? 0);
      }
      log(
        `  round ${r + 1}/${rounds} ${c.id}: ${Math.round(result.rps)} req/s, p99 ${result.p99} ms, server CPU ${cpu.map((x) => `${Math.round(x)}%`).join('/')}, ${cpuUsPerReq.toFixed(0)} µs CPU/req`,
      );
    }
  }
  return Object.fromEntries(
    Object.entries(runs).map(([id, rs]) => [
      id,
      {
        rps: round(median(rs.map((x) => x.rps)), 1),
        rpsRuns: rs.map((x) => round(x.rps, 1)),
        p50: round(median(rs.map((x) => x.p50)), 2),
        p99: round(median(rs.map((x) => x.p99)), 2),
        cpu: rs[0].cpu.map((_, i) => round(median(rs.map((x) => x.cpu[i])), 0)),
        cpuUsPerReq: round(median(rs.map((x) => x.cpuUsPerReq)), 1),
        cpuUsPerReqRuns: rs.map((x) => round(x.cpuUsPerReq, 1)),
        // The first server's share alone (the loaded front), per round.
        firstCpuUsPerReqRuns: rs.map((x) => round(x.cpuUsPerReqEach[0], 1)),
        // Spread of the rounds (max/min): how noisy the machine was for this configuration.
        spread: round(Math.max(...rs.map((x) => x.rps)) / Math.min(...rs.map((x) => x.rps)), 2),
        ...(counted[id] ? { counted: counted[id] } : {}),
      },
    ]),
  );
}

/**
 * The median over rounds of reference/subject server CPU per request: the throughput ratio the
 * servers would reach if CPU were their only limit (higher is better, as for pairedRatio).
 */
export function cpuRatio(result, subjectId, referenceId) {
  const s = result[subjectId].cpuUsPerReqRuns;
  const r = result[referenceId].cpuUsPerReqRuns;
  return round(median(s.map((x, i) => r[i] / x)), 3);
}

/** The median over rounds of subject/reference measured in the same round: steadier than a ratio of medians. */
export function pairedRatio(result, subjectId, referenceId) {
  const s = result[subjectId].rpsRuns;
  const r = result[referenceId].rpsRuns;
  return round(median(s.map((x, i) => x / r[i])), 3);
}

/** As cpuRatio, for the first server of each configuration alone (the loaded front, without its peers or Redis). */
export function firstCpuRatio(result, subjectId, referenceId) {
  const s = result[subjectId].firstCpuUsPerReqRuns;
  const r = result[referenceId].firstCpuUsPerReqRuns;
  return round(median(s.map((x, i) => r[i] / x)), 3);
}
