// Row 6's process (started with --expose-gc, fresh for each value size): RSS growth while a
// group's main cache fills to maxBytes and keeps evicting, per byte the cache accounts.
import { randomBytes } from 'node:crypto';
import { geecache } from 'geecache';
import { ready, serve } from './ipc.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function settle() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await sleep(50);
  }
  return process.memoryUsage();
}

async function run({ maxBytes, valueBytes, overfill }) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  const template = randomBytes(valueBytes); // random: no page can be shared or compressed away
  const middleware = geecache({ self: 'http://127.0.0.1:1', groups: { mem: { maxBytes, hotCacheFraction: 0, getter: () => template } } });
  const group = middleware.group('mem');
  const before = await settle();
  const n = Math.ceil((overfill * maxBytes) / valueBytes);
  for (let i = 0; i < n; i++) await group.get(`key:${i}`);
  const after = await settle();
  const main = group.cacheStats().main;
  const delta = (f) => after[f] - before[f];
  return {
    keysLoaded: n,
    accountedBytes: main.bytes,
    items: main.items,
    evictions: main.evictions,
    rssGrowth: delta('rss'),
    heapUsedGrowth: delta('heapUsed'),
    externalGrowth: delta('external'),
    arrayBuffersGrowth: delta('arrayBuffers'),
    ratio: delta('rss') / main.bytes,
    before,
    after,
  };
}

serve({ run });
ready();
