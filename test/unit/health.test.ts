// Public routes must not amplify: cache.health(), what a readiness route such as `/ready` calls,
// answers from this peer's own state and sends no request to any peer, however often and however
// concurrently it is called; the cluster view (clusterHealth()) and the dashboard ask each peer
// once per stats round, shared by every caller meanwhile. Three in-process peers on real HTTP
// servers count the stats requests they receive; the round's age is checked with a given clock.
import { expect } from 'chai';
import { RingAgreement } from '../../lib/cluster/agreement.js';
import type { GeecacheOptions } from '../../lib/index.js';
import type { StatsSource } from '../../lib/ops/statsdoc.js';
import { StatsRounds } from '../../lib/ops/statsround.js';
import { closePeers, type InProcessPeer, startInProcessPeers, until } from '../helpers/index.js';

const SECRET = 'health-test-secret-0123456789';

describe('health() reads local state; the cluster view and the dashboard share one stats round', () => {
  let peers: InProcessPeer[] = [];
  let statsRequests: number[];
  afterEach(() => closePeers(peers));

  /** n peers counting the stats requests each receives; peer 0 serves /ready (status only), /cluster and the dashboard. */
  async function start(n: number, options: Partial<GeecacheOptions> = {}): Promise<InProcessPeer[]> {
    statsRequests = Array.from({ length: n }, () => 0);
    peers = await startInProcessPeers(
      n,
      (self, urls) => ({
        self,
        peers: urls,
        secret: SECRET,
        logger: false,
        groups: { scores: { maxBytes: 1 << 20, getter: (key) => `value:${key}` } },
        ...options,
      }),
      {
        attach: true,
        setup: (peer, i) => {
          peer.server.prependListener('request', (req) => {
            if (req.url === '/_geecache/_stats') statsRequests[i]++;
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

  it('50 concurrent /ready calls, five times over, send no request to any peer', async () => {
    const [a] = await start(3);
    for (let round = 0; round < 5; round++) {
      const answers = await burst(50, async () => {
        const res = await fetch(`${a.url}/ready`);
        return [res.status, await res.json()];
      });
      for (const answer of answers) expect(answer).to.deep.equal([200, { status: 'ok' }]);
    }
    expect(statsRequests).to.deep.equal([0, 0, 0]);
    const { body } = await a.cache.health();
    expect(body).to.deep.equal({
      status: 'ok',
      serving: true,
      self: a.url,
      peers: Object.fromEntries(peers.slice(1).map((p) => [p.url, { reachable: true, state: 'up' }])),
      ringAgreement: true,
    });
  });

  it('concurrent cluster views and dashboard pages ask each other peer once', async () => {
    const [a] = await start(3);
    const views = await Promise.all([
      burst(20, async () => (await fetch(`${a.url}/cluster`)).json()),
      burst(20, async () => (await fetch(`${a.url}/dash/api/cluster`)).json()),
      burst(20, () => a.cache.clusterHealth()),
    ]);
    expect(statsRequests).to.deep.equal([0, 1, 1]);
    for (const view of views[0]) expect(view).to.include({ status: 'ok', ringAgreement: true });
    for (const model of views[1]) expect(model.peers.map((p: { state: string }) => p.state)).to.deep.equal(['up', 'up', 'up']);
    for (const report of views[2]) expect(report.body.peers[peers[1].url]).to.deep.equal({ reachable: true, state: 'up', agrees: true });
  });

  it('a peer its client skips as down makes health() degraded (503 when strict), still without asking anyone; closed: not serving', async () => {
    const [a, b, c] = await start(3);
    const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => a.cache.pool.ownerOf(k) === c.url) as string;
    await c.close();
    await a.cache.get(key); // the refused connection marks c down; a loads the key itself
    const report = await a.cache.health();
    expect(report.status).to.equal(200);
    expect(report.body.status).to.equal('degraded');
    expect(report.body.peers[b.url]).to.deep.equal({ reachable: true, state: 'up' });
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
