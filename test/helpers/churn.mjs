// A cache that keeps evicting, for the memory measurements the tests (test/fixtures/churn-memory.mjs)
// and the bench (bench/children/memory.mjs) both make: the getters whose values fill it, and the
// loop that fills it and pushes more through. Plain JavaScript with JSDoc types: bench/ imports it
// under plain node.

/**
 * The getter of each kind, all answering `template`'s bytes: `shared` returns one Buffer for every
 * key, `fresh` a new Buffer per call (as a getter that reads a database does: small ones land in
 * Node's shared 8 KB pool), `string` a new string per call (printable ASCII).
 * @param {string} kind
 * @param {Buffer} template
 * @returns {() => Buffer | string}
 */
export function valueGetter(kind, template) {
  if (kind === 'shared') return () => template;
  if (kind === 'fresh') return () => Buffer.from(template);
  if (kind === 'string') {
    const ascii = Buffer.from(template.map((b) => 0x20 + (b % 95)));
    return () => ascii.toString('latin1');
  }
  throw new Error(`unknown getter kind ${kind}: shared, fresh or string`);
}

/**
 * Loads new keys (`key:0`, `key:1`, ...) through `group` until its main cache first evicts
 * (`full`), then `rounds` × maxBytes more of `valueBytes` values (`churned`: the steady state of a
 * cache that keeps evicting). `snapshot` runs at both points, told how many keys were loaded so far
 * and the highest RSS sampled (every 1,024 gets or every MiB of values, whichever comes first, and
 * at each point).
 * @template T
 * @param {{ get(key: string): Promise<unknown>, cacheStats(): { main: { evictions: number } } }} group
 * @param {{ maxBytes: number, valueBytes: number, rounds: number }} sizes
 * @param {(progress: { keysLoaded: number, peakRss: number }) => Promise<T>} snapshot
 * @returns {Promise<{ full: T, churned: T }>}
 */
export async function fillAndChurn(group, { maxBytes, valueBytes, rounds }, snapshot) {
  let i = 0;
  let peakRss = 0;
  // Large values fill a cache in fewer than 1,024 gets: they are sampled every MiB.
  const every = Math.max(1, Math.min(1024, Math.floor(2 ** 20 / valueBytes)));
  const sample = () => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  };
  const get = async () => {
    await group.get(`key:${i++}`);
    if (i % every === 0) sample();
  };
  while (group.cacheStats().main.evictions === 0) await get();
  sample();
  const full = await snapshot({ keysLoaded: i, peakRss });
  const end = i + Math.ceil((rounds * maxBytes) / valueBytes);
  while (i < end) await get();
  sample();
  const churned = await snapshot({ keysLoaded: i, peakRss });
  return { full, churned };
}
