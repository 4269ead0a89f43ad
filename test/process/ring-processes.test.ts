// Every peer builds its ring in its own process: this checks that processes given the same peer
// list, in different orders, name the same owner for every key, with each ring geecache ships.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { makeRing } from '../../lib/ring/ring.js';
import type { RingOption } from '../../lib/ring/types.js';

const RING_TS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../lib/ring/ring.ts');
const run = promisify(execFile);

const peers = Array.from({ length: 300 }, (_, i) => `http://10.0.${i >> 8}.${i & 255}:3000`);
const keys = Array.from({ length: 3_000 }, (_, i) => (i % 10 === 0 ? `ключ-${i}` : `user:${i}`));

/** Owners of `keys` computed by a fresh Node process that adds `list` in that order. */
async function ownersInProcess(option: string, list: string[]): Promise<string[]> {
  const script = `
    import { makeRing } from ${JSON.stringify(RING_TS)};
    const { option, list, keys } = JSON.parse(process.argv[1]);
    const ring = makeRing(option);
    ring.add(...list);
    process.stdout.write(JSON.stringify(keys.map((k) => ring.get(k))));
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, JSON.stringify({ option, list, keys })], {
    maxBuffer: 16 << 20,
  });
  return JSON.parse(stdout) as string[];
}

describe('rings agree across processes', function () {
  this.timeout(60_000);

  for (const option of ['default', 'maglev', 'bounded', 'groupcache'] as const) {
    it(`${option}: two processes given the list in different orders, and this one, name the same owner for each key`, async () => {
      const here = makeRing(option as RingOption);
      here.add(...peers);
      const expected = keys.map((k) => here.get(k));
      // golang/groupcache's ring keeps the peer added last on a crc32 collision: the same order there.
      const shuffled = option === 'groupcache' ? peers : [...peers].reverse();
      const [a, b] = await Promise.all([ownersInProcess(option, peers), ownersInProcess(option, shuffled)]);
      expect(a).to.deep.equal(expected);
      expect(b).to.deep.equal(expected);
    });
  }
});
