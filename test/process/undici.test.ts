// transport: 'undici' (lib/client/undici.ts): the same peer protocol over undici's Pool.request,
// between real peers in child processes.
import { expect } from 'chai';
import { ConfigError, geecache } from '../../lib/index.js';
import { type ChildHandle, startCluster, stop } from '../helpers/index.js';

const json = async (url: string) => (await fetch(url)).json() as Promise<Record<string, number>>;
const text = async (url: string) => (await fetch(url)).text();
const getVia = (peer: string, key: string) => text(`${peer}/get?key=${encodeURIComponent(key)}`);

describe("transport: 'undici' (child processes)", function () {
  this.timeout(60_000);

  it('is checked at start-up: an unknown transport is a ConfigError naming the choices', () => {
    const groups = { g: { maxBytes: 1 << 20, getter: (k: string) => k } };
    expect(() => geecache({ self: 'http://127.0.0.1:1', groups, transport: 'curl' as never })).to.throw(
      ConfigError,
      /"transport" must be 'node-fetch' \(the default\) or 'undici'/,
    );
    const cache = geecache({ self: 'http://127.0.0.1:1', groups, transport: 'undici', logger: false });
    cache.close();
  });

  for (const batch of [true, false]) {
    describe(batch ? 'batched gets' : 'batch: false (one GET per get)', () => {
      let cluster: Awaited<ReturnType<typeof startCluster>>;
      let urls: string[];
      before(async () => {
        cluster = await startCluster(3, { getterDelayMs: 50, transport: 'undici', batch });
        urls = cluster.urls;
      });
      after(() => cluster?.stop());

      it('answers every get from any peer, each key loaded by its owner only', async () => {
        const keys = Array.from({ length: 60 }, (_, i) => `user ${i}/é+%`);
        // Six at a time: enough to fill batches, few enough that an owner on a loaded machine
        // answers well within timeoutMs (past it the asker loads the key itself, by design).
        const values: string[] = [];
        for (let i = 0; i < keys.length; i += 6) values.push(...(await Promise.all(keys.slice(i, i + 6).map((key, j) => getVia(urls[(i + j) % 3], key)))));
        expect(values).to.deep.equal(keys.map((k) => `value:${k}`));
        const loads = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
        for (const key of keys)
          expect(
            loads.reduce((n, l) => n + (l[key] ?? 0), 0),
            key,
          ).to.equal(1);
        const peerLoads = (await Promise.all(urls.map((u) => json(`${u}/_test/stats`)))).reduce((n, s) => n + s.peerLoads, 0);
        expect(peerLoads, 'two thirds of the gets crossed to the owner').to.be.greaterThan(20);
      });

      it("one cold key under 150 concurrent gets: the owner's getter runs once", async () => {
        const key = `stampede-${batch}`;
        const answers = await Promise.all(Array.from({ length: 150 }, (_, i) => getVia(urls[i % 3], key)));
        expect(answers.every((a) => a === `value:${key}`)).to.equal(true);
        const loads = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
        expect(loads.reduce((n, l) => n + (l[key] ?? 0), 0)).to.equal(1);
      });

      it("the owner's getter error reaches the asker and the asker does not run its getter", async () => {
        const key = `fail:${batch}`;
        const owner = await text(`${urls[0]}/_test/owner?key=${encodeURIComponent(key)}`);
        const asker = urls.find((u) => u !== owner) as string;
        const got = (await (await fetch(`${asker}/_test/get?key=${encodeURIComponent(key)}`)).json()) as { error?: { message: string } };
        expect(got.error?.message).to.include(`boom for ${key}`);
        expect((await json(`${asker}/_test/loads`))[key] ?? 0).to.equal(0);
        expect((await json(`${owner}/_test/loads`))[key]).to.equal(1);
      });
    });
  }

  it('a killed owner: the asker loads locally and keeps answering', async () => {
    const cluster = await startCluster(2, { transport: 'undici', backoffMs: 60_000 });
    try {
      const [a, b] = cluster.urls;
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
      const owners = await Promise.all(keys.map((k) => text(`${a}/_test/owner?key=${k}`)));
      const theirs = keys.filter((_, i) => owners[i] === b);
      expect(theirs.length).to.be.greaterThan(0);
      await stop((cluster.peers[1] as ChildHandle).process);
      const values = await Promise.all(theirs.map((k) => getVia(a, k)));
      expect(values).to.deep.equal(theirs.map((k) => `value:${k}`));
      const loads = await json(`${a}/_test/loads`);
      for (const k of theirs) expect(loads[k], k).to.equal(1);
    } finally {
      await cluster.stop();
    }
  });
});
