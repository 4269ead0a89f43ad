#!/usr/bin/env node
// geecache's benchmark: `npm run bench` (builds first) runs every row of bench/rows/index.mjs,
// `npm run bench -- <name> [<name> ...]` only those. Each row is a ratio against a reference
// measured in the same run, with its goal and pass/miss. Prints a markdown table and writes JSON to
// bench/results/latest.json (BENCH_OUT to change). Settings: bench/lib/common.mjs
// (BENCH_DURATION, BENCH_ROUNDS, BENCH_SMOKE=1, BENCH_LOADGEN=wrk, ...).
import fs from 'node:fs';
import path from 'node:path';
import { judge, killAll, machine, settings, startedPids } from './lib/common.mjs';
import { createLoadgen } from './lib/loadgen.mjs';
import { ROWS } from './rows/index.mjs';

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

/** The rows named on the command line, in table order; all when none is named. */
function selectRows(names) {
  const known = ROWS.map((r) => r.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length > 0) throw new Error(`no bench row named ${unknown.join(', ')}; the rows are: ${known.join(', ')}`);
  return names.length === 0 ? ROWS : ROWS.filter((r) => names.includes(r.name));
}

function table(rows) {
  const out = ['| row | measurement | result | measured (this run) | goal | |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    if (r.error) {
      out.push(`| ${r.name} | ${r.title}: **error** | — | ${r.error.split('\n')[0].replaceAll('|', '\\|')} | ${r.goal?.text ?? ''} | ERROR |`);
      continue;
    }
    for (const l of r.lines) {
      const verdict = l.goal ? (judge(l.value, l.goal) ? 'pass' : '**MISS**') : 'info';
      out.push(`| ${r.name} | ${l.label} | ${fmtValue(l.value, l.unit ?? r.unit)} | ${l.measured ?? ''} | ${l.goal?.text ?? '—'} | ${verdict} |`);
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
  const selected = selectRows(process.argv.slice(2));
  let loadgen;
  const needsLoad = selected.some((r) => r.needsLoadgen);
  const rows = [];
  try {
    if (needsLoad) loadgen = await createLoadgen();
    for (const row of selected) {
      log(`row ${row.name}: ${row.title}`);
      const t0 = Date.now();
      try {
        const result = await row.run({ loadgen, log });
        const pass = judge(result.value, result.goal) !== false && result.lines.every((l) => !l.goal || judge(l.value, l.goal));
        rows.push({ name: row.name, title: row.title, ...result, pass, seconds: Math.round((Date.now() - t0) / 100) / 10 });
      } catch (err) {
        log(`row ${row.name} failed:`, err);
        rows.push({ name: row.name, title: row.title, value: null, error: err instanceof Error ? (err.stack ?? err.message) : String(err), pass: false });
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
