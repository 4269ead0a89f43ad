// Drain: a peer that is shutting down answers peers "leaving" (503 + x-geecache-leaving), they
// go to the key's next owner or load locally at once, the peer finishes what it is serving, then
// exits. Child-process peers; user traffic through the fixture's Express route /get.
import { expect } from 'chai';
import { type ChildHandle, freePort, type PeerConfig, sleep, startChildPeer, stopAll } from '../helpers/index.js';

const SECRET = 'drain-test-secret-0123456789';

async function json<T>(url: string): Promise<T> {
  return (await fetch(url)).json() as Promise<T>;
}
const loadsOf = (p: ChildHandle) => json<Record<string, number>>(`${p.url}/_test/loads`);
const membershipOf = (p: ChildHandle) => json<{ leavingAnswers: number; handoffHits: number; ringChecked: number }>(`${p.url}/_test/membership`);
const ownerOf = async (p: ChildHandle, key: string) => (await fetch(`${p.url}/_test/owner?key=${encodeURIComponent(key)}`)).text();

/** Resolves when the child exits; its exit code and signal. */
function exited(p: ChildHandle): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.process.exitCode !== null || p.process.signalCode !== null) return Promise.resolve({ code: p.process.exitCode, signal: p.process.signalCode });
  return new Promise((resolve) => p.process.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Keys `peer`'s ring gives to `owner` (asked of `peer`), `n` of them. */
async function keysOwnedBy(peer: ChildHandle, owner: string, n: number, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; keys.length < n && i < 1000; i++) if ((await ownerOf(peer, `${prefix}${i}`)) === owner) keys.push(`${prefix}${i}`);
  expect(keys).to.have.length(n);
  return keys;
}

describe('drain: a peer leaving on SIGTERM', function () {
  this.timeout(60_000);
  let peers: ChildHandle[] = [];
  afterEach(async () => {
    await stopAll(peers);
    peers = [];
  });

  async function cluster(n: number, extra: Partial<PeerConfig>): Promise<{ configs: PeerConfig[]; urls: string[] }> {
    const ports = await Promise.all(Array.from({ length: n }, freePort));
    const urls = ports.map((p) => `http://127.0.0.1:${p}`);
    const configs = ports.map((port, i) => ({ port, self: urls[i], peers: urls, secret: SECRET, drainOnSigterm: true, backoffMs: 1_000, ...extra }));
    peers = await Promise.all(configs.map((c) => startChildPeer(c)));
    return { configs, urls };
  }

  it('finishes the get it is serving, answers new ones "leaving", and the asker loads them at once', async () => {
    const { configs, urls } = await cluster(2, { getterDelayMs: 400 });
    const [a, b] = peers;
    const [inFlight, ...later] = await keysOwnedBy(a, urls[1], 4, 'drain-');
    // A get B is serving (its getter takes 400 ms) when SIGTERM arrives.
    const first = fetch(`${a.url}/get?key=${inFlight}`).then(async (r) => [r.status, await r.text()]);
    // Signal B only once the get reached it (its getter then runs for 400 ms).
    for (let i = 0; i < 200; i++) {
      if ((await json<{ serverRequests: number }>(`${b.url}/_test/stats`)).serverRequests > 0) break;
      await sleep(10);
    }
    b.process.kill('SIGTERM');
    // Once B has taken the signal (its health says it is not serving, or it is gone): a bounded poll, not a fixed wait.
    for (let i = 0; i < 400; i++) {
      const serving = await json<{ serving: boolean }>(`${b.url}/_test/health`).then(
        (h) => h.serving,
        () => false,
      );
      if (!serving) break;
      await sleep(25);
    }
    // Gets started after the signal: B answers "leaving", A loads them itself.
    const results = await Promise.all(
      later.map(async (k) => [k, (await fetch(`${a.url}/get?key=${k}`)).status, await (await fetch(`${a.url}/get?key=${k}`)).text()]),
    );
    expect(await first, 'the get in flight at B completed with its value').to.deep.equal([200, `value:${inFlight}`]);
    for (const [k, status, text] of results) expect([status, text]).to.deep.equal([200, `value:${k}`]);
    const aLoads = await loadsOf(a);
    expect(aLoads[inFlight], 'B ran the getter for the get in flight, not A').to.equal(undefined);
    for (const k of later) expect(aLoads[k], `${k} loaded by A`).to.equal(1);
    expect((await membershipOf(a)).leavingAnswers).to.be.at.least(1);
    expect(a.output(), 'a leaving peer is not a failure').not.to.include('[warn]');
    const exit = await exited(b);
    expect(exit.signal, 'after the drain, SIGTERM ends the process').to.equal('SIGTERM');

    // B comes back on the same address: once its "leaving" pause is over, A gives it its keys again.
    peers[1] = await startChildPeer(configs[1]);
    let servedByB = false;
    const back = await keysOwnedBy(a, urls[1], 60, 'back-');
    for (let i = 0; i < back.length && !servedByB; i++) {
      const k = back[i];
      expect((await fetch(`${a.url}/get?key=${k}`)).status).to.equal(200);
      servedByB = (await loadsOf(peers[1]))[k] === 1;
      if (!servedByB) await sleep(100);
    }
    expect(servedByB, 'the restarted peer owns keys again').to.equal(true);
  });

  it('rolling restart of 1 of 3 peers under user traffic: no user request fails', async () => {
    const { configs } = await cluster(3, { getterDelayMs: 20 });
    const [a, b] = peers;
    let stop = false;
    const failures: string[] = [];
    let answered = 0;
    const worker = async (w: number) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const via = (w + i) % 2 === 0 ? a : b;
        const key = `user-${(w * 7919 + i * 104729) % 400}`;
        try {
          const res = await fetch(`${via.url}/get?key=${key}`);
          const text = await res.text();
          if (res.status !== 200 || text !== `value:${key}`) failures.push(`${via.url} ${key}: ${res.status} ${text}`);
          else answered++;
        } catch (err) {
          failures.push(`${via.url} ${key}: ${(err as Error).message}`);
        }
      }
    };
    const traffic = Array.from({ length: 6 }, (_, w) => worker(w));
    await sleep(500);
    const before = answered;
    peers[2].process.kill('SIGTERM');
    await exited(peers[2]);
    peers[2] = await startChildPeer(configs[2]);
    // Until the restarted peer serves again (its keys go back to it after the "leaving" pause).
    for (let i = 0; i < 100; i++) {
      const stats = await json<{ serverRequests: number }>(`${peers[2].url}/_test/stats`);
      if (stats.serverRequests > 0) break;
      await sleep(100);
    }
    await sleep(300);
    stop = true;
    await Promise.all(traffic);
    expect(failures, 'failed user requests').to.deep.equal([]);
    expect(answered - before, 'traffic kept flowing through the restart').to.be.greaterThan(50);
    const leaving = (await membershipOf(a)).leavingAnswers + (await membershipOf(b)).leavingAnswers;
    expect(leaving, 'the drain was seen by the askers').to.be.at.least(1);
    expect((await json<{ serverRequests: number }>(`${peers[2].url}/_test/stats`)).serverRequests, 'the restarted peer serves again').to.be.greaterThan(0);
  });
});
