// Membership that follows DNS, end to end: child-process peers on 127.0.0.2, 127.0.0.3, … find
// each other through a real dnsmasq. Change the records, and every peer's ring converges to the
// same list; a bad answer keeps the last good ring; a peer that dies is dropped as soon as a get
// to it fails (no wait for the next interval).
import { expect } from 'chai';
import { type ChildHandle, Dnsmasq, freePort, needs, sleep, startChildPeer, stop, stopAll } from '../helpers/index.js';

const SECRET = 'discovery-cluster-secret-0123';
const NAME = 'peers.test';

interface PeersView {
  self: string;
  peers: string[];
  discovery: { lookups: number; failures: number; changes: number; lastError?: string };
}

async function view(peer: ChildHandle): Promise<PeersView> {
  return (await fetch(`${peer.url}/_test/peers`)).json() as Promise<PeersView>;
}

/** Polls every peer until its ring is `want` (bounded, no timing assertion). */
async function converge(peers: ChildHandle[], want: string[]): Promise<void> {
  let last: PeersView[] = [];
  for (let i = 0; i < 300; i++) {
    last = await Promise.all(peers.map(view));
    if (last.every((v) => JSON.stringify(v.peers) === JSON.stringify(want))) return;
    await sleep(50);
  }
  expect.fail(`rings did not converge to ${JSON.stringify(want)}: ${JSON.stringify(last.map((v) => [v.self, v.peers]))}`);
}

async function get(peer: ChildHandle, key: string): Promise<string> {
  const res = await fetch(`${peer.url}/get?key=${encodeURIComponent(key)}`);
  const text = await res.text();
  expect(res.status, `GET ${key} from ${peer.url}: ${text}`).to.equal(200);
  return text;
}

async function totalLoads(peers: ChildHandle[]): Promise<Record<string, number>> {
  const all: Record<string, number> = {};
  for (const p of peers) {
    const loads = (await (await fetch(`${p.url}/_test/loads`)).json()) as Record<string, number>;
    for (const [k, n] of Object.entries(loads)) all[k] = (all[k] ?? 0) + n;
  }
  return all;
}

describe('discovery: child peers following a real dnsmasq', function () {
  this.timeout(90_000);
  let dns: Dnsmasq;
  let port: number;
  let peers: ChildHandle[] = [];
  const url = (n: number) => `http://127.0.0.${n}:${port}`;
  const start = (n: number, intervalMs: number) =>
    startChildPeer({ port, host: `127.0.0.${n}`, self: url(n), secret: SECRET, peers: { dns: NAME, port, resolver: dns.address, intervalMs } });

  before(function () {
    needs(this, 'dnsmasq');
  });
  beforeEach(async () => {
    port = await freePort();
    dns = await Dnsmasq.start({ a: { [NAME]: ['127.0.0.2', '127.0.0.3'] } });
  });
  afterEach(async () => {
    await stopAll(peers);
    peers = [];
    await dns?.stop();
  });

  it('every ring converges on each change; keys load once across the cluster; a bad answer keeps the last good ring', async () => {
    peers = await Promise.all([2, 3, 4].map((n) => start(n, 150)));
    const [p2, p3, p4] = peers;
    await converge([p2, p3], [url(2), url(3)]);
    // Not in DNS yet: it keeps itself in its own ring.
    await converge([p4], [url(2), url(3), url(4)]);

    await dns.update({ a: { [NAME]: ['127.0.0.4', '127.0.0.3', '127.0.0.2'] } });
    await converge(peers, [url(2), url(3), url(4)]);

    // With one ring everywhere, each key is loaded once for the whole cluster, whoever is asked.
    const keys = Array.from({ length: 30 }, (_, i) => `key-${i}`);
    for (const [i, key] of keys.entries()) expect(await get(peers[i % 3], key)).to.equal(`value:${key}`);
    for (const [i, key] of keys.entries()) await get(peers[(i + 1) % 3], key);
    const loads = await totalLoads(peers);
    expect(
      keys.filter((k) => loads[k] !== 1),
      'keys loaded more than once',
    ).to.deep.equal([]);

    // The name stops resolving: every peer reports it and keeps its ring.
    const before = await Promise.all(peers.map(view));
    await dns.update({ a: { [NAME]: [] } });
    for (const [i, p] of peers.entries()) {
      for (let tries = 0; tries < 300; tries++) {
        const v = await view(p);
        if (v.discovery.failures > before[i].discovery.failures) break;
        await sleep(50);
      }
      const v = await view(p);
      expect(v.discovery.lastError, p.url).to.match(/ENOTFOUND.*keeping the last good list of 3 peers/);
      expect(v.peers).to.deep.equal([url(2), url(3), url(4)]);
      expect(p.output()).to.match(/\[warn\] geecache: peer discovery \(dns peers\.test:\d+\) failed/);
    }

    // Scale down: 127.0.0.4 leaves DNS, then stops.
    await dns.update({ a: { [NAME]: ['127.0.0.2', '127.0.0.3'] } });
    await converge([p2, p3], [url(2), url(3)]);
    await stop(p4.process);
    for (const key of keys) expect(await get(peers[keys.indexOf(key) % 2], key)).to.equal(`value:${key}`);
  });

  it('a peer that dies is dropped when a get to it fails, before the next interval', async () => {
    await dns.update({ a: { [NAME]: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] } });
    // An hour between lookups: only a failing peer can make them ask again.
    peers = await Promise.all([2, 3, 4].map((n) => start(n, 3_600_000)));
    const [p2, p3, p4] = peers;
    await converge(peers, [url(2), url(3), url(4)]);
    await dns.update({ a: { [NAME]: ['127.0.0.2', '127.0.0.3'] } });
    await stop(p4.process);

    // User traffic through p2 keeps being answered; the gets to the dead owner make p2 ask DNS again.
    let i = 0;
    for (; i < 200; i++) {
      const key = `k${i}`;
      expect(await get(p2, key)).to.equal(`value:${key}`);
      if (JSON.stringify((await view(p2)).peers) === JSON.stringify([url(2), url(3)])) break;
      await sleep(20);
    }
    expect((await view(p2)).peers, 'p2 dropped the dead peer').to.deep.equal([url(2), url(3)]);
    // p3 asked nobody dead: it still has the old ring until its own gets fail or its interval.
    expect((await view(p3)).discovery.lookups).to.equal(1);
  });
});
