// The client transport between peers (lib/client/httpgetter.ts) and the streamed batch answer
// (lib/server/peerserver.ts), against real child-process peers: a slow load does not take a healthy
// owner out, a slow key does not hold its batch, a recovered peer is used again at once.
import { expect } from 'chai';
import { type ChildHandle, sleep, startCluster, stopAll } from '../helpers/index.js';

// Generous for a loaded machine: a peer that cannot answer a probe within it counts as down.
const TIMEOUT_MS = 1_000;
/** Over three times timeoutMs: an asker that gives up after timeoutMs would load these itself. */
const SLOW_MS = 3_500;

const json = async <T = Record<string, number>>(url: string) => (await fetch(url)).json() as Promise<T>;
const text = async (url: string) => (await fetch(url)).text();
const getVia = (peer: string, key: string) => text(`${peer}/get?key=${encodeURIComponent(key)}`);
const ownerOf = (peer: string, key: string) => text(`${peer}/_test/owner?key=${encodeURIComponent(key)}`);

/** `n` keys `${prefix}<i>` that `owner` owns (asked of `peer`). */
async function keysOwnedBy(peer: string, owner: string, prefix: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; out.length < n && i < 2_000; i++) if ((await ownerOf(peer, `${prefix}${i}`)) === owner) out.push(`${prefix}${i}`);
  expect(out.length).to.equal(n);
  return out;
}

/** Loads per key on each peer, summed over the cluster, for `keys`. */
async function loadsOf(urls: string[], keys: string[]): Promise<{ perPeer: Record<string, number>[]; total: Record<string, number> }> {
  const perPeer = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
  const total: Record<string, number> = {};
  for (const k of keys) total[k] = perPeer.reduce((n, loads) => n + (loads[k] ?? 0), 0);
  return { perPeer, total };
}

describe('transport: slow loads and slow keys (child processes)', function () {
  this.timeout(30_000);
  let urls: string[];
  let peers: ChildHandle[];

  before(async () => {
    ({ urls, peers } = await startCluster(3, { timeoutMs: TIMEOUT_MS, slowGetterMs: SLOW_MS }));
    // Warm every peer's routes and connections, so a cold start does not pass for a slow peer.
    await Promise.all(urls.flatMap((u) => Array.from({ length: 6 }, (_, i) => getVia(u, `warm-${i}`))));
  });
  after(() => stopAll(peers));

  it('a getter slower than timeoutMs: askers wait for the busy owner, which loads the key once and is not marked down', async () => {
    const [a, b, c] = urls;
    const [slowKey] = await keysOwnedBy(a, b, 'slow:busy-', 1);
    // A stampede of the cold slow key through all three peers' routes, the owner's included.
    const gets = Array.from({ length: 30 }, (_, i) => getVia(urls[i % 3], slowKey));
    expect(await Promise.all(gets)).to.deep.equal(gets.map(() => `value:${slowKey}`));
    const { perPeer, total } = await loadsOf(urls, [slowKey]);
    expect(total[slowKey], 'getter runs in the cluster').to.equal(1);
    expect(perPeer[1][slowKey], 'run by the owner').to.equal(1);
    for (const u of [a, c]) expect((await json(`${u}/_test/stats`)).peerErrors, `failed peer fetches on ${u}`).to.equal(0);
    // The owner was not marked down: its other keys are still fetched from it, not loaded here.
    const fresh = await keysOwnedBy(a, b, 'after-busy-', 10);
    expect(await Promise.all(fresh.map((k) => getVia(a, k)))).to.deep.equal(fresh.map((k) => `value:${k}`));
    const after = await loadsOf(urls, fresh);
    for (const k of fresh) {
      expect(after.perPeer[1][k], `${k} loaded by its owner`).to.equal(1);
      expect(after.total[k], `${k} loaded once`).to.equal(1);
    }
  });
});

describe('transport: a slow key in a batch (child processes)', function () {
  this.timeout(30_000);
  let urls: string[];
  let peers: ChildHandle[];

  before(async () => {
    // The slow key stays within timeoutMs here: what is measured is the batch, not the timeout.
    ({ urls, peers } = await startCluster(3, { timeoutMs: 3_000, slowGetterMs: 1_000 }));
  });
  after(() => stopAll(peers));

  it('one slow key does not hold the fast keys of its batch: each resolves as its result arrives, none is loaded twice', async () => {
    const [a, b] = urls;
    const [slowKey] = await keysOwnedBy(a, b, 'slow:hol-', 1);
    const fast = await keysOwnedBy(a, b, 'fast-hol-', 19);
    const keys = [slowKey, ...fast]; // the slow key first: in request order it would be answered first
    const served = (await json(`${b}/_test/stats`)).serverRequests;
    const { order, values } = await json<{ order: string[]; values: string[] }>(`${a}/multi?keys=${encodeURIComponent(JSON.stringify(keys))}`);
    expect(values).to.deep.equal(keys.map((k) => `value:${k}`));
    expect(order.at(-1), 'the slow key resolved last').to.equal(slowKey);
    expect(order.slice(0, 19).sort(), 'every fast key resolved before it').to.deep.equal([...fast].sort());
    const { perPeer, total } = await loadsOf(urls, keys);
    for (const k of keys) {
      expect(total[k], `${k} loaded once in the cluster`).to.equal(1);
      expect(perPeer[1][k], `${k} loaded by its owner`).to.equal(1);
    }
    expect((await json(`${b}/_test/stats`)).serverRequests - served, 'gets the owner served').to.equal(keys.length);
  });
});

describe('transport: a peer that answers again is used again at once (half-open)', function () {
  this.timeout(30_000);
  let urls: string[];
  let peers: ChildHandle[];

  before(async () => {
    // A backoff far longer than the test: only probing can bring the peer back in time.
    ({ urls, peers } = await startCluster(2, { timeoutMs: TIMEOUT_MS, backoffMs: 120_000 }));
  });
  after(async () => {
    for (const p of peers) if (p.process.exitCode === null) p.process.kill('SIGCONT');
    await stopAll(peers);
  });

  it('SIGSTOP marks it down; after SIGCONT its keys are fetched from it again long before backoffMs', async () => {
    const [a, b] = urls;
    const frozenKeys = await keysOwnedBy(a, b, 'frozen-', 2);
    const probes = await keysOwnedBy(a, b, 'thawed-', 40);
    const after = await keysOwnedBy(a, b, 'used-again-', 10);
    peers[1].process.kill('SIGSTOP');
    // Times out on the frozen owner, loads locally, marks it down; the next get skips it.
    for (const k of frozenKeys) expect(await getVia(a, k)).to.equal(`value:${k}`);
    const loadsA = await json(`${a}/_test/loads`);
    for (const k of frozenKeys) expect(loadsA[k], `${k} loaded by the asker`).to.equal(1);
    peers[1].process.kill('SIGCONT');
    // Gets of its keys, one every 100 ms, until one is fetched from it (bounded: 40 tries).
    let reached = -1;
    for (let i = 0; i < probes.length && reached < 0; i++) {
      await getVia(a, probes[i]);
      if ((await json(`${b}/_test/loads`))[probes[i]] === 1) reached = i;
      else await sleep(100);
    }
    expect(reached, 'a get after SIGCONT reached the thawed peer').to.be.at.least(0);
    // And from then on, every one of its keys comes from it.
    expect(await Promise.all(after.map((k) => getVia(a, k)))).to.deep.equal(after.map((k) => `value:${k}`));
    const [la, lb] = await Promise.all([json(`${a}/_test/loads`), json(`${b}/_test/loads`)]);
    for (const k of after) {
      expect(lb[k], `${k} loaded by its owner`).to.equal(1);
      expect(la[k], `${k} not loaded by the asker`).to.equal(undefined);
    }
  });
});
