// Row ttl-hit: what TTL costs a cached get. `await group.get(k)` of a cached key in a group with
// ttlMs (lru-cache checks each entry's expiry) and with ttlMs + staleMs (geecache also reads the
// clock to spot a stale entry), each against the same group without TTL, in a fresh process
// (bench/children/ttl-hit.mjs).
import { round, runHitChild } from '../lib/common.mjs';

export const name = 'ttl-hit';
export const title = 'Cached get with TTL';

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const r = await runHitChild('ttl-hit.mjs', log);
  const ns = r.nsPerOp;
  /** @type {import('../lib/types.js').Goal} */
  const goal = { op: '<=', target: 1.1, text: '≤ 1.1×' };
  const ratio = round(r.ttlRatio, 2);
  return {
    value: ratio,
    unit: '×',
    goal,
    reference: `the same get without TTL: ${ns.plain.toFixed(1)} ns/op`,
    lines: [
      {
        label: 'await group.get(k), cached, ttlMs set (cost vs no TTL)',
        value: ratio,
        goal,
        measured: `${ns.ttl.toFixed(0)} vs ${ns.plain.toFixed(0)} ns/op`,
      },
      {
        label: 'the same with staleMs too (stale-while-revalidate)',
        value: round(r.staleRatio, 2),
        measured: `${ns.stale.toFixed(0)} vs ${ns.plain.toFixed(0)} ns/op`,
      },
    ],
    details: { ...r.details, getterRuns: r.loads },
  };
}
