// The local-hit row's process: ns/op of `await group.get(k)` for cached keys against lru-cache's own get,
// same keys, same value sizes, same access order. Runs alternate between the contenders after a
// warm-up; the median of the runs is kept. BENCH_OTEL=1: with an OpenTelemetry SDK registered
// (sampling every trace, spans dropped) and geecache/otel on; the gets run outside any trace.

import { ByteView, geecache } from 'geecache';
import { LRUCache } from 'lru-cache';
import { LRU } from '../../dist/cache/lru.js';
import { median } from '../lib/common.mjs';
import { accessOrder, MASK, ready, sampleInTurns, serve, valueFor } from './ipc.mjs';

if (process.env.BENCH_OTEL === '1') {
  const { context, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { AlwaysOnSampler, BasicTracerProvider, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const drop = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
  trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors: [new SimpleSpanProcessor(drop)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  (await import('geecache/otel')).instrumentGeecache();
}

async function run({ keyCount, valueBytes, ops, runs }) {
  const keys = Array.from({ length: keyCount }, (_, i) => `user:${i}`);
  const values = new Map(keys.map((k) => [k, valueFor(k, valueBytes)]));
  const valueAt = (k) => /** @type {Buffer} */ (values.get(k));
  const maxBytes = 2 * keyCount * (valueBytes + 32) + (1 << 20);
  const cost = (v, k) => Math.max(1, Buffer.byteLength(k) + v.length);

  const middleware = geecache({ self: 'http://127.0.0.1:1', groups: { scores: { maxBytes, hotCacheFraction: 0, getter: (k) => valueAt(k) } } });
  const group = middleware.group('scores');
  for (const k of keys) await group.get(k);
  const stats = group.cacheStats().main;
  if (stats.items !== keyCount) throw new Error(`group cached ${stats.items} of ${keyCount} keys`);

  const raw = new LRUCache({ maxSize: maxBytes, sizeCalculation: cost });
  for (const k of keys) raw.set(k, Buffer.from(valueAt(k)));
  const wrapper = new LRU(maxBytes);
  for (const k of keys) wrapper.add(k, new ByteView(valueAt(k)));

  // One pseudo-random access order, shared by all contenders.
  const order = accessOrder(keyCount);

  let sink = 0;
  const contenders = {
    // The subject: what `await req.cache.get(k)` costs on a hit.
    group: async (n) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += (await group.get(keys[order[i & MASK]])).length;
      return Number(process.hrtime.bigint() - t) / n;
    },
    // The reference: lru-cache's get.
    lruCache: async (n) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += raw.get(keys[order[i & MASK]]).length;
      return Number(process.hrtime.bigint() - t) / n;
    },
    // For the analysis: Group.peek, the synchronous cached-only lookup (where the library has it).
    ...(typeof group.peek === 'function'
      ? {
          groupPeek: async (n) => {
            const t = process.hrtime.bigint();
            for (let i = 0; i < n; i++) sink += /** @type {ByteView} */ (group.peek(keys[order[i & MASK]])).length;
            return Number(process.hrtime.bigint() - t) / n;
          },
        }
      : {}),
    // For the analysis: geecache's synchronous LRU wrapper (byte accounting, counters).
    lruWrapper: async (n) => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += /** @type {ByteView} */ (wrapper.get(keys[order[i & MASK]])).length;
      return Number(process.hrtime.bigint() - t) / n;
    },
    // For the analysis: the same lru-cache get behind an async function and an await — the floor
    // of any Promise-returning get.
    lruCacheAwaited: async (n) => {
      const get = async (k) => raw.get(k);
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sink += (await get(keys[order[i & MASK]])).length;
      return Number(process.hrtime.bigint() - t) / n;
    },
  };
  const samples = await sampleInTurns(contenders, ops, runs);
  const names = Object.keys(contenders);
  if (sink === 0) throw new Error('no value was read');
  return {
    nsPerOp: Object.fromEntries(names.map((n) => [n, median(samples[n])])),
    samples,
    pairedRatio: median(samples.group.map((g, i) => g / samples.lruCache[i])),
    hits: group.cacheStats().main.hits,
  };
}

serve({ run });
ready();
