// Row memory: RSS growth per byte the cache accounts (group.cacheStats().main.bytes), after
// gc, in a fresh process per value size: once the cache is full (loaded until its first
// eviction), and again after another maxBytes of new keys went through it (the steady state of a
// cache that keeps evicting: freed value memory stays in the process for reuse).
import { round, settings, startChild } from '../lib/common.mjs';

export const name = 'memory';
export const title = 'Memory';

const MB = 2 ** 20;
const mb = (x) => (x / MB).toFixed(0);

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const maxBytes = Math.round(settings.memoryMB * MB);
  const lines = [];
  const cases = [];
  /** @type {import('../lib/types.js').Goal} */
  const goal = { op: '<=', target: 1.5, text: '≤ 1.5×' };
  for (const [valueBytes, kind] of /** @type {const} */ ([
    [1024, 'shared'],
    [1024, 'fresh'],
    [1024, 'string'],
    [100 * 1024, 'shared'],
  ])) {
    const child = await startChild('memory.mjs', {}, { name: `memory-${valueBytes}-${kind}`, nodeArgs: ['--expose-gc'] });
    try {
      const r = await child.call({ cmd: 'run', maxBytes, valueBytes, churn: 1, kind });
      cases.push({ valueBytes, kind, ...r });
      const getter = { shared: 'one Buffer', fresh: 'a new Buffer per load', string: 'a new string per load' }[kind];
      const size = `${valueBytes >= 1024 ? `${valueBytes / 1024} KB` : `${valueBytes} B`} values (getter returns ${getter})`;
      for (const [stage, s] of [
        ['full', r.full],
        ['full + 1× maxBytes churned', r.churned],
      ]) {
        log(
          `  ${size}, ${stage}: RSS +${(s.rssGrowth / MB).toFixed(1)} MB for ${(s.accountedBytes / MB).toFixed(1)} MB accounted (${s.items} items, ${s.evictions} evicted) = ${s.ratio.toFixed(2)}x`,
        );
        lines.push({
          label: `${size}, ${stage}: RSS growth / accounted bytes`,
          value: round(s.ratio, 2),
          goal,
          measured:
            `+${mb(s.rssGrowth)} MB RSS for ${mb(s.accountedBytes)} MB, ${s.items} items: ` +
            `buffers +${mb(s.arrayBuffersGrowth)} MB, JS heap used +${mb(s.heapUsedGrowth)} MB (${Math.round(s.heapUsedGrowth / s.items)} B/entry), ` +
            `heap committed +${mb(s.heapTotalGrowth)} MB; per MB of values ${s.perValueByte.toFixed(2)}×`,
        });
      }
    } finally {
      await child.stop();
    }
  }
  const worst = Math.max(...cases.flatMap((c) => [c.full.ratio, c.churned.ratio]));
  return {
    value: round(worst, 2),
    unit: '×',
    goal,
    reference: `maxBytes ${settings.memoryMB} MB`,
    headline: 'worst of 1 KB (three getters) / 100 KB, full / churned',
    lines,
    details: { maxBytesMB: settings.memoryMB, cases },
  };
}
