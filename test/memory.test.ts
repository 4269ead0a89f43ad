import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const FILL = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fill-tiny.mjs');

describe('maxBytes bounds memory, small values included (issue 9, item 4)', function () {
  this.timeout(300_000);

  it('a million tiny entries (empty values, 1-byte keys) through the real Group: heap growth stays within 1.5x maxBytes', async () => {
    const maxBytes = 8 << 20;
    const entries = 1_000_000;
    // Counting key + value bytes only (groupcache's rule), the heap grew 3.4x maxBytes here; with
    // a larger maxBytes the child dies of "heap out of memory" in its 96 MiB (exit code 134).
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--max-old-space-size=96', FILL, String(maxBytes), String(entries)], {
      maxBuffer: 1 << 20,
    });
    const got = JSON.parse(stdout);
    expect(got.gets).to.equal(entries);
    expect(got.evictions, 'the cache filled and evicted').to.be.greaterThan(entries / 2);
    expect(got.accounted).to.be.at.most(maxBytes);
    expect(got.heapGrowth / maxBytes, `heap (used + external) grew ${got.heapGrowth} B for maxBytes ${maxBytes}`).to.be.at.most(1.5);
  });
});
