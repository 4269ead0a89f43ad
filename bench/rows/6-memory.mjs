// Row 6 — memory: RSS growth per byte the cache accounts (group.cacheStats().main.bytes), with
// the cache full (filled to 1.25× maxBytes, so it is evicting), after gc, in a fresh process per
// value size.
import { round, settings, startChild } from '../lib/common.mjs';

export const id = 6;
export const title = 'Memory';

const MB = 2 ** 20;

export async function run({ log }) {
  const maxBytes = Math.round(settings.memoryMB * MB);
  const lines = [];
  const cases = [];
  const goal = { op: '<=', target: 1.5, text: '≤ 1.5×' };
  for (const valueBytes of [1024, 100 * 1024]) {
    const child = await startChild('memory.mjs', {}, { name: `memory-${valueBytes}`, nodeArgs: ['--expose-gc'] });
    try {
      const r = await child.call({ cmd: 'run', maxBytes, valueBytes, overfill: 1.25 });
      cases.push({ valueBytes, ...r });
      log(`  ${valueBytes} B values: RSS +${(r.rssGrowth / MB).toFixed(1)} MB for ${(r.accountedBytes / MB).toFixed(1)} MB accounted (${r.items} items, ${r.evictions} evicted) = ${r.ratio.toFixed(2)}x`);
      lines.push({
        label: `${valueBytes >= 1024 ? `${valueBytes / 1024} KB` : `${valueBytes} B`} values: RSS growth / accounted bytes`,
        value: round(r.ratio, 2),
        goal,
        measured:
          `+${(r.rssGrowth / MB).toFixed(0)} MB RSS for ${(r.accountedBytes / MB).toFixed(0)} MB accounted, ${r.items} items: ` +
          `buffers +${(r.arrayBuffersGrowth / MB).toFixed(0)} MB, JS heap used +${(r.heapUsedGrowth / MB).toFixed(0)} MB (${Math.round(r.heapUsedGrowth / r.items)} B/entry), ` +
          `heap committed +${((r.after.heapTotal - r.before.heapTotal) / MB).toFixed(0)} MB`,
      });
    } finally {
      await child.stop();
    }
  }
  const worst = Math.max(...cases.map((c) => c.ratio));
  return { value: round(worst, 2), unit: '×', goal, reference: `maxBytes ${settings.memoryMB} MB`, headline: 'worst of 1 KB / 100 KB', lines, details: { maxBytesMB: settings.memoryMB, cases } };
}
