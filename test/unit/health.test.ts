// Public routes must not amplify: cache.health(), what a readiness route such as `/ready` calls,
// answers from this peer's own state and sends no request to any peer, however often and however
// concurrently it is called, and says `unknown` of a peer it has not heard from (not up, not
// down); the cluster view (clusterHealth()) and the dashboard ask each peer once per stats round,
// shared by every caller meanwhile, for an answer whose size does not grow with the membership (a
// peer answering the full document instead, an older geecache, still counts). In-process peers
// on real HTTP servers count the stats requests they receive; the round's age is checked with a given clock.
import http from 'node:http';
import { expect } from 'chai';
import { RingAgreement } from '../../lib/cluster/agreement.js';
import type { GeecacheOptions } from '../../lib/index.js';
import { StatsRounds, type StatsSource } from '../../lib/ops/statsround.js';
import { RequestSigner } from '../../lib/protocol/auth.js';
import { closePeers, closeServer, type InProcessPeer, listen, startInProcessPeers, until } from '../helpers/index.js';

const SECRET = 'health-test-secret-0123456789';

describe('health() reads local state; the cluster view and the dashboard share one stats round', () => {
  let peers: InProcessPeer[] = [];
  let statsRequests: number[];
  /** The request target of every stats request, by peer. */
  let statsTargets: string[][];
  afterEach(() => closePeers(peers));

  /**
   * n peers counting the stats requests each receives; peer 0 serves /ready (status only), /cluster and the dashboard.
   * `also`: a member served elsewhere (listed by every peer).
   */
  async function start(n: number, options: Partial<GeecacheOptions> = {}, also?: string): Promise<InProcessPeer[]> {
    statsRequests = Array.from({ length: n }, () => 0);
    statsTargets = Array.from({ length: n }, () => []);
    peers = await startInProcessPeers(
      n,
      (self, urls) => ({
        self,
        peers: also ? [...urls, also] : urls,
        secret: SECRET,
        logger: false,
        groups: { scores: { maxBytes: 1 << 20, getter: (key) => `value:${key}` } },
        ...options,
      }),
      {
        attach: true,
        setup: (peer, i) => {
          peer.server.prependListener('request', (req) => {
            if (req.url?.split('?')[0] !== '/_geecache/_stats') return;
            statsRequests[i]++;
            statsTargets[i].push(req.url);
          });
          peer.app.get('/ready', async (_req, res) => {
            const { status, body } = await peer.cache.health();
            res.status(status).json({ status: body.status });
          });
          peer.app.get('/cluster', async (_req, res) => {
            const { status, body } = await peer.cache.clusterHealth();
            res.status(status).json(body);
          });
          peer.app.use('/dash', peer.cache.dashboard());
        },
      },
    );
    return peers;
  }

  const burst = <T>(n: number, call: () => Promise<T>) => Promise.all(Array.from({ length: n }, call));

  it('50 concurrent /ready calls, five times over, send no request to any peer; peers not heard from yet are unknown, not up', async () => {
    const [a] = await start(3);
    for (let round = 0; round < 5; round++) {
      const answers = await burst(50, async () => {
        const res = await fetch(`${a.url}/ready`);
        return [res.status, await res.json()];
      });
      for (const answer of answers) expect(answer).to.deep.equal([200, { status: 'ok' }]);
    }
    expect(statsRequests).to.deep.equal([0, 0, 0]);
    // Nothing was asked of b or c: health() does not guess, and does not call the cluster degraded either (not even strict).
    const { status, body } = await a.cache.health({ strict: true });
    expect(status).to.equal(200);
    expect(body).to.deep.equal({
      status: 'ok',
      serving: true,
      self: a.url,
      peers: Object.fromEntries(peers.slice(1).map((p) => [p.url, { state: 'unknown' }])),
      ringAgreement: true,
    });
    // Once b has answered a get, it is up; c, still never asked, is still unknown.
    const [, b, c] = peers;
    const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => a.cache.pool.ownerOf(k) === b.url) as string;
    await a.cache.get(key);
    const after = await a.cache.health();
    expect(after.body.peers).to.deep.equal({ [b.url]: { reachable: true, state: 'up' }, [c.url]: { state: 'unknown' } });
    expect(after.body.status).to.equal('ok');
  });

  it('concurrent cluster views and dashboard pages ask each other peer once', async () => {
    const [a] = await start(3);
    const views = await Promise.all([
      burst(20, async () => (await fetch(`${a.url}/cluster`)).json()),
      burst(20, async () => (await fetch(`${a.url}/dash/api/cluster`)).json()),
      burst(20, () => a.cache.clusterHealth()),
    ]);
    expect(statsRequests).to.deep.equal([0, 1, 1]);
    expect(statsTargets.flat(), 'a round asks for the bounded answer').to.deep.equal(['/_geecache/_stats?view=round', '/_geecache/_stats?view=round']);
    for (const view of views[0]) expect(view).to.include({ status: 'ok', ringAgreement: true });
    for (const model of views[1]) expect(model.peers.map((p: { state: string }) => p.state)).to.deep.equal(['up', 'up', 'up']);
    // Each peer's view of the others: b and c have asked nobody yet (a's stats request was to them, not from them).
    for (const model of views[1]) expect(model.peers[1].sees).to.deep.equal({ peers: 2, down: 0, unknown: 2, downPeers: [] });
    const sees = { peers: 2, down: 0, unknown: 2, downPeers: [] };
    for (const report of views[2]) expect(report.body.peers[peers[1].url]).to.deep.equal({ reachable: true, state: 'up', agrees: true, sees });
    // And a, which asked both, has heard from both now.
    expect((await a.cache.health()).body.peers[peers[1].url]).to.deep.equal({ reachable: true, state: 'up' });
  });

  it("a round's answer names no member unless it sees it down; a plain stats request still gets the full document", async () => {
    const [a, b, c] = await start(3);
    const signer = new RequestSigner(SECRET);
    const stats = async (target: string) => {
      const res = await fetch(`${b.url}${target}`, { headers: { 'x-geecache-auth': signer.sign('GET', `${b.url}${target}`) } });
      expect(res.status).to.equal(200);
      return { text: await res.text() };
    };
    const round = await stats('/_geecache/_stats?view=round');
    const answer = JSON.parse(round.text);
    expect(answer).to.include({ self: b.url, ring: 'default', basePath: '/_geecache/' });
    expect(answer.members).to.deep.equal({ count: 3, hash: a.cache.pool.hash() });
    expect(answer.view).to.deep.equal({ peers: 2, down: 0, unknown: 2, downPeers: [] });
    expect(answer.groups.scores.main.items).to.equal(0);
    expect(round.text).not.to.include(a.url);
    expect(round.text).not.to.include(c.url);
    const full = JSON.parse((await stats('/_geecache/_stats')).text);
    expect(full.peers).to.deep.equal(b.cache.pool.peers());
    expect(Object.keys(full.peerClients).sort()).to.deep.equal([a.url, c.url].sort());
    expect(full.peerClients[a.url]).to.include({ backingOff: false, heard: false });
    // An unknown view is the full document, as an older peer answers any query.
    expect(JSON.parse((await stats('/_geecache/_stats?view=other')).text).peers).to.have.length(3);
    // b sees c down once c is gone: the round's answer names it.
    const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => b.cache.pool.ownerOf(k) === c.url) as string;
    await c.close();
    await b.cache.get(key);
    const seen = JSON.parse((await stats('/_geecache/_stats?view=round')).text);
    expect(seen.view).to.deep.equal({ peers: 2, down: 1, unknown: 1, downPeers: [c.url] });
  });

  it('a peer that answers the round with the full document (an older geecache) is summarized: it agrees, and its view is counted', async () => {
    // The older peer: a loopback server that answers any stats request with a full document, as
    // geecache did before the round's view; it lists the same members as a and b.
    let fullDocument: Record<string, unknown> = {};
    const older = http.createServer((req, res) => {
      if (req.url?.startsWith('/_geecache/_stats')) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fullDocument));
      res.writeHead(404).end();
    });
    const olderUrl = `http://127.0.0.1:${await listen(older)}`;
    try {
      const [a, b] = await start(2, {}, olderUrl);
      // The older document is b's own full one, made the older peer's: no `heard` fields then, and it sees a down.
      const signer = new RequestSigner(SECRET);
      const target = `${b.url}/_geecache/_stats`;
      const doc = await (await fetch(target, { headers: { 'x-geecache-auth': signer.sign('GET', target) } })).json();
      const clients = { [a.url]: { ...doc.peerClients[a.url], backingOff: true }, [b.url]: { ...doc.peerClients[olderUrl] } };
      for (const client of Object.values(clients)) delete client.heard;
      fullDocument = { ...doc, self: olderUrl, peerClients: clients };
      const report = await a.cache.clusterHealth();
      expect(report.body.peers[olderUrl]).to.deep.equal({ reachable: true, state: 'up', agrees: true, sees: { peers: 2, down: 1, downPeers: [a.url] } });
      expect(report.body).to.include({ status: 'ok', ringAgreement: true });
      // One that lists other members disagrees, as before (asked by b: a round of its own).
      fullDocument = { ...fullDocument, peers: [olderUrl, a.url] };
      const disagreeing = await b.cache.clusterHealth();
      expect(disagreeing.body.peers[olderUrl]).to.include({ state: 'up', agrees: false });
      expect(disagreeing.body).to.include({ status: 'degraded', ringAgreement: false });
    } finally {
      await closeServer(older);
    }
  });

  it('a peer its client skips as down makes health() degraded (503 when strict), still without asking anyone; closed: not serving', async () => {
    const [a, b, c] = await start(3);
    const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => a.cache.pool.ownerOf(k) === c.url) as string;
    await c.close();
    await a.cache.get(key); // the refused connection marks c down; a loads the key itself
    const report = await a.cache.health();
    expect(report.status).to.equal(200);
    expect(report.body.status).to.equal('degraded');
    expect(report.body.peers[b.url]).to.deep.equal({ state: 'unknown' }); // never asked
    expect(report.body.peers[c.url]).to.include({ reachable: false, state: 'down' });
    expect((await a.cache.health({ strict: true })).status).to.equal(503);
    expect(statsRequests.slice(0, 2)).to.deep.equal([0, 0]);
    await a.cache.close();
    const closed = await a.cache.health();
    expect(closed.status).to.equal(503);
    expect(closed.body).to.include({ status: 'not serving', serving: false });
  });

  it('with a discovery source, health() is degraded until the source answers, and says why', async () => {
    let fail = true;
    const [a] = await start(1, {
      peers: {
        discover: () => {
          if (fail) throw new Error('registry down');
          return [peers[0].url];
        },
        intervalMs: 100,
      },
    });
    const before = await a.cache.health();
    expect(before.body.status).to.equal('degraded');
    expect(before.body.discovery?.answered).to.equal(false);
    fail = false;
    await until('discovery answered', () => a.cache.discovery?.lastError === undefined);
    const after = await a.cache.health();
    expect(after.body, JSON.stringify(after.body)).to.include({ status: 'ok' });
    expect(after.body.discovery).to.deep.equal({ answered: true });
  });
});

describe('StatsRounds', () => {
  /** A source whose one other peer's stats request is counted (it has no client: answered "down" at once). */
  function counting(members: string[]) {
    let asked = 0;
    const pool = {
      self: members[0],
      peers: () => members,
      getters: () =>
        Object.assign(new Map(), {
          get: () => {
            asked++;
            return undefined;
          },
        }),
      ownerOf: () => members[0],
    };
    const source = { pool, registry: { groups: () => [] }, secret: SECRET, ring: 'default', basePath: '/_geecache/' } as unknown as StatsSource;
    return { source, asked: () => asked };
  }

  it('reuses a round for maxAgeMs after it ends, then starts a new one; a membership change starts one at once', async () => {
    const members = ['http://127.0.0.1:1', 'http://127.0.0.1:2'];
    const { source, asked } = counting(members);
    let now = 0;
    const rounds = new StatsRounds(source, 1_000, () => now);
    await Promise.all([rounds.gather(), rounds.gather(), rounds.gather()]);
    expect(asked()).to.equal(1);
    now = 999;
    await rounds.gather();
    expect(asked()).to.equal(1);
    now = 1_000;
    await rounds.gather();
    expect(asked()).to.equal(2);
    members.push('http://127.0.0.1:3');
    await rounds.gather();
    expect(asked()).to.equal(4);
  });
});

describe('RingAgreement.agrees()', () => {
  it('is false only while a peer keeps asking with another membership for over 30 s', () => {
    const agreement = new RingAgreement({ warn() {}, info() {}, error() {}, debug() {} }, { hash: () => 'ours', peers: () => [] });
    const t0 = 1_000_000;
    agreement.check('theirs', t0);
    expect(agreement.agrees(t0 + 1_000), 'a change spreading').to.equal(true);
    agreement.check('theirs', t0 + 31_000);
    expect(agreement.agrees(t0 + 31_000)).to.equal(false);
    expect(agreement.agrees(t0 + 60_000), 'still within 30 s of the last such request').to.equal(false);
    expect(agreement.agrees(t0 + 61_001), 'no such request for 30 s').to.equal(true);
  });
});
