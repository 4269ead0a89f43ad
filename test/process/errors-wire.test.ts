// Getter errors between real peers (child processes): whatever a getter throws, the owner
// answers (500 with the getter marker) and stays up, the asker does not run the getter again,
// and the error a caller sees has the same name and status on every peer.
import { expect } from 'chai';
import { BadKeyError, Group, LoadTimeoutError, OwnerLoadError } from '../../lib/index.js';
import { RequestSigner } from '../../lib/protocol/auth.js';
import { type ChildHandle, startCluster } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';
const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;

/** A key of `prefix` that `owner` owns (asked of `asker`, whose ring is the same). */
async function keyOwnedBy(asker: ChildHandle, owner: ChildHandle, prefix: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const key = `${prefix}${i}`;
    if ((await (await fetch(`${asker.url}/_test/owner?key=${encodeURIComponent(key)}`)).text()) === owner.url) return key;
  }
  throw new Error(`no key of ${prefix} owned by ${owner.url}`);
}

const alive = (peer: ChildHandle) => peer.process.exitCode === null && peer.process.signalCode === null;

describe('hostile values thrown by a getter (real peers)', function () {
  this.timeout(60_000);
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  before(async () => {
    cluster = await startCluster(2);
  });
  after(() => cluster.stop());

  for (const kind of ['proxy', 'nullproto', 'undefined', 'string', 'frozen']) {
    it(`${kind}: the owner answers 500 with the getter marker and stays up; the asker does not run the getter`, async () => {
      const [asker, owner] = cluster.peers;
      const single = await keyOwnedBy(asker, owner, `throw:${kind}:single-`);
      // A lone get goes as a plain GET; several at once as a batch.
      const batched = await Promise.all([0, 1, 2].map((n) => keyOwnedBy(asker, owner, `throw:${kind}:batch${n}-`)));
      const answers = await Promise.all([single, ...batched].map((key) => fetch(`${asker.url}/get?key=${encodeURIComponent(key)}`)));
      for (const res of answers) expect(res.status).to.equal(500);
      // Asked directly, signed as a peer asks: 500 with the marker.
      const path = `/_geecache/scores/${encodeURIComponent(`${single}-direct`)}`;
      const direct = await fetch(`${owner.url}${path}`, { headers: { 'x-geecache-auth': new RequestSigner(SECRET).sign('GET', owner.url + path) } });
      expect(direct.status, await direct.text()).to.equal(500);
      expect(direct.headers.get('x-geecache-error')).to.equal('getter');
      expect(alive(owner), owner.output()).to.equal(true);
      expect(alive(asker), asker.output()).to.equal(true);
      const askerLoads = await json<Record<string, number>>(`${asker.url}/_test/loads`);
      const ownerLoads = await json<Record<string, number>>(`${owner.url}/_test/loads`);
      for (const key of [single, ...batched]) {
        expect(askerLoads[key], `asker ran the getter of ${key}`).to.equal(undefined);
        expect(ownerLoads[key], `owner loads of ${key}`).to.equal(1);
      }
      // Still serving afterwards.
      expect(await (await fetch(`${asker.url}/get?key=after-${kind}`)).text()).to.equal(`value:after-${kind}`);
    });
  }
});

describe('getter errors look the same on every peer (real peers)', function () {
  this.timeout(60_000);
  let cluster: Awaited<ReturnType<typeof startCluster>>;
  before(async () => {
    cluster = await startCluster(3);
  });
  after(() => cluster.stop());

  type Described = { error?: { name: string; status?: number; message: string } };
  const getDescribed = async (peer: ChildHandle, key: string) => json<Described>(`${peer.url}/_test/get?key=${encodeURIComponent(key)}`);

  it('an error with name and status 404: the same name, status and message through the owner and through every other peer', async () => {
    const [a, b, c] = cluster.peers;
    const key = await keyOwnedBy(a, b, 'throw:status:');
    const expected = { name: 'ScoreMissingError', status: 404, message: `no such score: ${key}` };
    // Through the others first (a plain GET each; the owner answers its remembered error for 1 s), then the owner.
    for (const peer of [a, c, b]) expect((await getDescribed(peer, key)).error, peer.url).to.deep.equal(expected);
    // Several at once from one asker: a batch, its Result carries the same.
    const keys = await Promise.all([0, 1, 2, 3].map((n) => keyOwnedBy(a, c, `throw:status:batch${n}-`)));
    const answers = await Promise.all(keys.map((k) => getDescribed(a, k)));
    for (const [i, answer] of answers.entries())
      expect(answer.error).to.deep.equal({ name: 'ScoreMissingError', status: 404, message: `no such score: ${keys[i]}` });
    const loads = await json<Record<string, number>>(`${a.url}/_test/loads`);
    for (const k of [key, ...keys]) expect(loads[k], `the asker ran the getter of ${k}`).to.equal(undefined);
  });

  it('an error without a status: the same name and message, status undefined everywhere', async () => {
    const [a, b] = cluster.peers;
    const key = await keyOwnedBy(a, b, 'fail:plain-');
    for (const peer of [a, b]) expect((await getDescribed(peer, key)).error, peer.url).to.deep.equal({ name: 'Error', message: `boom for ${key}` });
  });
});

describe('error classes carry HTTP statuses', () => {
  it('BadKeyError is 400, LoadTimeoutError 504, OwnerLoadError takes the original name and status', async () => {
    const slow = new Group('slow', { maxBytes: 1 << 10, loadTimeoutMs: 20, getter: () => new Promise(() => {}) });
    const timedOut = await slow.get('k').catch((err) => err);
    expect(timedOut).to.be.instanceOf(LoadTimeoutError).and.include({ status: 504, statusCode: 504 });
    const bad = await slow.get('').catch((err) => err);
    expect(bad).to.be.instanceOf(BadKeyError).and.include({ status: 400, statusCode: 400 });
    const owner = new OwnerLoadError('http://p', 'gone', { name: 'LoadTimeoutError', status: 504 });
    expect(owner).to.be.instanceOf(OwnerLoadError).and.include({ name: 'LoadTimeoutError', status: 504, statusCode: 504, message: 'gone', peer: 'http://p' });
    expect(new OwnerLoadError('http://p', 'x')).to.include({ name: 'OwnerLoadError', status: undefined });
  });
});
