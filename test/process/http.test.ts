// Real peers in child processes, as golang/groupcache's http_test does.
import { expect } from 'chai';
import { type ChildHandle, startCluster, stop } from '../helpers/index.js';

const json = async (url: string) => (await fetch(url)).json() as Promise<Record<string, number>>;
const text = async (url: string) => (await fetch(url)).text();
const getVia = (peer: string, key: string) => text(`${peer}/get?key=${encodeURIComponent(key)}`);

describe('HTTP peers (child processes)', function () {
  this.timeout(60_000);
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  let urls: string[];

  before(async () => {
    cluster = await startCluster(3, { getterDelayMs: 150 });
    urls = cluster.urls;
  });
  after(() => cluster?.stop());

  it('answers a get from any peer with the value, loaded by the key owner only', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    const values = await Promise.all(keys.map((key, i) => getVia(urls[i % 3], key)));
    expect(values).to.deep.equal(keys.map((k) => `value:${k}`));
    const owners = await Promise.all(keys.map((k) => text(`${urls[0]}/_test/owner?key=${encodeURIComponent(k)}`)));
    const loads = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
    for (const [i, key] of keys.entries()) {
      for (const [p, url] of urls.entries()) expect(loads[p][key] ?? 0, `${key} loads on ${url}`).to.equal(url === owners[i] ? 1 : 0);
    }
    // Every peer owns some of the 60 keys: the ring really spreads them.
    expect(new Set(owners).size).to.equal(3);
  });

  it('runs the getter once in the whole cluster for 1,000 concurrent gets of a cold key', async () => {
    const key = 'stampede-key';
    const served = async () => (await Promise.all(urls.map((u) => json(`${u}/_test/stats`)))).reduce((sum, s) => sum + s.serverRequests, 0);
    const servedBefore = await served();
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => getVia(urls[i % 3], key)));
    expect(answers.every((a) => a === `value:${key}`)).to.equal(true);
    const loads = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
    expect(loads.reduce((sum, l) => sum + (l[key] ?? 0), 0)).to.equal(1);
    // While the load ran, each non-owner had one request to the owner in flight; a few more may
    // follow from gets that arrived after the load finished (the value is not cached there).
    expect((await served()) - servedBefore).to.be.within(1, 50);
  });

  it('round-trips keys with spaces, +, /, %, ? # & and unicode', async () => {
    const keys = ['x a', 'x+a', 'a/b/../c', '100%', '%41', 'q?x=1#frag&y', 'ünï ✓', '😀 emoji', ' lead', 'trail ', "'()*!~"];
    for (const key of keys) {
      for (const url of urls) expect(await getVia(url, key), `${key} via ${url}`).to.equal(`value:${key}`);
    }
    const loads = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
    for (const key of keys)
      expect(
        loads.reduce((sum, l) => sum + (l[key] ?? 0), 0),
        key,
      ).to.equal(1);
  });

  it("reports the owner's getter error without running it again locally", async () => {
    const key = 'fail:remote';
    const owner = await text(`${urls[0]}/_test/owner?key=${encodeURIComponent(key)}`);
    const asker = urls.find((u) => u !== owner)!;
    expect(await getVia(asker, key)).to.equal(`error: boom for ${key}`);
    expect((await json(`${asker}/_test/loads`))[key]).to.equal(undefined);
    expect((await json(`${owner}/_test/loads`))[key]).to.equal(1);
  });

  it('loads locally when the owner is stopped', async () => {
    const victim: ChildHandle = cluster.peers[2];
    const keys = Array.from({ length: 200 }, (_, i) => `after-stop-${i}`);
    const owned = [];
    for (const k of keys) if ((await text(`${urls[0]}/_test/owner?key=${k}`)) === victim.url) owned.push(k);
    expect(owned.length).to.be.greaterThan(20);
    await stop(victim.process);
    for (const key of owned.slice(0, 20)) expect(await getVia(urls[0], key)).to.equal(`value:${key}`);
    const loads = await json(`${urls[0]}/_test/loads`);
    for (const key of owned.slice(0, 20)) expect(loads[key]).to.equal(1);
  });
});
