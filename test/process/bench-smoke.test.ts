// The benchmark harness, end to end in smoke mode (tiny durations and sizes): every row runs and
// reports numbers, and no child process outlives it. It checks the harness, never the speed, so
// the rows run as two bench processes at once (GROUPS): the scale row mostly waits on its
// fleet's timers, and alone the run took as long as the rest of npm test.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { needs, sleep } from '../helpers/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ROWS = [
  'local-hit',
  'ttl-hit',
  'peer-serve',
  'end-to-end',
  'vs-redis',
  'stampede',
  'ring',
  'memory',
  'membership',
  'scale',
  'get-many',
  'tags',
  'hit-ratio',
];
/** The rows of each of the two bench processes (each in the table's order), about half the smoke run's time each. */
const GROUPS = [
  ['local-hit', 'ttl-hit', 'peer-serve', 'end-to-end', 'stampede', 'ring', 'scale', 'get-many', 'tags'],
  ['vs-redis', 'memory', 'membership', 'hit-ratio'],
];

interface Line {
  label: string;
  value: number;
}
interface Row {
  name: string;
  title: string;
  value: number | null;
  error?: string;
  lines: Line[];
}
interface Result {
  meta: { childPids: number[]; settings: { smoke: boolean } };
  rows: Row[];
  table: string;
}

/** Runs bench/run.mjs in smoke mode with `args`, writing its JSON to `out`; a developer's BENCH_* does not leak in. */
function runBench(args: string[], out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BENCH_')));
  const child = spawn(process.execPath, [path.join(ROOT, 'bench', 'run.mjs'), ...args], {
    cwd: ROOT,
    env: { ...env, BENCH_SMOKE: '1', BENCH_OUT: out },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('bench harness (smoke mode)', function () {
  this.timeout(420_000); // about 2 minutes on a machine shared with other test runs
  let dir: string;
  /** Each group's run: its exit code, output and JSON. */
  let runs: { code: number | null; stdout: string; stderr: string; result?: Result }[] = [];
  /** Every row, from both runs. */
  let rows: Row[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geecache-bench-smoke-'));
    runs = await Promise.all(
      GROUPS.map(async (group, i) => {
        const out = path.join(dir, `latest-${i}.json`);
        const run = await runBench(group, out);
        return { ...run, result: fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, 'utf8')) as Result) : undefined };
      }),
    );
    rows = runs.flatMap((r) => r.result?.rows ?? []);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('groups every row once, each group in the table order', () => {
    expect(GROUPS.flat().sort()).to.deep.equal([...ROWS].sort());
    for (const group of GROUPS) expect(group).to.deep.equal(ROWS.filter((name) => group.includes(name)));
  });

  it('exits 0 and writes the JSON', () => {
    for (const { code, stderr, result } of runs) {
      expect(code, `bench exited ${code}:\n${stderr}`).to.equal(0);
      expect(result, 'no JSON written').to.be.an('object');
      expect(result?.meta.settings.smoke).to.equal(true);
    }
  });

  it('has every row, each with numeric values and no error', function () {
    needs(this, 'go', 'redis-server'); // the Go reference of peer-serve, the Redis of vs-redis and stampede
    for (const [i, { result }] of runs.entries()) expect(result?.rows.map((r) => r.name)).to.deep.equal(GROUPS[i]);
    for (const row of rows) {
      expect(row.error, `row ${row.name} failed: ${row.error}`).to.equal(undefined);
      expect(row.value, `row ${row.name} value`).to.be.a('number');
      expect(Number.isFinite(row.value), `row ${row.name} value ${row.value}`).to.equal(true);
      expect(row.lines.length, `row ${row.name} lines`).to.be.greaterThan(0);
      for (const line of row.lines) {
        expect(Number.isFinite(line.value), `row ${row.name} "${line.label}" = ${line.value}`).to.equal(true);
      }
    }
  });

  it('prints the table', function () {
    needs(this, 'redis-server'); // vs-redis has no line without it
    for (const [i, { stdout, result }] of runs.entries()) {
      expect(stdout).to.include('| row | measurement |');
      for (const name of GROUPS[i]) expect(stdout).to.match(new RegExp(`^\\| ${name} \\|`, 'm'));
      expect(result?.table).to.equal(stdout.trim());
    }
  });

  it('leaves no child process running', async () => {
    const pids = runs.flatMap((r) => r.result?.meta.childPids ?? []);
    expect(pids.length).to.be.greaterThan(5);
    let alive = pids.filter(isAlive);
    for (let i = 0; i < 20 && alive.length > 0; i++) {
      await sleep(100); // an orphan may still be waiting to be reaped
      alive = alive.filter(isAlive);
    }
    expect(alive, `still running: ${alive.join(', ')}`).to.deep.equal([]);
  });
});

describe('bench runner: rows by name', function () {
  this.timeout(60_000);

  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geecache-bench-rows-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs only the row named on the command line', async () => {
    const out = path.join(dir, 'ring.json');
    const { code, stderr } = await runBench(['ring'], out);
    expect(code, stderr).to.equal(0);
    const result = JSON.parse(fs.readFileSync(out, 'utf8')) as Result;
    expect(result.rows.map((r) => r.name)).to.deep.equal(['ring']);
  });

  it('refuses an unknown row name and lists the rows', async () => {
    const out = path.join(dir, 'none.json');
    const { code, stderr } = await runBench(['rign'], out);
    expect(code).to.equal(1);
    expect(stderr).to.include('no bench row named rign');
    for (const name of ROWS) expect(stderr).to.include(name);
    expect(fs.existsSync(out)).to.equal(false);
  });
});
