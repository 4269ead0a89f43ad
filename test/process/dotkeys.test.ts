// Keys "." and "..": no URL path can carry them (URL parsers drop them, even
// escaped), so between geecache peers they travel in a batch (of one where needed), and are
// loaded once in the cluster like any key. Real peers in child processes.
import { expect } from 'chai';
import { startCluster } from '../helpers/index.js';

const json = async (url: string) => (await fetch(url)).json() as Promise<Record<string, number>>;

describe('keys "." and ".." between geecache peers (child processes)', function () {
  this.timeout(60_000);
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  before(async () => {
    cluster = await startCluster(3);
  });
  after(() => cluster?.stop());

  for (const key of ['.', '..']) {
    it(`"${key}": asked through every peer, one at a time and then together, loaded once in the cluster`, async () => {
      const { urls } = cluster;
      const owner = await (await fetch(`${urls[0]}/_test/owner?key=${encodeURIComponent(key)}`)).text();
      // One at a time through each peer: a lone get, so a batch of one.
      for (const url of urls) expect(await (await fetch(`${url}/get?key=${encodeURIComponent(key)}`)).text(), url).to.equal(`value:${key}`);
      // Then with other keys at once (a batch of several, where the peers coalesce them).
      const more = [`${key}x`, `x${key}`, key];
      const answers = await Promise.all(urls.flatMap((url) => more.map((k) => fetch(`${url}/get?key=${encodeURIComponent(k)}`).then((r) => r.text()))));
      expect(answers).to.deep.equal(urls.flatMap(() => more.map((k) => `value:${k}`)));
      const loads = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
      expect(
        loads.map((l) => l[key] ?? 0),
        `loads of "${key}" per peer (owner ${owner})`,
      ).to.deep.equal(urls.map((u) => (u === owner ? 1 : 0)));
    });
  }
});
