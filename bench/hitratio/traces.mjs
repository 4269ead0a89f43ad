// The traces of ../shared/traces/ (README.md there: where they come from, their formats and the
// published reference figures), loaded as arrays of dense key numbers 0..distinct-1 in order of
// first use: the LIRS traces are gzip'd text (one integer per line; empty lines and '*' skipped),
// the cache2k ones xz'd big-endian int32s (decompressed with the xz command).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT } from '../lib/common.mjs';

/** Where the traces are: BENCH_TRACES, else the shared folder beside the repository. */
export const TRACE_DIR = process.env.BENCH_TRACES ?? path.resolve(ROOT, '..', 'shared', 'traces');

/**
 * The traces and the README's reference figures at 1%, 5% and 10% of their distinct keys (hit %):
 * W-TinyLFU with a static 1% window, as the Caffeine simulator measured it.
 */
export const TRACES = [
  { name: 'gli', file: 'lirs-gli.trace.gz', kind: 'postgres join (file-system blocks)', wtinylfu: [1.2, 4.0, 14.6] },
  { name: 'loop', file: 'lirs-loop.trace.gz', kind: 'a loop over 1,011 keys', wtinylfu: [0.0, 0.0, 8.3] },
  { name: 'multi1', file: 'lirs-multi1.trace.gz', kind: 'mixed workloads', wtinylfu: [15.9, 42.8, 47.2] },
  { name: 'multi2', file: 'lirs-multi2.trace.gz', kind: 'mixed workloads', wtinylfu: [19.8, 40.1, 48.7] },
  { name: 'ps', file: 'lirs-ps.trace.gz', kind: 'postgres', wtinylfu: [11.1, 35.4, 52.6] },
  { name: 'sprite', file: 'lirs-sprite.trace.gz', kind: 'network file system', wtinylfu: [23.0, 64.1, 79.2] },
  { name: 'web07', file: 'cache2k-web07.trace.xz', kind: 'web pages', wtinylfu: [38.6, 51.5, 55.9] },
  { name: 'orm-night', file: 'cache2k-orm-night.trace.xz', kind: 'e-commerce database objects at night', wtinylfu: [53.0, 86.5, 93.1] },
];

/** The capacities of the table, as shares of a trace's distinct keys. */
export const SHARES = [0.01, 0.05, 0.1];

/**
 * A trace's accesses as dense key numbers (Int32Array) and its count of distinct keys.
 * @param {{ name: string, file: string }} trace
 */
export function loadTrace(trace) {
  const file = path.join(TRACE_DIR, trace.file);
  if (!fs.existsSync(file)) {
    // A smoke run checks the harness, not the figures: on a machine without the traces (a fresh
    // clone has no ../shared) it replays a stand-in, and says so. A measuring run needs the real ones.
    if (process.env.BENCH_SMOKE === '1') {
      process.stderr.write(`bench hit-ratio: ${file} not found; smoke mode replays a synthetic stand-in for ${trace.name}\n`);
      return syntheticTrace(20_000);
    }
    throw new Error(`trace ${file} not found: set BENCH_TRACES to the folder of the traces (../shared/traces/)`);
  }
  /** @type {Int32Array} */
  let raw;
  if (file.endsWith('.xz')) {
    const bytes = execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 30 });
    raw = new Int32Array(bytes.length >>> 2);
    for (let i = 0; i < raw.length; i++) raw[i] = bytes.readInt32BE(i * 4);
  } else {
    const lines = zlib.gunzipSync(fs.readFileSync(file)).toString('latin1').split('\n');
    const keys = [];
    for (const line of lines) {
      const text = line.trim();
      if (text !== '' && text !== '*') keys.push(Number(text));
    }
    raw = Int32Array.from(keys);
  }
  const ids = new Map();
  const accesses = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    let id = ids.get(raw[i]);
    if (id === undefined) {
      id = ids.size;
      ids.set(raw[i], id);
    }
    accesses[i] = id;
  }
  return { accesses, distinct: ids.size };
}

/**
 * A seeded stand-in for a trace (smoke mode only): reads of a skewed working set of 500 keys,
 * broken by scans of keys never seen again, as dense key numbers like loadTrace's.
 * @param {number} length
 */
function syntheticTrace(length) {
  let seed = 12345;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const accesses = new Int32Array(length);
  let next = 500; // scan keys come after the working set
  for (let i = 0; i < length; i++) accesses[i] = i % 1000 < 100 ? next++ : Math.floor(500 * random() ** 3);
  return { accesses, distinct: next };
}

/** Fixed-width string keys for dense key numbers, so every entry costs the same under maxBytes. */
export function keyNames(distinct) {
  return Array.from({ length: distinct }, (_, i) => String(i).padStart(8, '0'));
}
