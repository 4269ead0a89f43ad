#!/usr/bin/env node
// geecache's benchmark: `npm run bench` (builds first). Six rows, each a ratio against a
// reference measured in the same run, with its goal and pass/miss. Prints a markdown table and
// writes JSON to bench/results/latest.json (BENCH_OUT to change). Settings: bench/lib/common.mjs
// (BENCH_DURATION, BENCH_ROUNDS, BENCH_SMOKE=1, BENCH_ONLY=2,3, BENCH_LOADGEN=wrk, ...).
import fs from 'node:fs';
import path from 'node:path';
import { judge, killAll, machine, settings, startedPids } from './lib/common.mjs';
import { createLoadgen } from './lib/loadgen.mjs';
import * as row1 from './rows/1-local-hit.mjs';
import * as row2 from './rows/2-peer-serve.mjs';
import * as row3 from './rows/3-end-to-end.mjs';
import * as row4 from './rows/4-stampede.mjs';
import * as row5 from './rows/5-ring.mjs';
import * as row6 from './rows/6-memory.mjs';

const ROWS = [row1, row2, row3, row4, row5, row6];
const log = (...args) => console.error(...args);

process.on('uncaughtException', (err) => {
  log('bench: uncaught', err);
  killAll();
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  log('bench: unhandled rejection', err);
  killAll();
  process.exit(1);
});

function fmtValue(value, unit = '×') {
  if (!Number.isFinite(value)) return String(value);
  if (unit === '×') return `${value.toFixed(value >= 10 ? 1 : 2)}×`;
  return `${value}${unit}`;
}

function table(rows) {
  const out = ['| # | measurement | result | measured (this run) | goal | |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    if (r.error) {
      out.push(`| ${r.id} | ${r.title}: **error** | — | ${r.error.split('\n')[0].replaceAll('|', '\\|')} | ${r.goal?.text ?? ''} | ERROR |`);
      continue;
    }
    for (const l of r.lines) {
      const verdict = l.goal ? (judge(l.value, l.goal) ? 'pass' : '**MISS**') : 'info';
      out.push(`| ${r.id} | ${l.label} | ${fmtValue(l.value, l.unit ?? r.unit)} | ${l.measured ?? ''} | ${l.goal?.text ?? '—'} | ${verdict} |`);
    }
  }
  return out.join('\n');
}

async function main() {
  const started = new Date();
  const info = machine();
  log(
    `geecache bench: ${info.nproc} cores, node ${info.node}, ${settings.smoke ? 'SMOKE mode, ' : ''}${settings.duration}s x ${settings.rounds} rounds, ${settings.connections} connections`,
  );
  const selected = ROWS.filter((r) => settings.only.includes(r.id));
  let loadgen;
  const needsLoad = selected.some((r) => r.id === 2 || r.id === 3);
  const rows = [];
  try {
    if (needsLoad) loadgen = await createLoadgen();
    for (const row of selected) {
      log(`row ${row.id}: ${row.title}`);
      const t0 = Date.now();
      try {
        const result = await row.run({ loadgen, log });
        const pass = judge(result.value, result.goal) !== false && result.lines.every((l) => !l.goal || judge(l.value, l.goal));
        rows.push({ id: row.id, title: row.title, ...result, pass, seconds: Math.round((Date.now() - t0) / 100) / 10 });
      } catch (err) {
        log(`row ${row.id} failed:`, err);
        rows.push({ id: row.id, title: row.title, value: null, error: err?.stack ?? String(err), pass: false });
      }
    }
  } finally {
    await loadgen?.stop();
    killAll();
  }
  const md = table(rows);
  console.log(md);
  const result = {
    meta: {
      started: started.toISOString(),
      seconds: Math.round((Date.now() - started.getTime()) / 1000),
      machine: info,
      settings,
      loadgen: loadgen?.kind,
      loadgenNote: loadgen?.note,
      childPids: startedPids,
      loadavgEnd: machine().loadavg,
    },
    rows,
    table: md,
  };
  fs.mkdirSync(path.dirname(settings.out), { recursive: true });
  fs.writeFileSync(settings.out, `${JSON.stringify(result, null, 2)}\n`);
  log(`bench: wrote ${path.relative(process.cwd(), settings.out)} in ${result.meta.seconds}s`);
  return rows.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log('bench failed:', err);
    killAll();
    process.exit(1);
  },
);
