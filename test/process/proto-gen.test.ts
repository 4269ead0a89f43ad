// test/gen/ (used by test/wire.test.ts) must be what protoc-gen-es makes of proto/geecache.proto
// today: runs the generator (a child process) into a temporary directory and compares.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('generated protobuf code', () => {
  it('test/gen/ is what the generator makes of proto/ today (run `npm run proto` after changing the schema)', function () {
    this.timeout(60_000);
    const out = mkdtempSync(path.join(tmpdir(), 'geecache-proto-'));
    try {
      execFileSync(path.join(ROOT, 'node_modules/.bin/buf'), ['generate', '--output', out], { cwd: ROOT, stdio: 'pipe' });
      const fresh = readFileSync(path.join(out, 'test/gen/geecache_pb.ts'), 'utf8');
      expect(fresh).to.equal(readFileSync(path.join(ROOT, 'test/gen/geecache_pb.ts'), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
