// The tags row's in-process measurements, in a fresh process run with --expose-gc: what tags cost
// in memory per (key, tag) pair (heap after a full GC, and what maxBytes counts), and what a hit on
// a value without tags costs in a group whose other values carry tags and saw invalidations,
// against the same hit in a group that never saw a tag.
import { Group } from 'geecache';
import { median } from '../lib/common.mjs';
import { accessOrder, MASK, ready, sampleInTurns, serve } from './ipc.mjs';

if (typeof globalThis.gc !== 'function') throw new Error('tags-memory.mjs needs node --expose-gc');

/** Heap in use after full GCs. */
function heap() {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

/** A group whose getter answers a 32-byte value and tags it with `tagsOf(key)` (none: untagged). */
function groupOf(name, tagsOf) {
  return new Group(name, {
    maxBytes: 1 << 30,
    hotCacheFraction: 0,
    getter: (key, { tags }) => {
      const t = tagsOf?.(key);
      if (t) tags(...t);
      return `value of ${key}`.padEnd(32, '.');
    },
  });
}

/** Heap and accounted bytes per (key, tag) pair of `keyCount` keys carrying `tagsOf(key)`, against the same keys untagged. */
async function perPair(keyCount, tagsOf, pairsPerKey) {
  const keys = Array.from({ length: keyCount }, (_, i) => `item:${i}`);
  const load = async (group) => {
    for (let i = 0; i < keys.length; i += 1_000) await group.getMany(keys.slice(i, i + 1_000));
  };
  const base = heap();
  const plain = groupOf('plain', undefined);
  await load(plain);
  const plainHeap = heap() - base;
  const plainBytes = plain.cacheStats().main.bytes;
  const base2 = heap();
  const tagged = groupOf('tagged', tagsOf);
  await load(tagged);
  const taggedHeap = heap() - base2;
  const taggedBytes = tagged.cacheStats().main.bytes;
  if (tagged.cacheStats().main.items !== keyCount || plain.cacheStats().main.items !== keyCount) throw new Error('not every key was cached');
  const pairs = keyCount * pairsPerKey;
  // Keep both alive until measured.
  const kept = [plain.peek(keys[0]), tagged.peek(keys[0])];
  return {
    heapPerPair: (taggedHeap - plainHeap) / pairs,
    accountedPerPair: (taggedBytes - plainBytes) / pairs,
    kept: kept.length,
  };
}

async function run({ keyCount, ops, runs }) {
  // One tag shared by every key (a category page's values).
  const shared = await perPair(keyCount, () => ['category:7'], 1);
  // Two per key: its own (product:<n>, a new string each load) and one of 50 categories.
  const own = await perPair(keyCount, (key) => [`product:${key.slice(5)}`, `category:${Number(key.slice(5)) % 50}`], 2);

  // Hits on values without tags: a group that never saw a tag, against one where half the values
  // carry tags and 1,000 invalidations of other tags were applied (the hits read untagged keys only).
  const keys = Array.from({ length: 10_000 }, (_, i) => `user:${i}`);
  const plain = groupOf('hits-plain', undefined);
  const mixed = groupOf('hits-mixed', (key) => (key.startsWith('tagged:') ? ['category:7'] : undefined));
  // Both hold the same 20,000 entries: the keys read, and as many others (tagged in `mixed` only).
  for (const k of keys) for (const group of [plain, mixed]) for (const key of [k, `tagged:${k}`]) await group.get(key);
  for (let i = 0; i < 1_000; i++) await mixed.invalidateTags([`other:${i}`]);
  const order = accessOrder(keys.length);
  let sink = 0;
  const peekOf = (group) => async (n) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += group.peek(keys[order[i & MASK]]).length;
    return Number(process.hrtime.bigint() - t) / n;
  };
  const getOf = (group) => async (n) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += (await group.get(keys[order[i & MASK]])).length;
    return Number(process.hrtime.bigint() - t) / n;
  };
  const samples = await sampleInTurns({ peekPlain: peekOf(plain), peekMixed: peekOf(mixed), getPlain: getOf(plain), getMixed: getOf(mixed) }, ops, runs);
  if (sink === 0) throw new Error('no value was read');
  const ratio = (a, b) => median(samples[a].map((x, i) => x / samples[b][i]));
  return {
    shared,
    own,
    nsPerOp: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])),
    peekRatio: ratio('peekMixed', 'peekPlain'),
    getRatio: ratio('getMixed', 'getPlain'),
  };
}

serve({ run });
ready();
