// Freshness across real child-process peers (test/fixtures/peer.mjs): TTL on the owner and on hot
// copies, stale-while-revalidate under 1,000 concurrent gets, remove / set / clear seen by every
// peer, and the faults: a peer paused (SIGSTOP) during a remove, a peer killed during a set.
// Time is controlled by waiting past TTLs; assertions are on values and counts, never durations.
import { expect } from 'chai';
import { type ChildHandle, sleep, startCluster } from '../helpers/index.js';

const q = encodeURIComponent;

async function json<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}
const text = async (url: string) => (await fetch(url)).text();

interface Cluster {
  peers: ChildHandle[];
  urls: string[];
  stop(): Promise<void>;
}

/** Helpers over a started cluster. */
function ops(c: Cluster) {
  const self = {
    get: (url: string, key: string) => text(`${url}/get?key=${q(key)}`),
    peek: async (url: string, key: string) => (await json<{ value: string | null }>(`${url}/_test/peek?key=${q(key)}`)).value,
    owner: (key: string) => text(`${c.urls[0]}/_test/owner?key=${q(key)}`),
    /** Sets the key's value in every peer's "database". */
    db: (key: string, value: string, ttlMs = 0) => Promise.all(c.urls.map((u) => text(`${u}/_test/db?key=${q(key)}&value=${q(value)}&ttlMs=${ttlMs}`))),
    loads: async (key: string) => {
      const all = await Promise.all(c.urls.map((u) => json<Record<string, number>>(`${u}/_test/loads`)));
      return all.map((l) => l[key] ?? 0);
    },
    total: async (key: string) => (await self.loads(key)).reduce((a, b) => a + b, 0),
    /** Gets via `url` until its hot cache holds a copy (1 in 10 fetches keep one); bounded. */
    hotCopy: async (url: string, key: string) => {
      for (let i = 0; i < 300; i++) {
        if ((await self.peek(url, key)) !== null) return true;
        await self.get(url, key);
      }
      return false;
    },
  };
  return self;
}

describe('freshness across child-process peers: TTL', function () {
  this.timeout(60_000);
  let c: Cluster;
  let o: ReturnType<typeof ops>;
  before(async () => {
    // A long timeoutMs: on a loaded machine a slow answer must not turn into a local load.
    c = await startCluster(3, { ttlMs: 3_000, hotTtlMs: 60_000, timeoutMs: 10_000 });
    o = ops(c);
  });
  after(() => c?.stop());

  it('the owner and the hot copies both drop a value once its TTL has passed; the getter runs once per TTL at the owner', async () => {
    const key = 'ttl-key';
    await o.db(key, 'v1');
    const owner = await o.owner(key);
    const others = c.urls.filter((u) => u !== owner);
    for (const u of others) expect(await o.hotCopy(u, key), `hot copy on ${u}`).to.equal(true);
    await o.db(key, 'v2');
    expect(await o.peek(owner, key)).to.equal('v1');
    const before = await o.loads(key);
    expect(
      before.filter((n, i) => n > 0 && c.urls[i] !== owner),
      'loads off the owner',
    ).to.deep.equal([]);
    await sleep(3_300);
    // hotTtlMs is a minute: only the TTL, carried from the owner, can have dropped the copies.
    for (const u of c.urls) expect(await o.peek(u, key), `copy left on ${u}`).to.equal(null);
    for (const u of c.urls) expect(await o.get(u, key)).to.equal('v2');
    const after = await o.loads(key);
    expect(after.map((n, i) => n - before[i])).to.deep.equal(c.urls.map((u) => (u === owner ? 1 : 0)));
  });
});

describe('freshness across child-process peers: stale-while-revalidate', function () {
  this.timeout(60_000);
  let c: Cluster;
  let o: ReturnType<typeof ops>;
  before(async () => {
    c = await startCluster(3, { staleMs: 600_000, getterDelayMs: 500, timeoutMs: 30_000 });
    o = ops(c);
  });
  after(() => c?.stop());

  it('after expiry, 1,000 concurrent gets across 3 peers get the stale value and run one refresh in the whole cluster, at the owner', async () => {
    const key = 'swr-key';
    // v1 lives 1 s (the getter's setTtl); v2 ten minutes, so however long the burst takes on a
    // loaded machine the refreshed value cannot expire during it and start a second refresh.
    await o.db(key, 'v1', 1_000);
    for (const u of c.urls) expect(await o.get(u, key)).to.equal('v1');
    expect(await o.total(key)).to.equal(1);
    await o.db(key, 'v2', 600_000);
    await sleep(1_200);
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => o.get(c.urls[i % 3], key)));
    const counts: Record<string, number> = {};
    for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
    expect(
      Object.keys(counts).every((a) => a === 'v1' || a === 'v2'),
      JSON.stringify(counts),
    ).to.equal(true);
    expect(counts.v1, 'stale answers').to.be.greaterThan(0);
    // Once the refresh (500 ms of getter) is cached at the owner (a bounded poll, not a fixed wait):
    const owner = await o.owner(key);
    for (let i = 0; i < 600 && (await o.peek(owner, key)) !== 'v2'; i++) await sleep(50);
    expect(await o.peek(owner, key), 'the refreshed value at the owner').to.equal('v2');
    const loads = await o.loads(key);
    expect(loads[c.urls.indexOf(owner)]).to.equal(2);
    expect(loads.reduce((a, b) => a + b, 0)).to.equal(2);
    for (const u of c.urls) expect(await o.get(u, key)).to.equal('v2');
  });
});

describe('freshness across child-process peers: remove, set, clear', function () {
  this.timeout(60_000);
  let c: Cluster;
  let o: ReturnType<typeof ops>;
  before(async () => {
    c = await startCluster(3, { hotTtlMs: 60_000, notFoundTtlMs: 60_000 });
    o = ops(c);
  });
  after(() => c?.stop());

  it('remove from a non-owner: every peer then answers the new value', async () => {
    const key = 'rm-key';
    await o.db(key, 'old');
    for (const u of c.urls) expect(await o.hotCopy(u, key)).to.equal(true);
    await o.db(key, 'new');
    const owner = await o.owner(key);
    const report = await json<{ acknowledged: string[]; pending: string[] }>(`${c.urls.find((u) => u !== owner)}/_test/remove?key=${q(key)}`);
    expect([...report.acknowledged].sort()).to.deep.equal([...c.urls].sort());
    expect(report.pending).to.deep.equal([]);
    for (const u of c.urls) expect(await o.get(u, key)).to.equal('new');
  });

  it('set: every peer answers the set value, and no getter runs', async () => {
    const key = 'set-key';
    await o.db(key, 'old');
    for (const u of c.urls) expect(await o.hotCopy(u, key)).to.equal(true);
    const before = await o.total(key);
    const report = await json<{ acknowledged: string[] }>(`${c.urls[2]}/_test/set?key=${q(key)}&value=written`);
    expect(report.acknowledged).to.have.length(3);
    for (const u of c.urls) expect(await o.get(u, key)).to.equal('written');
    expect(await o.total(key)).to.equal(before);
  });

  it('clear: every peer drops every key', async () => {
    const keys = ['clr-a', 'clr-b', 'clr-c'];
    for (const k of keys) {
      await o.db(k, 'old');
      for (const u of c.urls) expect(await o.hotCopy(u, k)).to.equal(true);
      await o.db(k, 'new');
    }
    const report = await json<{ acknowledged: string[] }>(`${c.urls[1]}/_test/clear`);
    expect(report.acknowledged).to.have.length(3);
    for (const u of c.urls) for (const k of keys) expect(await o.get(u, k)).to.equal('new');
  });

  it('a NotFoundError crosses the wire: every peer raises the same class with status 404', async () => {
    for (const u of c.urls) {
      const answer = await json<{ error?: { name: string; status: number; message: string } }>(`${u}/_test/get?key=${q('missing:x')}`);
      expect(answer.error).to.deep.include({ name: 'NotFoundError', status: 404 });
      expect(answer.error?.message).to.match(/no missing:x in the database/);
    }
    expect(await o.total('missing:x')).to.equal(1); // cached at the owner (notFoundTtlMs)
  });
});

describe('freshness across child-process peers: faults', function () {
  this.timeout(90_000);
  const HOT_TTL = 1_500;
  let c: Cluster;
  let o: ReturnType<typeof ops>;
  beforeEach(async () => {
    c = await startCluster(3, { hotTtlMs: HOT_TTL, timeoutMs: 500, backoffMs: 200 });
    o = ops(c);
  });
  afterEach(async () => {
    for (const p of c?.peers ?? []) if (p.process.exitCode === null && p.process.signalCode === null) p.process.kill('SIGCONT');
    await c?.stop();
  });

  it('a peer paused (SIGSTOP) during a remove is reported pending, and after SIGCONT past hotTtlMs never serves the removed value', async () => {
    const key = 'paused';
    await o.db(key, 'old');
    const owner = await o.owner(key);
    const [paused, caller] = c.urls.filter((u) => u !== owner).concat(owner);
    expect(await o.hotCopy(paused, key)).to.equal(true);
    await o.db(key, 'new');
    const pausedPeer = c.peers[c.urls.indexOf(paused)];
    pausedPeer.process.kill('SIGSTOP');
    const report = await json<{ acknowledged: string[]; pending: string[] }>(`${caller}/_test/remove?key=${q(key)}`);
    expect(report.pending).to.deep.equal([paused]);
    expect([...report.acknowledged].sort()).to.deep.equal(c.urls.filter((u) => u !== paused).sort());
    // The operator is told once, with what it means and the fix.
    const callerOutput = () => c.peers[c.urls.indexOf(caller)].output();
    expect(callerOutput()).to.include(`[warn] geecache: peer ${paused} missed a remove of group "scores"`);
    await sleep(HOT_TTL + 300);
    pausedPeer.process.kill('SIGCONT');
    // Past the bound: its copy is gone, whether or not the retried remove reached it yet.
    expect(await o.get(paused, key)).to.equal('new');
    // The caller keeps retrying until the paused peer acknowledges (bounded wait).
    let pending: Record<string, number> = { [paused]: 1 };
    for (let i = 0; i < 150 && Object.keys(pending).length > 0; i++) {
      await sleep(200);
      pending = await json(`${caller}/_test/pending`);
    }
    expect(pending).to.deep.equal({});
    expect(callerOutput()).to.include(`[info] geecache: peer ${paused} caught up with the removes it had missed`);
  });

  it('a remove whose owner is paused: every other peer drops the key, the owner gets the remove once it runs again', async () => {
    const key = 'paused-owner';
    await o.db(key, 'old');
    const owner = await o.owner(key);
    const caller = c.urls.find((u) => u !== owner)!;
    expect(await o.get(owner, key)).to.equal('old');
    await o.db(key, 'new');
    const ownerPeer = c.peers[c.urls.indexOf(owner)];
    ownerPeer.process.kill('SIGSTOP');
    const report = await json<{ pending: string[] }>(`${caller}/_test/remove?key=${q(key)}`);
    expect(report.pending).to.deep.equal([owner]);
    ownerPeer.process.kill('SIGCONT');
    let pending: Record<string, number> = { [owner]: 1 };
    for (let i = 0; i < 150 && Object.keys(pending).length > 0; i++) {
      await sleep(200);
      pending = await json(`${caller}/_test/pending`);
    }
    expect(pending).to.deep.equal({});
    for (const u of c.urls) expect(await o.get(u, key)).to.equal('new');
  });

  it('a set whose owner is killed mid-way settles with an error naming the owner, and the old value is gone elsewhere', async () => {
    const key = 'killed';
    await o.db(key, 'old');
    const owner = await o.owner(key);
    const caller = c.urls.find((u) => u !== owner)!;
    expect(await o.hotCopy(caller, key)).to.equal(true);
    const ownerPeer = c.peers[c.urls.indexOf(owner)];
    ownerPeer.process.kill('SIGSTOP'); // the PUT is accepted by the kernel and never answered...
    const answer = json<{ error?: { message: string } }>(`${caller}/_test/set?key=${q(key)}&value=written`);
    await sleep(100);
    ownerPeer.process.kill('SIGKILL'); // ...then the owner dies mid-request
    const result = await answer;
    expect(result.error?.message).to.include(`the owner of key "${key}", ${owner}, did not store it`);
    expect(await o.peek(caller, key)).to.equal(null);
    await text(`${caller}/_test/db?key=${q(key)}&value=new`);
    // With the owner gone its keys are loaded locally: the new value, not the old copy.
    expect(await o.get(caller, key)).to.equal('new');
  });
});
