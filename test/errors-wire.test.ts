// Getter errors between real peers (child processes): whatever a getter throws, the owner
// answers (500 with the getter marker) and stays up, the asker does not run the getter again,
// and the error a caller sees has the same name and status on every peer.
import { expect } from 'chai';
import { RequestSigner } from '../lib/auth.js';
import { type ChildPeer, startCluster } from './helpers/cluster.js';

const SECRET = 'test-secret-0123456789';
const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;

/** A key of `prefix` that `owner` owns (asked of `asker`, whose ring is the same). */
async function keyOwnedBy(asker: ChildPeer, owner: ChildPeer, prefix: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const key = `${prefix}${i}`;
    if ((await (await fetch(`${asker.url}/_test/owner?key=${encodeURIComponent(key)}`)).text()) === owner.url) return key;
  }
  throw new Error(`no key of ${prefix} owned by ${owner.url}`);
}

const alive = (peer: ChildPeer) => peer.process.exitCode === null && peer.process.signalCode === null;

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
