// maxBytes bounds a process's memory, not just the bytes it counts: child processes fill a real
// Group with tiny entries under a small heap limit, and churn 1 KB values through it, and report
// their heap and RSS growth. The four children run at once: each measures its own process.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const FILL = path.join(FIXTURES, 'fill-tiny.mjs');
const CHURN = path.join(FIXTURES, 'churn-memory.mjs');

/** Runs `node <args>` and resolves with the JSON it prints. */
async function child(args: string[]): Promise<Record<string, number>> {
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}
const KINDS = ['fresh', 'shared', 'string'] as const;
const TINY = { maxBytes: 8 << 20, entries: 1_000_000 };
const CHURN_MAX_BYTES = 128 << 20;

describe('maxBytes bounds memory, small values included', function () {
  this.timeout(300_000);
  const results = new Map<string, Promise<Record<string, number>>>();
  before(() => {
    results.set('tiny', child(['--expose-gc', '--max-old-space-size=96', FILL, String(TINY.maxBytes), String(TINY.entries)]));
    for (const kind of KINDS) results.set(kind, child(['--expose-gc', '--max-old-space-size=256', CHURN, String(CHURN_MAX_BYTES), '1024', '2', kind]));
    for (const result of results.values()) result.catch(() => {}); // each test reports its own child's failure
  });

  it('a million tiny entries (empty values, 1-byte keys) through the real Group: heap growth stays within 1.5x maxBytes', async () => {
    const { maxBytes, entries } = TINY;
    // Counting key + value bytes only (groupcache's rule), the heap grew 3.4x maxBytes here; with
    // a larger maxBytes the child dies of "heap out of memory" in its 96 MiB (exit code 134).
    const got = await results.get('tiny')!;
    expect(got.gets).to.equal(entries);
    expect(got.evictions, 'the cache filled and evicted').to.be.greaterThan(entries / 2);
    expect(got.accounted).to.be.at.most(maxBytes);
    expect(got.heapGrowth / maxBytes, `heap (used + external) grew ${got.heapGrowth} B for maxBytes ${maxBytes}`).to.be.at.most(1.5);
  });

  // Each value a Buffer of its own (a malloc'd block): after churn glibc kept the
  // freed blocks scattered between live ones, and RSS grew 1.70x maxBytes here (2.16x without the
  // heap limit) for Buffer getters; values held as strings in V8's heap grow it 1.32x. The heap
  // limit (2x maxBytes) bounds V8's garbage between collections, as a user would bound it.
  for (const kind of KINDS) {
    it(`1 KB values from a getter returning ${kind === 'string' ? 'a new string' : kind === 'fresh' ? 'a new Buffer' : 'one reused Buffer'}: after 2x maxBytes of churn, RSS grew at most 1.5x maxBytes`, async () => {
      const maxBytes = CHURN_MAX_BYTES;
      const got = await results.get(kind)!;
      expect(got.evictions, 'the cache filled and churned twice over').to.be.greaterThan((2 * maxBytes) / 1024);
      expect(got.accounted)
        .to.be.at.most(maxBytes)
        .and.at.least(maxBytes * 0.99);
      expect(got.arrayBuffersGrowth, 'no value holds a buffer').to.be.below(1 << 20);
      expect(got.rssGrowth / maxBytes, `RSS grew ${got.rssGrowth} B for maxBytes ${maxBytes}`).to.be.at.most(1.5);
    });
  }
});
