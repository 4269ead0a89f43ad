// cache.clusterHealth() and the signed stats route it reads ({basePath}_stats), against real peers.
import { expect } from 'chai';
import { geecache } from '../../lib/index.js';
import { RequestSigner } from '../../lib/protocol/auth.js';
import { type ChildHandle, freePort, startChildPeer, stopAll } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';

describe('cache.clusterHealth() and the stats route', function () {
  this.timeout(30_000);
  let children: ChildHandle[] = [];
  afterEach(async () => {
    await stopAll(children);
    children = [];
  });

  it('the stats route answers only signed requests, and nothing without a secret', async () => {
    const [pa] = await Promise.all([freePort()]);
    const url = `http://127.0.0.1:${pa}`;
    children = [await startChildPeer({ port: pa, self: url, peers: [url], secret: SECRET })];
    await fetch(`${url}/get?key=a`);
    expect((await fetch(`${url}/_geecache/_stats`)).status).to.equal(401);
    const wrong = new RequestSigner('another-secret-9876543210').sign('GET', `${url}/_geecache/_stats`);
    expect((await fetch(`${url}/_geecache/_stats`, { headers: { 'x-geecache-auth': wrong } })).status).to.equal(401);
    const res = await fetch(`${url}/_geecache/_stats`, { headers: { 'x-geecache-auth': new RequestSigner(SECRET).sign('GET', `${url}/_geecache/_stats`) } });
    expect(res.status).to.equal(200);
    const doc = await res.json();
    expect(doc).to.include({ self: url, ring: 'default', basePath: '/_geecache/' });
    expect(doc.peers).to.deep.equal([url]);
    expect(doc.groups.scores.stats.localLoads).to.equal(1);
    expect(doc.groups.scores.main.items).to.equal(1);
    // A stats round's view: the same figures, the membership as a count and a digest, and a bounded view of the others.
    const target = `${url}/_geecache/_stats?view=round`;
    const round = await (await fetch(target, { headers: { 'x-geecache-auth': new RequestSigner(SECRET).sign('GET', target) } })).json();
    expect(round).to.include({ self: url, ring: 'default', basePath: '/_geecache/' });
    expect(round.members.count).to.equal(1);
    expect(round.view).to.deep.equal({ peers: 0, down: 0, unknown: 0, downPeers: [] });
    expect(round.groups.scores.stats.localLoads).to.equal(1);
    expect(round).not.to.have.property('peers');

    const open = await freePort();
    const openUrl = `http://127.0.0.1:${open}`;
    children.push(await startChildPeer({ port: open, self: openUrl, peers: [openUrl], secret: false }));
    const refused = await fetch(`${openUrl}/_geecache/_stats`);
    expect(refused.status).to.equal(403);
    expect(await refused.text()).to.match(/stats are served only to signed requests/);
  });

  it('ok with every peer reachable and agreeing; degraded (200, or 503 when strict) with one down or disagreeing; 503 once closed', async () => {
    const [pa, pb, pc, pd] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const [a, b, c, dead] = [pa, pb, pc, pd].map((p) => `http://127.0.0.1:${p}`);
    // b knows a and b; c knows a and c: each agrees with an a that lists the same pair only.
    children = await Promise.all([
      startChildPeer({ port: pb, self: b, peers: [a, b], secret: SECRET }),
      startChildPeer({ port: pc, self: c, peers: [a, c], secret: SECRET }),
    ]);
    const make = (peers: string[]) => geecache({ self: a, peers, secret: SECRET, logger: false, groups: { g: { maxBytes: 1000, getter: (k) => k } } });
    // What b and c see of the others: a, which they have not heard from (nothing listens at a's address).
    const sees = { peers: 1, down: 0, unknown: 1, downPeers: [] };

    const healthy = make([a, b]);
    const ok = await healthy.clusterHealth();
    healthy.close();
    expect(ok.status).to.equal(200);
    expect(ok.body).to.deep.equal({
      status: 'ok',
      serving: true,
      self: a,
      peers: { [b]: { reachable: true, state: 'up', agrees: true, sees } },
      ringAgreement: true,
    });

    const cache = make([a, b, c, dead]);
    const report = await cache.clusterHealth();
    expect(report.status).to.equal(200);
    expect(report.body).to.include({ status: 'degraded', serving: true, self: a, ringAgreement: false });
    expect(report.body.peers[b]).to.deep.equal({ reachable: true, state: 'up', agrees: false, sees }); // b lists neither c nor dead
    expect(report.body.peers[c]).to.deep.equal({ reachable: true, state: 'up', agrees: false, sees });
    expect(report.body.peers[dead]).to.include({ reachable: false, state: 'down' });
    expect((await cache.clusterHealth({ strict: true })).status).to.equal(503);
    cache.close();
    const closed = await cache.clusterHealth();
    expect(closed.status).to.equal(503);
    expect(closed.body).to.include({ status: 'not serving', serving: false });

    const other = make([a, c]);
    const view = await other.clusterHealth();
    other.close();
    expect(view.body).to.include({ status: 'ok', ringAgreement: true });
    expect(view.body.peers[c]).to.deep.equal({ reachable: true, state: 'up', agrees: true, sees });
  });

  it('with secret: false a reachable peer is "no stats" and the cluster ok; a stopped one makes it degraded', async () => {
    const [pa, pb, pc] = await Promise.all([freePort(), freePort(), freePort()]);
    const [a, b, dead] = [pa, pb, pc].map((p) => `http://127.0.0.1:${p}`);
    children = [await startChildPeer({ port: pb, self: b, peers: [a, b], secret: false })];
    const make = (peers: string[]) => geecache({ self: a, peers, secret: false, logger: false, groups: { g: { maxBytes: 1000, getter: (k) => k } } });
    const open = make([a, b]);
    const report = await open.clusterHealth();
    open.close();
    expect(report.status).to.equal(200);
    expect(report.body.status).to.equal('ok');
    expect(report.body.peers[b]).to.include({ reachable: true, state: 'no stats' });
    const withDead = make([a, b, dead]);
    const degraded = await withDead.clusterHealth();
    withDead.close();
    expect(degraded.body.status).to.equal('degraded');
    expect(degraded.body.peers[dead]).to.include({ reachable: false, state: 'down' });
  });

  it('a peer with another secret is reachable but "unauthorized"; the report says so', async () => {
    const [pa, pb] = await Promise.all([freePort(), freePort()]);
    const [a, b] = [pa, pb].map((p) => `http://127.0.0.1:${p}`);
    children = [await startChildPeer({ port: pb, self: b, peers: [a, b], secret: 'another-secret-9876543210' })];
    const cache = geecache({ self: a, peers: [a, b], secret: SECRET, logger: false, groups: { g: { maxBytes: 1000, getter: (k) => k } } });
    const report = await cache.clusterHealth();
    cache.close();
    expect(report.status).to.equal(200);
    expect(report.body.status).to.equal('degraded');
    expect(report.body.peers[b]).to.include({ reachable: true, state: 'unauthorized' });
    expect(report.body.peers[b].error).to.match(/secrets differ or clocks are skewed/);
  });
});
