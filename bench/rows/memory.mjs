// Row memory: RSS growth per byte the cache accounts (group.cacheStats().main.bytes), after
// gc, in a fresh process per value size: once the cache is full (loaded until its first
// eviction), and again after another maxBytes of new keys went through it (the steady state of a
// cache that keeps evicting: freed value memory stays in the process for reuse). Then the same
// for a front's hot cache filled with binary values fetched from an owner in batches.
import { freePorts, round, SECRET, settings, startChild } from '../lib/common.mjs';

export const name = 'memory';
export const title = 'Memory';

const MB = 2 ** 20;
const mb = (x) => (x / MB).toFixed(0);
const size = (bytes) => (bytes >= 1024 ? `${bytes / 1024} KB` : `${bytes} B`);

/** The measured line of one snapshot: where the RSS went. */
const measured = (s) =>
  `+${mb(s.rssGrowth)} MB RSS for ${mb(s.accountedBytes)} MB, ${s.items} items: ` +
  `buffers +${mb(s.arrayBuffersGrowth)} MB, JS heap used +${mb(s.heapUsedGrowth)} MB (${Math.round(s.heapUsedGrowth / s.items)} B/entry), ` +
  `heap committed +${mb(s.heapTotalGrowth)} MB; peak while loading +${mb(s.peakRssGrowth)} MB (${(s.peakRssGrowth / s.accountedBytes).toFixed(1)}×)`;

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const maxBytes = Math.round(settings.memoryMB * MB);
  const lines = [];
  const cases = [];
  /** @type {import('../lib/types.js').Goal} */
  const goal = { op: '<=', target: 1.5, text: '≤ 1.5×' };
  /** @type {import('../lib/types.js').Goal} */
  const hotGoal = { op: '<=', target: 1.2, text: '≤ 1.2×' };
  for (const [valueBytes, kind] of /** @type {const} */ ([
    [1024, 'shared'],
    [1024, 'fresh'],
    [1024, 'string'],
    [256, 'fresh'],
    [4096, 'fresh'],
    [100 * 1024, 'shared'],
  ])) {
    const child = await startChild('memory.mjs', {}, { name: `memory-${valueBytes}-${kind}`, nodeArgs: ['--expose-gc'] });
    try {
      const r = await child.call({ cmd: 'run', maxBytes, valueBytes, churn: 1, kind });
      cases.push({ valueBytes, kind, ...r });
      const getter = { shared: 'one Buffer', fresh: 'a new Buffer per load', string: 'a new string per load' }[kind];
      const what = `${size(valueBytes)} values (getter returns ${getter})`;
      for (const [stage, s] of [
        ['full', r.full],
        ['full + 1× maxBytes churned', r.churned],
      ]) {
        log(
          `  ${what}, ${stage}: RSS +${(s.rssGrowth / MB).toFixed(1)} MB for ${(s.accountedBytes / MB).toFixed(1)} MB accounted (${s.items} items, ${s.evictions} evicted) = ${s.ratio.toFixed(2)}x`,
        );
        lines.push({
          label: `${what}, ${stage}: RSS growth / accounted bytes`,
          value: round(s.ratio, 2),
          goal,
          measured: `${measured(s)}; per MB of values ${s.perValueByte.toFixed(2)}×`,
        });
      }
    } finally {
      await child.stop();
    }
  }
  const hot = await hotCache(log);
  for (const [stage, s] of [
    ['full', hot.full],
    ['after replacing as many entries as it holds', hot.churned],
  ]) {
    lines.push({
      label: `hot cache, 1 KB binary values fetched in batches, ${stage}: RSS growth / accounted bytes`,
      value: round(s.ratio, 2),
      goal: hotGoal,
      measured:
        `${measured(s)}; from before the warm-up +${mb(s.rssGrowthFromCold)} MB (${(s.rssGrowthFromCold / s.accountedBytes).toFixed(2)}×); ${s.gets} gets` +
        (s.requests ? ` in ${s.requests} requests to the owner (${(s.gets / s.requests).toFixed(0)} gets per request)` : '') +
        `, main cache ${s.mainItems} items`,
    });
  }
  const worst = Math.max(...cases.flatMap((c) => [c.full.ratio, c.churned.ratio]));
  return {
    value: round(worst, 2),
    unit: '×',
    goal,
    reference: `maxBytes ${settings.memoryMB} MB`,
    headline: 'worst of main cache, 256 B / 1 KB (three getters) / 4 KB / 100 KB values, full / churned',
    lines,
    details: { maxBytesMB: settings.memoryMB, cases, hot },
  };
}

/**
 * A front (child, measured) whose hot cache holds half of maxBytes, asking an owner (another
 * child) for 1 KB random values, 128 gets per event-loop turn (one batch request each).
 */
async function hotCache(log) {
  const [frontPort, ownerPort] = await freePorts(2);
  const front = `http://127.0.0.1:${frontPort}`;
  const owner = `http://127.0.0.1:${ownerPort}`;
  const ownerChild = await startChild(
    'memory.mjs',
    { owner: true, self: owner, peers: [front, owner], secret: SECRET, maxBytes: 16 * MB, valueBytes: 1024 },
    { name: 'memory-owner' },
  );
  const frontChild = await startChild('memory.mjs', {}, { name: 'memory-hot-front', nodeArgs: ['--expose-gc'] });
  try {
    const hotBytes = Math.round((settings.memoryMB * MB) / 2);
    // Baseline after 16,384 gets of other keys, then forgotten (see the child): the traffic's own cost is not the hot cache's.
    const r = await frontChild.call({
      cmd: 'hot',
      self: front,
      owner,
      secret: SECRET,
      maxBytes: 2 * hotBytes,
      hotCacheFraction: 0.5,
      perBatch: 128,
      warmup: 16_384,
    });
    // Peer requests the owner served over both phases (the churned snapshot's gets are cumulative too).
    r.churned.requests = await ownerChild.call({ cmd: 'requests' });
    for (const [stage, s] of [
      ['full', r.full],
      ['churned', r.churned],
    ])
      log(
        `  hot cache, 1 KB binary values in batches, ${stage}: RSS +${(s.rssGrowth / MB).toFixed(1)} MB for ${(s.accountedBytes / MB).toFixed(1)} MB accounted (${s.items} items, ${s.evictions} evicted, ${s.gets} gets) = ${s.ratio.toFixed(2)}x`,
      );
    return r;
  } finally {
    await frontChild.stop();
    await ownerChild.stop();
  }
}
