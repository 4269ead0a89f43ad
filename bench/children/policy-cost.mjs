// The hit-ratio row's cost process: what the adaptive policy adds to a hit and to a miss of
// `await group.get(k)`, against the same Group with `policy: 'lru'` (geecache before the policy),
// in a fresh process so other rows' JIT state cannot tilt it. Runs alternate between the two
// after a warm-up; per-run ratios are paired (adaptive run / lru run next to it).
import { Group } from 'geecache';
import { accessOrder, MASK, ready, sampleInTurns, serve } from './ipc.mjs';

async function run({ keyCount, valueBytes, ops, runs }) {
  const value = 'v'.repeat(valueBytes);
  const keys = Array.from({ length: keyCount }, (_, i) => `user:${i}`);
  const order = accessOrder(keyCount);
  const entry = 256 + 12 + valueBytes;
  let sink = 0;

  // Hits: every key cached, room for twice as many (as local-hit).
  /** @param {'lru' | 'adaptive'} policy */
  const hitGroup = async (policy) => {
    const group = new Group(`cost-hit-${policy}`, { maxBytes: 2 * keyCount * entry, hotCacheFraction: 0, policy, getter: () => value });
    for (const k of keys) await group.get(k);
    for (const k of keys) await group.get(k); // read twice: settled in their segments
    return group;
  };
  const hit = { lru: await hitGroup('lru'), adaptive: await hitGroup('adaptive') };
  /** @param {Group} group */
  const hits = (group) => async (/** @type {number} */ n) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += (await group.get(keys[order[i & MASK]])).length;
    return Number(process.hrtime.bigint() - t) / n;
  };

  // Misses: a full cache of 2,000 entries, every get a key never asked before (the getter runs, the entry is added, one is evicted).
  const missKeys = Array.from({ length: 400_000 }, (_, i) => `miss:${i}`);
  /** @param {'lru' | 'adaptive'} policy */
  const missGroup = (policy) => new Group(`cost-miss-${policy}`, { maxBytes: 2000 * entry, hotCacheFraction: 0, policy, getter: () => value });
  const miss = { lru: missGroup('lru'), adaptive: missGroup('adaptive') };
  const next = { lru: 0, adaptive: 0 };
  /** @param {'lru' | 'adaptive'} policy */
  const misses = (policy) => async (/** @type {number} */ n) => {
    const group = miss[policy];
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += (await group.get(missKeys[next[policy]++ % missKeys.length])).length;
    return Number(process.hrtime.bigint() - t) / n;
  };
  // Misses take ~50x a hit: fewer per run, and three times the runs, for a steadier median on a busy machine.
  const missOps = Math.max(2_000, Math.round(ops / 100));
  for (const policy of /** @type {const} */ (['lru', 'adaptive'])) await misses(policy)(4_000); // fill

  // Heap per entry: 20,000 entries (2,000 in smoke runs) of 100-byte values through each policy, after a full GC; each
  // group is kept alive, so that the next one's figure does not count its going.
  /** @type {Record<string, number>} */
  const heapPerEntry = {};
  const kept = [];
  for (const policy of /** @type {const} */ (['lru', 'adaptive'])) {
    const n = Math.min(20_000, Math.max(2_000, Math.round(ops / 50)));
    const small = 'h'.repeat(100);
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    const group = new Group(`cost-heap-${policy}`, { maxBytes: 4 * n * 400, hotCacheFraction: 0, policy, getter: (k) => small + k });
    kept.push(group);
    for (let i = 0; i < n; i++) await group.get(`heap:${i}`);
    for (let i = 0; i < n; i++) await group.get(`heap:${i}`);
    globalThis.gc?.();
    heapPerEntry[policy] = (process.memoryUsage().heapUsed - before) / n;
    sink += group.cacheStats().main.items;
  }

  const hitSamples = await sampleInTurns({ lru: hits(hit.lru), adaptive: hits(hit.adaptive) }, ops, runs);
  const missSamples = await sampleInTurns({ lru: misses('lru'), adaptive: misses('adaptive') }, missOps, 3 * runs);
  if (sink === 0) throw new Error('no value was read');
  const ratios = (/** @type {Record<string, number[]>} */ s) => s.adaptive.map((a, i) => a / s.lru[i]);
  return {
    hit: { samples: hitSamples, ratios: ratios(hitSamples) },
    miss: { samples: missSamples, ratios: ratios(missSamples) },
    missOps,
    heapPerEntry,
    gc: typeof globalThis.gc === 'function',
  };
}

serve({ run });
ready();
