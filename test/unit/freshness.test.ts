// TTL, stale-while-revalidate, cached not-found and cluster-wide remove / set / clear, on a
// 3-peer in-process cluster (real HTTP servers on loopback). Time passes TTLs by jumping a fake
// clock (test/helpers/clock.ts) that otherwise runs with real time; the assertions are on values
// and counts, never on durations.
import { expect } from 'chai';
import { MAX_TTL_MS } from '../../lib/cache/freshness.js';
import { NotFoundError } from '../../lib/index.js';
import { AUTH_HEADER, SET_CONTENT_TYPE } from '../../lib/protocol/headers.js';
import { encodeSetRequest } from '../../lib/protocol/wire.js';
import { type FreshCluster, type JumpingClock, jumpingClock, sleep, startFreshCluster, until, untilHotCopy } from '../helpers/index.js';

let clock: JumpingClock;

describe('freshness: TTL', function () {
  this.timeout(30_000);
  let c: FreshCluster;
  before(async () => {
    c = await startFreshCluster(3, { ttlMs: 300, hotTtlMs: 5_000 });
    clock = jumpingClock();
  });
  after(async () => {
    clock.uninstall();
    await c.close();
  });

  it('the owner reloads a value once its TTL has passed, and not before', async () => {
    const key = 'owner-ttl';
    c.db.set(key, 'v1');
    const owner = c.ownerOf(key);
    const first = await owner.group.get(key);
    expect(String(first)).to.equal('v1');
    c.db.set(key, 'v2');
    const again = await owner.group.get(key);
    // Before its expiresAt the cached value is answered. (A machine too slow to ask again within
    // the 300 ms skips this check; it cannot fail it: the check is on the value's own deadline.)
    if (Date.now() < first.expiresAt!) {
      expect(String(again)).to.equal('v1');
      expect(c.loads(key)).to.equal(1);
    }
    const loads = c.loads(key);
    await clock.jump(400);
    expect(String(await owner.group.get(key))).to.equal('v2');
    expect(c.loads(key), 'reloaded once its TTL passed').to.equal(loads + 1);
  });

  it("the expiry travels with the value: a peer's copy ends with the owner's entry, never after it", async () => {
    const key = 'travels';
    c.db.set(key, 'v1');
    const owner = c.ownerOf(key);
    const mine = await owner.group.get(key);
    const asked = Date.now();
    const theirs = await c.otherThan(key).group.get(key);
    const answered = Date.now();
    expect(mine.expiresAt).to.be.a('number');
    // The owner sends the time left; the asker counts it from when it asked: at most the exchange earlier.
    expect(theirs.expiresAt).to.be.within(mine.expiresAt! - (answered - asked), mine.expiresAt!);
  });

  it("a hot copy never outlives the owner's entry, even with a longer hotTtlMs", async () => {
    const key = 'hot-ttl';
    c.db.set(key, 'v1');
    const asker = c.otherThan(key);
    expect(await untilHotCopy(asker, key)).to.equal(true);
    c.db.set(key, 'v2');
    await clock.jump(400);
    expect(asker.group.peek(key)).to.equal(undefined);
    expect(String(await asker.group.get(key))).to.equal('v2');
  });

  it("a getter's setTtl overrides the group's ttlMs for that value", async () => {
    const key = 'ttl5000:long';
    c.db.set(key, 'v1');
    const owner = c.ownerOf(key);
    const view = await owner.group.get(key);
    expect(view.expiresAt! - Date.now()).to.be.greaterThan(1_000);
    c.db.set(key, 'v2');
    await clock.jump(400);
    // Still within its own 5 s (checked against its deadline, not assumed of the machine's speed).
    if (Date.now() < view.expiresAt!) expect(String(await owner.group.get(key))).to.equal('v1');
  });

  it('setTtl takes up to MAX_TTL_MS, whose expiry travels to other peers; beyond it the load fails with a RangeError naming the bound', async () => {
    const longest = `ttl${MAX_TTL_MS}:longest`;
    c.db.set(longest, 'v1');
    const mine = await c.ownerOf(longest).group.get(longest);
    const asked = Date.now();
    const theirs = await c.otherThan(longest).group.get(longest);
    const answered = Date.now();
    expect(mine.expiresAt! - Date.now()).to.be.greaterThan(MAX_TTL_MS - 60_000);
    expect(theirs.expiresAt).to.be.within(mine.expiresAt! - (answered - asked), mine.expiresAt!);
    const over = `ttl${MAX_TTL_MS + 1}:over`;
    c.db.set(over, 'v1');
    const owner = c.ownerOf(over);
    const errors = await Promise.all(
      [owner, c.otherThan(over)].map((p) =>
        p.group.get(over).then(
          () => undefined,
          (err: Error) => err,
        ),
      ),
    );
    expect(errors[0]).to.be.instanceOf(RangeError);
    for (const err of errors) expect(err?.message).to.match(new RegExp(`setTtl\\(ms\\): ms must be at most ${MAX_TTL_MS}`));
    // Ran on the owner only: the asker took the owner's failure as it is.
    expect(c.peers.map((p) => p.loads.get(over) ?? 0)).to.deep.equal(c.peers.map((p) => (p === owner ? 1 : 0)));
  });
});

describe('freshness: hot copies are capped by hotTtlMs', function () {
  this.timeout(30_000);
  let c: FreshCluster;
  before(async () => {
    c = await startFreshCluster(3, { hotTtlMs: 300 });
    clock = jumpingClock();
  });
  after(async () => {
    clock.uninstall();
    await c.close();
  });

  it('a hot copy of a value that never expires is dropped after hotTtlMs; the owner keeps its entry', async () => {
    const key = 'immutable';
    c.db.set(key, 'v1');
    const asker = c.otherThan(key);
    // Fetched into the (roomy) hot cache and not read again: a copy that is read would be renewed
    // from its owner instead, with a hotTtlMs of its own (test/renewal.test.ts).
    const items = asker.group.cacheStats().hot.items;
    expect(String(await asker.group.get(key))).to.equal('v1');
    expect(asker.group.cacheStats().hot.items).to.equal(items + 1);
    await clock.jump(400);
    expect(asker.group.peek(key)).to.equal(undefined);
    expect(String(c.ownerOf(key).group.peek(key))).to.equal('v1');
    expect(c.loads(key)).to.equal(1);
  });
});

describe('freshness: remove, set and clear, cluster-wide', function () {
  this.timeout(30_000);
  let c: FreshCluster;
  before(async () => {
    c = await startFreshCluster(3, { hotTtlMs: 60_000 });
    clock = jumpingClock();
  });
  after(async () => {
    clock.uninstall();
    await c.close();
  });

  /** Warms `key` on every peer, with a hot copy on each non-owner. */
  async function warm(key: string) {
    for (const p of c.peers) expect(await untilHotCopy(p, key)).to.equal(true);
  }

  for (const from of [0, 1, 2]) {
    it(`remove from peer ${from}: every peer then gets the new value; the report lists all three`, async () => {
      const key = `rm-${from}`;
      c.db.set(key, 'old');
      await warm(key);
      c.db.set(key, 'new');
      const report = await c.peers[from].group.remove(key);
      expect([...report.acknowledged].sort()).to.deep.equal(c.peers.map((p) => p.url).sort());
      expect(report.pending).to.deep.equal([]);
      for (const p of c.peers) expect(p.group.peek(key), `copy left on ${p.url}`).to.equal(undefined);
      for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('new');
    });
  }

  it('set from a non-owner: stored at the owner, copies dropped, every peer gets it without a getter run', async () => {
    const key = 'set-me';
    c.db.set(key, 'old');
    await warm(key);
    const loads = c.loads(key);
    const report = await c.otherThan(key).group.set(key, 'written');
    expect(report.acknowledged).to.have.length(3);
    for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('written');
    expect(c.loads(key)).to.equal(loads);
    expect(String(c.ownerOf(key).group.peek(key))).to.equal('written');
  });

  it('set with ttlMs: the value expires and the getter runs again', async () => {
    const key = 'set-ttl';
    c.db.set(key, 'from-db');
    await c.otherThan(key).group.set(key, 'written', { ttlMs: 200 });
    expect(String(await c.ownerOf(key).group.get(key))).to.equal('written');
    await clock.jump(300);
    expect(String(await c.ownerOf(key).group.get(key))).to.equal('from-db');
  });

  it('clear empties the group on every peer', async () => {
    const keys = ['c1', 'c2', 'c3', 'c4'];
    for (const k of keys) {
      c.db.set(k, 'old');
      await warm(k);
    }
    for (const k of keys) c.db.set(k, 'new');
    const report = await c.peers[1].group.clear();
    expect(report.acknowledged).to.have.length(3);
    for (const p of c.peers) for (const k of keys) expect(p.group.peek(k)).to.equal(undefined);
    for (const p of c.peers) for (const k of keys) expect(String(await p.group.get(k))).to.equal('new');
  });

  it('a remove that overlaps a slow load of the key: the older value is not cached', async () => {
    const key = 'race-rm';
    c.db.set(key, 'old');
    let release!: () => void;
    c.gate = new Promise<void>((r) => (release = r));
    const owner = c.ownerOf(key);
    const loads = c.loads(key);
    const loading = owner.group.get(key);
    await until('the getter waits at the gate', () => c.loads(key) === loads + 1);
    c.gate = undefined;
    // The load read 'old' from the database before the write; it returns only after the remove.
    const removed = owner.group.remove(key);
    c.db.set(key, 'new');
    release();
    await removed;
    await loading;
    expect(owner.group.peek(key)).to.equal(undefined);
    for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('new');
  });

  it('a set that overlaps a slow load of the key wins over it', async () => {
    const key = 'race-set';
    c.db.set(key, 'old');
    let release!: () => void;
    c.gate = new Promise<void>((r) => (release = r));
    const asker = c.otherThan(key);
    const loads = c.loads(key);
    const loading = asker.group.get(key);
    await until('the getter waits at the gate', () => c.loads(key) === loads + 1);
    c.gate = undefined;
    await c.peers[0].group.set(key, 'written');
    release();
    await loading;
    for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('written');
  });

  it('refuses to set a value of a wrong type or larger than maxBytes allows, caching nothing', async () => {
    const g = c.peers[0].group;
    for (const bad of [42, null, undefined, { a: 1 }, [1, 2]]) {
      let err: unknown;
      await g.set('typed', bad as unknown as string).catch((e) => (err = e));
      expect(err).to.be.instanceOf(TypeError);
      expect((err as Error).message).to.match(/pass a Buffer, Uint8Array or string/);
    }
    let err: unknown;
    await g.set('huge', Buffer.alloc(2 << 20)).catch((e) => (err = e));
    expect(err).to.be.instanceOf(RangeError);
    expect((err as Error).message).to.match(/maxBytes.*nothing was stored/);
    await g.set('typed', 'x', { ttlMs: -1 }).catch((e) => (err = e));
    expect((err as Error).message).to.match(/ttlMs must be a positive number/);
    for (const ttlMs of [MAX_TTL_MS + 1, 8e12, Infinity]) {
      err = undefined;
      await g.set('typed', 'x', { ttlMs }).catch((e) => (err = e));
      expect(err, String(ttlMs)).to.be.instanceOf(ttlMs === Infinity ? TypeError : RangeError);
      if (ttlMs !== Infinity) expect((err as Error).message).to.match(new RegExp(`set: ttlMs must be at most ${MAX_TTL_MS}`));
    }
    for (const p of c.peers) {
      expect(p.group.peek('typed')).to.equal(undefined);
      expect(p.group.peek('huge')).to.equal(undefined);
    }
  });

  it('an unsigned or badly signed DELETE or PUT gets 401 and changes nothing', async () => {
    const key = 'guarded';
    c.db.set(key, 'v1');
    const owner = c.ownerOf(key);
    await owner.group.get(key);
    const url = `${owner.url}/_geecache/scores/${key}`;
    const body = Buffer.from(encodeSetRequest({ group: 'scores', key, value: Buffer.from('evil') }));
    const forged = `${Date.now()}.${'0'.repeat(64)}`;
    const attempts: [string, RequestInit][] = [
      [url, { method: 'DELETE' }],
      [url, { method: 'DELETE', headers: { [AUTH_HEADER]: forged } }],
      [`${owner.url}/_geecache/scores`, { method: 'DELETE' }],
      [url, { method: 'PUT', headers: { 'content-type': SET_CONTENT_TYPE }, body }],
      [url, { method: 'PUT', headers: { 'content-type': SET_CONTENT_TYPE, [AUTH_HEADER]: forged }, body }],
    ];
    for (const [target, init] of attempts) {
      const res = await fetch(target, init);
      expect(res.status, `${init.method} ${target}`).to.equal(401);
      await res.arrayBuffer();
    }
    expect(String(owner.group.peek(key))).to.equal('v1');
  });
});

describe('freshness: cached not-found', function () {
  this.timeout(30_000);
  let c: FreshCluster;
  before(async () => {
    c = await startFreshCluster(3, { notFoundTtlMs: 300 });
    clock = jumpingClock();
  });
  after(async () => {
    clock.uninstall();
    await c.close();
  });

  it('every peer raises NotFoundError (status 404), cached at the owner for notFoundTtlMs', async () => {
    const key = 'ghost';
    const asked = Date.now(); // the not-found is cached until at least asked + 300 ms
    for (const p of c.peers) {
      const err = await p.group.get(key).catch((e) => e);
      expect(err, p.url).to.be.instanceOf(NotFoundError);
      expect(err.status).to.equal(404);
      expect(err.message).to.match(/no ghost in the database/);
    }
    expect(c.loads(key)).to.equal(1);
    c.db.set(key, 'appeared');
    const stillCached = await c.peers[0].group.get(key).catch((e) => e);
    // Checked only while surely within notFoundTtlMs: a slower machine skips it, never fails it.
    if (Date.now() < asked + 300) expect(stillCached).to.be.instanceOf(NotFoundError);
    await clock.jump(400);
    for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('appeared');
    expect(c.loads(key)).to.equal(2);
  });

  it('remove drops a cached not-found', async () => {
    const key = 'ghost2';
    expect(await c.peers[1].group.get(key).catch((e) => e)).to.be.instanceOf(NotFoundError);
    c.db.set(key, 'here');
    await c.peers[2].group.remove(key);
    expect(String(await c.peers[1].group.get(key))).to.equal('here');
  });
});

describe('freshness: not-found is not cached by default', function () {
  this.timeout(30_000);
  let c: FreshCluster;
  before(async () => {
    c = await startFreshCluster(3);
  });
  after(() => c.close());

  it('each get asks the getter again', async () => {
    for (let i = 0; i < 3; i++)
      expect(
        await c
          .otherThan('nobody')
          .group.get('nobody')
          .catch((e) => e),
      ).to.be.instanceOf(NotFoundError);
    expect(c.loads('nobody')).to.equal(3);
  });
});

describe('freshness: stale-while-revalidate', function () {
  this.timeout(30_000);
  let c: FreshCluster;
  before(async () => {
    c = await startFreshCluster(3, { ttlMs: 200, staleMs: 60_000 });
    clock = jumpingClock();
  });
  after(() => {
    clock.uninstall();
    c.failing = false;
    return c.close();
  });

  it('after expiry every peer gets the stale value at once while one refresh runs at the owner', async () => {
    const key = 'swr';
    c.db.set(key, 'v1');
    for (const p of c.peers) await p.group.get(key);
    expect(c.loads(key)).to.equal(1);
    c.db.set(key, 'v2');
    await clock.jump(300);
    let release!: () => void;
    c.gate = new Promise<void>((r) => (release = r));
    const values = await Promise.all(Array.from({ length: 300 }, (_, i) => c.peers[i % 3].group.get(key)));
    expect(new Set(values.map(String))).to.deep.equal(new Set(['v1']));
    c.gate = undefined;
    release();
    await until('the refresh is cached at the owner', () => String(c.ownerOf(key).group.peek(key)) === 'v2');
    expect(c.loads(key)).to.equal(2);
    expect(c.ownerOf(key).loads.get(key)).to.equal(2);
    for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('v2');
  });

  it('a failing refresh keeps serving the stale value and retries with a backoff, not on every get', async () => {
    const key = 'swr-fail';
    c.db.set(key, 'v1');
    await c.ownerOf(key).group.get(key);
    await clock.jump(300);
    c.failing = true;
    const started = Date.now();
    for (let round = 0; round < 20; round++) {
      const values = await Promise.all(c.peers.map((p) => p.group.get(key)));
      expect(values.map(String)).to.deep.equal(['v1', 'v1', 'v1']);
      await sleep(10);
    }
    // 60 gets over ~200 ms: the first refresh failed, the backoff (1 s) held back the rest. (On a
    // machine slow enough to take seconds over them, one retry per backoff second is allowed.)
    const retries = c.loads(key) - 2;
    expect(retries, 'refreshes after the first failed one')
      .to.be.at.least(0)
      .and.at.most(Math.floor((Date.now() - started) / 1_000));
    c.failing = false;
    c.db.set(key, 'v2');
    await clock.jump(1_100);
    const loadsBefore = c.loads(key);
    await c.ownerOf(key).group.get(key); // stale still, starts the retry
    await until('the retried refresh is cached', () => String(c.ownerOf(key).group.peek(key)) === 'v2');
    expect(String(await c.ownerOf(key).group.get(key))).to.equal('v2');
    expect(c.loads(key)).to.equal(loadsBefore + 1);
  });
});
