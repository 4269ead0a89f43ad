// Chaos: one of three peers, each a real child process, dies (SIGKILL) or freezes (SIGSTOP) in
// the middle of 5,000 gets. The gets are issued in-process by a fourth peer (this process) that
// lists the three children, so ~3/4 of them cross to a child and ~1/4 go to the victim; a sample
// also goes through the surviving children's own app routes. Every get must answer the right
// value; the requests given up on at timeoutMs (counted by each client: this process's monitor,
// the children's /metrics) must stay at one wave per backoffMs window, none for a dead peer; and
// the peer must be used again once it is back. Durations are printed, never asserted: the
// machine may be loaded.
import { expect } from 'chai';
import { type GeecacheMiddleware, geecache } from '../../lib/index.js';
import { type ChildHandle, freePort, sleep, startChildPeer, startCluster, stop, until } from '../helpers/index.js';

const TIMEOUT_MS = 1_000;
/** A get at least this slow waited for the bad peer's timeout (an abort never fires early). */
const SLOW_MS = TIMEOUT_MS * 0.9;
const GETS = 5_000;
/** The SIGSTOP run is shorter: it adds two backoff waits of its own. */
const STOP_GETS = 3_000;
const CONCURRENCY = 16;
const SECRET = 'test-secret-0123456789';

const json = async (url: string) => (await fetch(url)).json() as Promise<Record<string, number>>;

/** Polls `check` every 50 ms until it holds (at most `tries` times): waits for a state, not for a time. */

/** The sum of a child's Prometheus samples of `name` whose labels include `labels`. */
async function metric(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const end = line.lastIndexOf('}');
    const have = line.slice(name.length + 1, end);
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(line.slice(end + 1).trim());
  }
  return sum;
}

/** Requests a child gave up on at timeoutMs, to `peer`. */
const childTimeouts = (child: string, peer: string) => metric(child, 'geecache_peer_request_errors_total', { peer, cause: 'timeout' });

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
  const children: ChildHandle[] = [];
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
    /** This process's client of `peer`: whether it skips it, and its counts of requests and failures by cause. */
    const client = (peer: string) => {
      const getter = cache.pool.getters().get(peer);
      if (!getter) throw new Error(`no client of ${peer}`);
      return getter;
    };
    const counts = (peer: string) => {
      const { requests, errors } = client(peer).monitor;
      return { requests, timeout: errors.timeout ?? 0, refused: errors.refused ?? 0 };
    };
    return { cluster, self, group, get, ownerOf, victim, survivors, victimKeys, localRuns, client, counts };
  }

  it('SIGKILL: every get answers without waiting for the dead peer, which is used again once restarted', async function () {
    this.timeout(120_000);
    const BACKOFF_MS = 2_000;
    const { cluster, group, get, ownerOf, victim, survivors, victimKeys, localRuns, client, counts } = await setup(BACKOFF_MS);
    const keys = Array.from({ length: GETS }, (_, i) => `kill-${i}`);
    let victimServed = 0;
    let atKill = counts(victim.url);
    const r = await run(keys, get, async () => {
      victimServed = (await json(`${victim.url}/_test/stats`)).serverRequests;
      atKill = counts(victim.url);
      await stop(victim.process);
    });
    const afterRun = counts(victim.url);

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
    const routeTimeoutsBefore = await Promise.all(survivors.map((u) => childTimeouts(u, victim.url)));
    const viaRoutes = await run(routeKeys, (k) => viaRoute(survivors[routeKeys.indexOf(k) % 2], k), undefined, 8);
    expect(viaRoutes.bad.slice(0, 3), `${viaRoutes.bad.length} route gets failed`).to.deep.equal([]);
    const routeTimeouts = (await Promise.all(survivors.map((u) => childTimeouts(u, victim.url)))).map((n, i) => n - routeTimeoutsBefore[i]);
    const routeRefused = await Promise.all(survivors.map((u) => metric(u, 'geecache_peer_request_errors_total', { peer: victim.url, cause: 'refused' })));
    const routeSlow = viaRoutes.samples.filter((s) => s.ms >= SLOW_MS);
    const windows = 1 + Math.floor((r.end - r.chaosAt) / BACKOFF_MS);
    console.log(
      `      SIGKILL: ${GETS} gets in ${(r.end - r.start).toFixed(0)} ms (${group.stats.peerLoads} from peers), ${afterKill.length} of the dead peer's keys after the kill;` +
        ` ${afterRun.requests - atKill.requests} requests tried it (${afterRun.refused - atKill.refused} refused, ${afterRun.timeout - atKill.timeout} timed out);` +
        ` ${slow.length} gets >= ${SLOW_MS} ms, slowest ${maxMs.toFixed(0)} ms; via survivors' routes: 200 of its keys, ${routeSlow.length} slow, refused [${routeRefused}], timed out [${routeTimeouts}]`,
    );
    // A dead process refuses connections at once: no request to it was given up at timeoutMs, here
    // nor at the survivors; the refusal was seen, and each refusal marks it down, so at most the
    // gets in flight (one wave of CONCURRENCY) tried it per backoffMs window.
    expect(afterRun.timeout - atKill.timeout, 'requests to the dead peer given up at timeoutMs').to.equal(0);
    expect(afterRun.refused - atKill.refused, 'refused connections seen').to.be.at.least(1);
    expect(afterRun.requests - atKill.requests, `requests sent to the dead peer in ${windows} backoff window(s)`).to.be.at.most(windows * CONCURRENCY);
    expect(routeTimeouts, "survivors' requests to it given up at timeoutMs").to.deep.equal([0, 0]);
    for (const [i, n] of routeRefused.entries()) expect(n, `refusals seen by ${survivors[i]}`).to.be.at.least(1);

    // Restart it on the same port. Its keys come from it again as soon as its clients see it up:
    // this process's, and the survivors' (peer_up), each probing it while it is skipped.
    const port = Number(new URL(victim.url).port);
    const reborn = await startChildPeer({ port, self: victim.url, peers: cluster.urls, secret: SECRET, timeoutMs: TIMEOUT_MS, backoffMs: BACKOFF_MS });
    children.push(reborn);
    await until('the restarted peer is used again here', () => !client(victim.url).isDown);
    for (const u of survivors) await until(`${u} uses the restarted peer again`, async () => (await metric(u, 'geecache_peer_up', { peer: victim.url })) === 1);
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

  it('SIGSTOP: gets wait for the frozen peer at most one timeoutMs per backoffMs window, and it is used again after SIGCONT', async function () {
    this.timeout(120_000);
    const BACKOFF_MS = 2_500;
    const { group, get, ownerOf, victim, survivors, victimKeys, localRuns, client, counts } = await setup(BACKOFF_MS);
    const keys = Array.from({ length: STOP_GETS }, (_, i) => `stop-${i}`);
    let victimServed = 0;
    let loadsAtStop: Record<string, number> = {};
    let atStop = counts(victim.url);
    let othersAtStop = survivors.map(counts);
    const r = await run(keys, get, async () => {
      victimServed = (await json(`${victim.url}/_test/stats`)).serverRequests;
      loadsAtStop = await json(`${victim.url}/_test/loads`);
      atStop = counts(victim.url);
      othersAtStop = survivors.map(counts);
      victim.process.kill('SIGSTOP');
    });
    const afterRun = counts(victim.url);

    expect(r.bad.slice(0, 3), `${r.bad.length} gets failed`).to.deep.equal([]);
    expect(victimServed).to.be.greaterThan(STOP_GETS / 8 / 2);
    const afterStop = r.samples.filter((s) => s.start >= r.chaosAt && ownerOf(s.key) === victim.url);
    expect(afterStop.length).to.be.greaterThan(STOP_GETS / 8 / 2);
    // A get that gave up on it loaded locally, once: it never waits for the peer a second time.
    for (const s of afterStop) expect(localRuns.get(s.key) ?? 0, `${s.key} loaded here`).to.be.at.most(1);

    const slow = r.samples.filter((s) => s.ms >= SLOW_MS);
    const slowOfVictim = slow.filter((s) => ownerOf(s.key) === victim.url);
    const list = waves(slowOfVictim);
    const frozenMs = r.end - r.chaosAt;
    // A wave costs at least backoffMs + timeoutMs: the most waves the frozen time had room for.
    const windows = 1 + Math.floor(frozenMs / (BACKOFF_MS + TIMEOUT_MS));
    const maxMs = Math.max(...r.samples.map((s) => s.ms));
    // The freeze costs a timeout (that is what SIGSTOP exercises: the kernel accepts, nobody
    // answers), but only the requests in flight when it is found out pay it: one wave of at most
    // CONCURRENCY per backoff window (one extra wave allowed), counted by the client itself.
    const timedOut = afterRun.timeout - atStop.timeout;
    expect(timedOut, 'requests to the frozen peer given up at timeoutMs').to.be.at.least(1);
    expect(timedOut, `requests given up at timeoutMs in ${windows} backoff window(s)`).to.be.at.most((windows + 1) * CONCURRENCY);
    // The other peers are not dragged in (a loaded machine may stall one for a probe: a wave at most).
    const othersTimedOut = survivors.map((u, i) => counts(u).timeout - othersAtStop[i].timeout);
    expect(
      othersTimedOut.reduce((a, b) => a + b, 0),
      'requests to the other peers given up at timeoutMs',
    ).to.be.at.most(CONCURRENCY);

    // Through the surviving children's routes: each of them pays one wave too, then skips it.
    const routeKeys = victimKeys('stop-route', 100);
    const routeTimeoutsBefore = await Promise.all(survivors.map((u) => childTimeouts(u, victim.url)));
    const viaRoutes = await run(routeKeys, (k) => viaRoute(survivors[routeKeys.indexOf(k) % 2], k), undefined, 4);
    expect(viaRoutes.bad.slice(0, 3), `${viaRoutes.bad.length} route gets failed`).to.deep.equal([]);
    const routeTimeouts = (await Promise.all(survivors.map((u) => childTimeouts(u, victim.url)))).map((n, i) => n - routeTimeoutsBefore[i]);
    const routeWindows = 1 + Math.floor((viaRoutes.end - viaRoutes.start) / (BACKOFF_MS + TIMEOUT_MS));
    const routeSlow = viaRoutes.samples.filter((s) => s.ms >= SLOW_MS);
    for (const [i, n] of routeTimeouts.entries())
      expect(n, `requests ${survivors[i]} gave up on at timeoutMs`)
        .to.be.at.least(1)
        .and.at.most((routeWindows + 1) * 4);

    // Still frozen once the backoff has run out: the next get tries it, gives up at timeoutMs and
    // marks it down again; the get after that does not try it.
    await until('the frozen peer is tried again after backoffMs', () => !client(victim.url).isDown);
    const [probe1, probe2] = victimKeys('stop-probe', 2);
    const beforeRetry = counts(victim.url);
    const retry = await timed(probe1, get);
    expect(retry.ok).to.equal(true);
    const afterRetry = counts(victim.url);
    expect(afterRetry.requests - beforeRetry.requests, 'the retry after backoffMs asked it').to.equal(1);
    expect(afterRetry.timeout - beforeRetry.timeout, 'and gave up on it at timeoutMs').to.equal(1);
    expect(client(victim.url).isDown, 'marked down again').to.equal(true);
    const skipped = await timed(probe2, get);
    expect(skipped.ok).to.equal(true);
    expect(counts(victim.url), 'then skipped for another backoffMs: not asked').to.deep.equal(afterRetry);

    // Thaw it. It answers the probes and is used again at once. (Whether it also serves the
    // requests that queued up while it was frozen depends on whether their bytes reached it before
    // the askers gave up and closed those sockets: the kernel's race, not geecache's, so it is only
    // reported below.)
    const thawedAt = performance.now();
    victim.process.kill('SIGCONT');
    await until('the thawed peer answers a probe', () => !client(victim.url).isDown);
    const loadsThawed = await json(`${victim.url}/_test/loads`);
    const queued = (re: RegExp) => Object.keys(loadsThawed).filter((k) => re.test(k) && !(k in loadsAtStop));
    const fromRun = queued(/^stop-\d+$/);
    const fromRoutes = queued(/^stop-route-\d+$/);
    console.log(
      `      SIGSTOP: ${STOP_GETS} gets in ${(r.end - r.start).toFixed(0)} ms, frozen for the last ${frozenMs.toFixed(0)} ms (${afterStop.length} gets of its keys);` +
        ` ${timedOut} requests given up at timeoutMs; ${fromRun.length} keys it served late; ${slow.length} gets >= ${SLOW_MS} ms (${slowOfVictim.length} of its keys) in ${list.length} wave(s)` +
        ` of [${list.map((w) => w.length).join(', ')}], slowest ${maxMs.toFixed(0)} ms; via survivors' routes: ${fromRoutes.length} keys it served late,` +
        ` timed out [${routeTimeouts}], ${routeSlow.length} slow of 100`,
    );
    // What it served late was sent to it while frozen (not all of it: a batch whose client has
    // hung up is dropped unread), another view of the requests that waited for it.
    expect(fromRun.length, 'keys sent to the frozen peer during the run').to.be.at.most(windows * CONCURRENCY);
    for (const k of fromRun) expect(ownerOf(k)).to.equal(victim.url);
    // Two survivors, 4 gets at a time between them, one wave per backoff window each.
    expect(fromRoutes.length, 'keys the survivors sent to the frozen peer').to.be.at.most(2 * routeWindows * 4);
    expect(loadsThawed[probe2], 'the get after the retry did not reach it').to.equal(undefined);

    // It is up again: its keys are fetched from it, and nothing waits for it.
    const statsBefore = await json(`${victim.url}/_test/stats`);
    const peerLoadsBefore = group.stats.peerLoads;
    const beforeAgain = counts(victim.url);
    const fresh = victimKeys('stop-after', 40);
    const again = await Promise.all(fresh.map((k) => timed(k, get)));
    expect(again.filter((s) => !s.ok)).to.deep.equal([]);
    expect(counts(victim.url).timeout - beforeAgain.timeout, 'requests given up at timeoutMs once thawed').to.equal(0);
    const statsAfter = await json(`${victim.url}/_test/stats`);
    const loads = await json(`${victim.url}/_test/loads`);
    expect(statsAfter.serverRequests - statsBefore.serverRequests, 'requests the thawed peer served').to.equal(fresh.length);
    expect(statsAfter.localLoads - statsBefore.localLoads).to.equal(fresh.length);
    expect(group.stats.peerLoads - peerLoadsBefore).to.equal(fresh.length);
    for (const k of fresh) expect(loads[k], k).to.equal(1);
    console.log(`      SIGSTOP: thawed; ${fresh.length} of its keys fetched from it again ${(performance.now() - thawedAt).toFixed(0)} ms later`);
  });
});
