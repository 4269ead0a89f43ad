// Chaos: one of three peers, each a real child process, dies (SIGKILL) or freezes (SIGSTOP) in
// the middle of 5,000 gets. The gets are issued in-process by a fourth peer (this process) that
// lists the three children, so ~3/4 of them cross to a child and ~1/4 go to the victim; a sample
// also goes through the surviving children's own app routes. Every get must answer the right
// value, the time lost to the bad peer must stay at about one timeoutMs per backoffMs window, and
// the peer must be used again once it is back.
import { expect } from 'chai';
import { type GeecacheMiddleware, geecache } from 'geecache';
import { type ChildPeer, freePort, startCluster, startPeer, stop } from './helpers/cluster.js';

const TIMEOUT_MS = 1_000;
/** A get at least this slow waited for the bad peer's timeout (an abort never fires early). */
const SLOW_MS = TIMEOUT_MS * 0.9;
const GETS = 5_000;
/** The SIGSTOP run is shorter: it adds two backoff waits of its own. */
const STOP_GETS = 3_000;
const CONCURRENCY = 16;
const SECRET = 'test-secret-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const json = async (url: string) => (await fetch(url)).json() as Promise<Record<string, number>>;

interface Sample {
  key: string;
  start: number;
  ms: number;
  ok: boolean;
  got: string;
}

async function timed(key: string, get: (key: string) => Promise<string>): Promise<Sample> {
  const start = performance.now();
  let got: string;
  try {
    got = await get(key);
  } catch (err) {
    got = `threw ${String(err)}`;
  }
  return { key, start, ms: performance.now() - start, ok: got === `value:${key}`, got };
}

/** A get through a child's app route (`/get?key=`), as an app's own users would do it. */
async function viaRoute(peer: string, key: string): Promise<string> {
  const res = await fetch(`${peer}/get?key=${encodeURIComponent(key)}`);
  const body = await res.text();
  return res.status === 200 ? body : `${res.status} ${body}`;
}

/**
 * Runs gets of `keys`, `concurrency` at a time. Once half are issued it lets the gets in flight
 * finish, calls `chaos`, and goes on (so `chaos` sees a quiet cluster, and every later get
 * meets the chaos).
 */
async function run(keys: string[], get: (key: string) => Promise<string>, chaos: () => Promise<void> = async () => {}, concurrency = CONCURRENCY) {
  const samples: Sample[] = [];
  let next = 0;
  let inFlight = 0;
  let gate: Promise<void> | undefined;
  let chaosAt = Infinity;
  const worker = async () => {
    while (next < keys.length) {
      if (next === keys.length >> 1 && !gate) {
        gate = (async () => {
          while (inFlight > 0) await sleep(1);
          await chaos();
          chaosAt = performance.now();
        })();
      }
      if (gate) await gate;
      if (next >= keys.length) break;
      const i = next++;
      inFlight++;
      samples.push(await timed(keys[i], get));
      inFlight--;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const end = performance.now();
  return { samples, chaosAt, start, end, bad: samples.filter((s) => !s.ok) };
}

/** Groups slow gets into waves: gets that started within one timeout (+ slack) of the wave's first. */
function waves(slow: Sample[]): Sample[][] {
  const list: Sample[][] = [];
  for (const s of [...slow].sort((a, b) => a.start - b.start)) {
    const last = list.at(-1);
    if (last && s.start - last[0].start <= TIMEOUT_MS + 250) last.push(s);
    else list.push([s]);
  }
  return list;
}

describe('chaos: a peer dies or freezes under load (child processes)', function () {
  this.timeout(30_000);
  const children: ChildPeer[] = [];
  const caches: GeecacheMiddleware[] = [];

  afterEach(async () => {
    for (const c of caches.splice(0)) c.close();
    for (const p of children) if (p.process.exitCode === null && p.process.signalCode === null) p.process.kill('SIGCONT');
    await Promise.all(children.splice(0).map((p) => stop(p.process)));
  });

  /** Three child peers, and this process as a fourth that lists them (they need not list it). */
  async function setup(backoffMs: number) {
    const cluster = await startCluster(3, { timeoutMs: TIMEOUT_MS, backoffMs });
    children.push(...cluster.peers);
    const self = `http://127.0.0.1:${await freePort()}`; // never listens: the children don't list it
    const localRuns = new Map<string, number>();
    const cache = geecache({
      self,
      peers: [self, ...cluster.urls],
      secret: SECRET,
      timeoutMs: TIMEOUT_MS,
      backoffMs,
      groups: {
        scores: {
          maxBytes: 8 << 20,
          hotCacheFraction: 0,
          getter: (key) => {
            localRuns.set(key, (localRuns.get(key) ?? 0) + 1);
            return `value:${key}`;
          },
        },
      },
    });
    caches.push(cache);
    const group = cache.group('scores');
    const get = async (key: string) => (await group.get(key)).toString();
    const ownerOf = (key: string) => cache.pool.ownerOf(key)!;
    // Rendezvous hashing: dropping this process from the list only moves its own keys, so the
    // children agree on the owner of every key this process sends them.
    for (const key of ['a', 'b', 'chaos-1', 'chaos-2', 'chaos-3', 'chaos-4']) {
      if (ownerOf(key) !== self) expect(await (await fetch(`${cluster.urls[0]}/_test/owner?key=${key}`)).text()).to.equal(ownerOf(key));
    }
    const victim = cluster.peers[2];
    const survivors = cluster.urls.slice(0, 2);
    /** `n` fresh keys that the victim owns. */
    const victimKeys = (prefix: string, n: number) => {
      const out: string[] = [];
      for (let i = 0; out.length < n; i++) if (ownerOf(`${prefix}-${i}`) === victim.url) out.push(`${prefix}-${i}`);
      return out;
    };
    return { cluster, self, group, get, ownerOf, victim, survivors, victimKeys, localRuns };
  }

  it('SIGKILL: every get answers without waiting for the dead peer, which is used again once restarted', async () => {
    const BACKOFF_MS = 2_000;
    const { cluster, group, get, ownerOf, victim, survivors, victimKeys, localRuns } = await setup(BACKOFF_MS);
    const keys = Array.from({ length: GETS }, (_, i) => `kill-${i}`);
    let victimServed = 0;
    const r = await run(keys, get, async () => {
      victimServed = (await json(`${victim.url}/_test/stats`)).serverRequests;
      await stop(victim.process);
    });

    expect(r.bad.slice(0, 3), `${r.bad.length} gets failed`).to.deep.equal([]);
    expect(r.samples.length).to.equal(GETS);
    expect(victimServed, 'gets reached the victim before it died').to.be.greaterThan(300);
    const afterKill = r.samples.filter((s) => s.start >= r.chaosAt && ownerOf(s.key) === victim.url);
    expect(afterKill.length, "gets of the dead peer's keys after the kill").to.be.greaterThan(400);
    for (const s of afterKill) expect(localRuns.get(s.key), `${s.key} loaded here`).to.equal(1);

    const slow = r.samples.filter((s) => s.ms >= SLOW_MS);
    const maxMs = Math.max(...r.samples.map((s) => s.ms));
    // Through the surviving children's app routes too: their own peer clients fall back as well.
    const routeKeys = victimKeys('kill-route', 200);
    const viaRoutes = await run(routeKeys, (k) => viaRoute(survivors[routeKeys.indexOf(k) % 2], k), undefined, 8);
    expect(viaRoutes.bad.slice(0, 3), `${viaRoutes.bad.length} route gets failed`).to.deep.equal([]);
    const routeSlow = viaRoutes.samples.filter((s) => s.ms >= SLOW_MS);
    console.log(
      `      SIGKILL: ${GETS} gets in ${(r.end - r.start).toFixed(0)} ms (${group.stats.peerLoads} from peers), ${afterKill.length} of the dead peer's keys after the kill;` +
        ` ${slow.length} gets >= ${SLOW_MS} ms, slowest ${maxMs.toFixed(0)} ms; via survivors' routes: 200 of its keys, ${routeSlow.length} slow`,
    );
    // A dead process refuses connections at once: nothing should wait for timeoutMs. At most
    // one wave is tolerated, for a machine that stalls.
    expect(slow.length, 'gets that waited ~timeoutMs').to.be.at.most(CONCURRENCY);
    expect(routeSlow.length).to.be.at.most(8);
    expect(maxMs).to.be.below(2 * TIMEOUT_MS);

    // Restart it on the same port. Once the backoff has run out, its keys come from it again.
    const port = Number(new URL(victim.url).port);
    const reborn = await startPeer({ port, self: victim.url, peers: cluster.urls, secret: SECRET, timeoutMs: TIMEOUT_MS, backoffMs: BACKOFF_MS });
    children.push(reborn);
    await sleep(Math.max(0, viaRoutes.end + BACKOFF_MS + 200 - performance.now()));
    const fresh = victimKeys('kill-after', 40);
    const again = await Promise.all(fresh.map((k) => timed(k, get)));
    const againViaRoutes = await Promise.all(victimKeys('kill-after-route', 20).map((k, i) => timed(k, (key) => viaRoute(survivors[i % 2], key))));
    expect([...again, ...againViaRoutes].filter((s) => !s.ok)).to.deep.equal([]);
    const stats = await json(`${reborn.url}/_test/stats`);
    const loads = await json(`${reborn.url}/_test/loads`);
    expect(stats.serverRequests, 'requests the restarted peer served').to.equal(fresh.length + againViaRoutes.length);
    for (const s of [...again, ...againViaRoutes]) expect(loads[s.key], s.key).to.equal(1);
    for (const k of fresh) expect(localRuns.get(k), k).to.equal(undefined);
  });

  it('SIGSTOP: gets wait for the frozen peer at most one timeoutMs per backoffMs window, and it is used again after SIGCONT', async () => {
    const BACKOFF_MS = 2_500;
    const { group, get, ownerOf, victim, survivors, victimKeys } = await setup(BACKOFF_MS);
    const keys = Array.from({ length: STOP_GETS }, (_, i) => `stop-${i}`);
    let victimServed = 0;
    let loadsAtStop: Record<string, number> = {};
    const r = await run(keys, get, async () => {
      victimServed = (await json(`${victim.url}/_test/stats`)).serverRequests;
      loadsAtStop = await json(`${victim.url}/_test/loads`);
      victim.process.kill('SIGSTOP');
    });

    expect(r.bad.slice(0, 3), `${r.bad.length} gets failed`).to.deep.equal([]);
    expect(victimServed).to.be.greaterThan(STOP_GETS / 8 / 2);
    const afterStop = r.samples.filter((s) => s.start >= r.chaosAt && ownerOf(s.key) === victim.url);
    expect(afterStop.length).to.be.greaterThan(STOP_GETS / 8 / 2);

    const slow = r.samples.filter((s) => s.ms >= SLOW_MS);
    const slowOfVictim = slow.filter((s) => ownerOf(s.key) === victim.url);
    const list = waves(slowOfVictim);
    const frozenMs = r.end - r.chaosAt;
    const windows = 1 + Math.floor(frozenMs / (BACKOFF_MS + TIMEOUT_MS));
    const maxMs = Math.max(...r.samples.map((s) => s.ms));
    // The freeze costs a timeout (that is what SIGSTOP exercises: the kernel accepts, nobody
    // answers), but each get waits at most one, never two in a row...
    expect(slowOfVictim.length).to.be.greaterThan(0);
    expect(maxMs).to.be.below(2 * TIMEOUT_MS);
    // ...and only the gets in flight when the first timeout fires pay it: one wave of at most
    // CONCURRENCY gets per backoff window. (Timings on a busy machine are noisy: allow one
    // extra wave here; the keys the frozen peer served late are counted below.)
    expect(slowOfVictim.length, 'slow gets of its keys').to.be.at.most((windows + 1) * CONCURRENCY);
    expect(slow.length - slowOfVictim.length, "slow gets of other peers' keys").to.be.at.most(CONCURRENCY);

    // Through the surviving children's routes: each of them pays one wave too, then skips it.
    const routeKeys = victimKeys('stop-route', 100);
    const viaRoutes = await run(routeKeys, (k) => viaRoute(survivors[routeKeys.indexOf(k) % 2], k), undefined, 4);
    expect(viaRoutes.bad.slice(0, 3), `${viaRoutes.bad.length} route gets failed`).to.deep.equal([]);
    const routeSlow = viaRoutes.samples.filter((s) => s.ms >= SLOW_MS);
    expect(Math.max(...viaRoutes.samples.map((s) => s.ms))).to.be.below(2 * TIMEOUT_MS);

    // Still frozen once the backoff has run out: one more timeout, then skipped again.
    const lastSlowEnd = Math.max(...slowOfVictim.map((s) => s.start + s.ms));
    await sleep(Math.max(0, lastSlowEnd + BACKOFF_MS + 200 - performance.now()));
    const [probe1, probe2] = victimKeys('stop-probe', 2);
    const retry = await timed(probe1, get);
    expect(retry.ok).to.equal(true);
    expect(retry.ms, 'tried again after backoffMs: times out')
      .to.be.at.least(SLOW_MS)
      .and.below(2 * TIMEOUT_MS);
    const skipped = await timed(probe2, get);
    expect(skipped.ok).to.equal(true);
    expect(skipped.ms, 'then skipped for another backoffMs').to.be.below(SLOW_MS);

    // Thaw it. It now serves the requests that queued up while it was frozen.
    const thawedAt = performance.now();
    victim.process.kill('SIGCONT');
    await sleep(Math.max(0, retry.start + retry.ms + BACKOFF_MS + 200 - performance.now()));
    const loadsThawed = await json(`${victim.url}/_test/loads`);
    const queued = (re: RegExp) => Object.keys(loadsThawed).filter((k) => re.test(k) && !(k in loadsAtStop));
    const fromRun = queued(/^stop-\d+$/);
    const fromRoutes = queued(/^stop-route-\d+$/);
    console.log(
      `      SIGSTOP: ${STOP_GETS} gets in ${(r.end - r.start).toFixed(0)} ms, frozen for the last ${frozenMs.toFixed(0)} ms (${afterStop.length} gets of its keys);` +
        ` ${fromRun.length} keys it served late; ${slow.length} gets >= ${SLOW_MS} ms (${slowOfVictim.length} of its keys) in ${list.length} wave(s)` +
        ` of [${list.map((w) => w.length).join(', ')}], slowest ${maxMs.toFixed(0)} ms; via survivors' routes: ${fromRoutes.length} keys it served late, ${routeSlow.length} slow of 100`,
    );
    // What it served late was sent to it while frozen (not all of it: a batch whose client has
    // hung up is dropped unread), another view of the gets that waited for it.
    expect(fromRun.length, 'keys sent to the frozen peer during the run').to.be.at.most(windows * CONCURRENCY);
    for (const k of fromRun) expect(ownerOf(k)).to.equal(victim.url);
    // Two survivors, 4 gets at a time between them, well within one backoff window each.
    expect(fromRoutes.length, 'keys the survivors sent to the frozen peer').to.be.at.most(2 * 4);
    expect(routeSlow.length, 'slow route gets (one wave per survivor, plus noise)')
      .to.be.at.least(1)
      .and.at.most(3 * 4);
    expect(loadsThawed[probe1], 'the retry after backoffMs reached it').to.equal(1);
    expect(loadsThawed[probe2], 'the get after that did not').to.equal(undefined);

    // Once the backoff runs out, its keys are fetched from it again.
    const statsBefore = await json(`${victim.url}/_test/stats`);
    const peerLoadsBefore = group.stats.peerLoads;
    const fresh = victimKeys('stop-after', 40);
    const again = await Promise.all(fresh.map((k) => timed(k, get)));
    expect(again.filter((s) => !s.ok)).to.deep.equal([]);
    expect(Math.max(...again.map((s) => s.ms))).to.be.below(SLOW_MS);
    const statsAfter = await json(`${victim.url}/_test/stats`);
    const loads = await json(`${victim.url}/_test/loads`);
    expect(statsAfter.serverRequests - statsBefore.serverRequests, 'requests the thawed peer served').to.equal(fresh.length);
    expect(statsAfter.localLoads - statsBefore.localLoads).to.equal(fresh.length);
    expect(group.stats.peerLoads - peerLoadsBefore).to.equal(fresh.length);
    for (const k of fresh) expect(loads[k], k).to.equal(1);
    console.log(`      SIGSTOP: thawed; ${fresh.length} of its keys fetched from it again ${(performance.now() - thawedAt).toFixed(0)} ms later`);
  });
});
