// The memory row's process (started with --expose-gc, fresh for each value size): RSS growth while a
// group's main cache fills to maxBytes and keeps evicting, per byte the cache accounts.
import { randomBytes } from 'node:crypto';
import { geecache } from 'geecache';
import { ready, serve } from './ipc.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function settle() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc?.();
    await sleep(50);
  }
  return process.memoryUsage();
}

/**
 * The getter of each kind: `shared` returns one Buffer for every key, `fresh` a new Buffer per
 * call (as a getter that reads a database does: small ones land in Node's shared 8 KB pool),
 * `string` a new string per call (printable ASCII).
 */
function getterOf(kind, template) {
  if (kind === 'fresh') return () => Buffer.from(template);
  if (kind === 'string') {
    const ascii = Buffer.from(template.map((b) => 0x20 + (b % 95)));
    return () => ascii.toString('latin1');
  }
  return () => template;
}

async function run({ maxBytes, valueBytes, churn, kind = 'shared' }) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  const template = randomBytes(valueBytes); // random: no page can be shared or compressed away
  const middleware = geecache({ self: 'http://127.0.0.1:1', groups: { mem: { maxBytes, hotCacheFraction: 0, getter: getterOf(kind, template) } } });
  const group = middleware.group('mem');
  const before = await settle();
  const snapshot = async () => {
    const after = await settle();
    const main = group.cacheStats().main;
    const delta = (f) => after[f] - before[f];
    return {
      keysLoaded: i,
      accountedBytes: main.bytes,
      items: main.items,
      evictions: main.evictions,
      rssGrowth: delta('rss'),
      heapUsedGrowth: delta('heapUsed'),
      heapTotalGrowth: delta('heapTotal'),
      externalGrowth: delta('external'),
      arrayBuffersGrowth: delta('arrayBuffers'),
      ratio: delta('rss') / main.bytes,
      // RSS per byte of the values themselves (key + value, the old accounting).
      perValueByte: delta('rss') / (main.items * valueBytes),
      before,
      after,
    };
  };
  // Full: loaded until the first eviction.
  let i = 0;
  while (group.cacheStats().main.evictions === 0) await group.get(`key:${i++}`);
  const full = await snapshot();
  // Then `churn` × maxBytes more of new keys: the steady state of a cache that keeps evicting.
  const end = i + Math.ceil((churn * maxBytes) / valueBytes);
  while (i < end) await group.get(`key:${i++}`);
  const churned = await snapshot();
  return { full, churned };
}

serve({ run });
ready();
