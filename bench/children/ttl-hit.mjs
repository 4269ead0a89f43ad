// The ttl-hit row's process: ns/op of `await group.get(k)` for cached keys in a group with TTL
// (ttlMs, so every entry carries an expiry that lru-cache checks on each get) against the same
// group without. Same keys, values and access order; runs alternate between the contenders after
// a warm-up, and the ratio is the median of per-run ratios (paired), so a burst of load from
// other processes on the machine hits both sides.

import { geecache } from 'geecache';
import { median } from '../lib/common.mjs';
import { accessOrder, MASK, ready, sampleInTurns, serve, valueFor } from './ipc.mjs';

async function run({ keyCount, valueBytes, ops, runs }) {
  const keys = Array.from({ length: keyCount }, (_, i) => `user:${i}`);
  const values = new Map(keys.map((k) => [k, valueFor(k, valueBytes)]));
  const maxBytes = 2 * keyCount * (valueBytes + 512) + (1 << 20);
  const getter = (k) => /** @type {Buffer} */ (values.get(k));
  const hour = 3_600_000;
  const middleware = geecache({
    self: 'http://127.0.0.1:1',
    groups: {
      plain: { maxBytes, hotCacheFraction: 0, getter },
      ttl: { maxBytes, hotCacheFraction: 0, ttlMs: hour, getter },
      stale: { maxBytes, hotCacheFraction: 0, ttlMs: hour, staleMs: hour, getter },
    },
  });
  const groups = { plain: middleware.group('plain'), ttl: middleware.group('ttl'), stale: middleware.group('stale') };
  for (const g of Object.values(groups)) {
    for (const k of keys) await g.get(k);
    const items = g.cacheStats().main.items;
    if (items !== keyCount) throw new Error(`group ${g.name} cached ${items} of ${keyCount} keys`);
  }
  if ((await groups.ttl.get(keys[0])).expiresAt === undefined) throw new Error('the ttl group did not set an expiry');

  const order = accessOrder(keyCount);

  let sink = 0;
  const timed = (group) => async (n) => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += (await group.get(keys[order[i & MASK]])).length;
    return Number(process.hrtime.bigint() - t) / n;
  };
  const contenders = { plain: timed(groups.plain), ttl: timed(groups.ttl), stale: timed(groups.stale) };
  const samples = await sampleInTurns(contenders, ops, runs);
  const names = Object.keys(contenders);
  if (sink === 0) throw new Error('no value was read');
  const paired = (name) => median(samples[name].map((v, i) => v / samples.plain[i]));
  return {
    nsPerOp: Object.fromEntries(names.map((n) => [n, median(samples[n])])),
    ttlRatio: paired('ttl'),
    staleRatio: paired('stale'),
    loads: Object.fromEntries(Object.entries(groups).map(([n, g]) => [n, g.stats.localLoads])),
  };
}

serve({ run });
ready();
