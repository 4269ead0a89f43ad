// Row local-hit: `await group.get(k)` of a cached key against lru-cache's get, in a fresh
// process (bench/children/local-hit.mjs) so other rows' JIT state cannot tilt it.
import { round, runHitChild } from '../lib/common.mjs';

export const name = 'local-hit';
export const title = 'Local hit';

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const r = await runHitChild('local-hit.mjs', log);
  const ns = r.nsPerOp;
  const ratio = round(r.pairedRatio, 2);
  /** @type {import('../lib/types.js').Line[]} */
  const peekLine =
    ns.groupPeek === undefined
      ? []
      : [{ label: 'group.peek(k), synchronous (no Promise)', value: round(ns.groupPeek / ns.lruCache, 2), measured: `${ns.groupPeek.toFixed(0)} ns/op` }];
  /** @type {import('../lib/types.js').Goal} */
  const goal = { op: '<=', target: 2, text: '≤ 2×' };
  return {
    value: ratio,
    unit: '×',
    goal,
    reference: `lru-cache get ${ns.lruCache.toFixed(1)} ns/op`,
    lines: [
      {
        label: 'await group.get(k), cached key (cost vs lru-cache get)',
        value: ratio,
        goal,
        measured: `${ns.group.toFixed(0)} vs ${ns.lruCache.toFixed(0)} ns/op`,
      },
      ...peekLine,
      { label: "geecache's sync LRU wrapper get (no Promise)", value: round(ns.lruWrapper / ns.lruCache, 2), measured: `${ns.lruWrapper.toFixed(0)} ns/op` },
      {
        label: 'lru-cache get inside an async fn, awaited (Promise floor)',
        value: round(ns.lruCacheAwaited / ns.lruCache, 2),
        measured: `${ns.lruCacheAwaited.toFixed(0)} ns/op; group.get / this = ${(ns.group / ns.lruCacheAwaited).toFixed(2)}×`,
      },
    ],
    details: r.details,
  };
}
