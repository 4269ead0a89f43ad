// Peers whose rings disagree: one peer knows another as http://localhost:P while that peer calls
// itself http://127.0.0.1:P, so the rings hash different strings and pick different owners for
// some keys — including keys that A thinks B owns while B thinks A owns. golang/groupcache
// forwards a peer's request onward and can pass such a key back and forth until a timeout;
// geecache's getForPeer never forwards, so every get completes, crossing at most two peers.

import { expect } from 'chai';
import type { GroupStats } from '../../lib/index.js';
import { closePeers, type InProcessPeer, sleep, startInProcessPeers } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';
const KEYS = 300;

type Peer = InProcessPeer & { name: string; loads: Map<string, number> };

describe('peers whose rings disagree (localhost vs 127.0.0.1)', function () {
  // A request passed back and forth would hang (timeoutMs is long, and a peer that answers probes
  // is waited for): the test's timeout catches that; the counts below show the hops, not the time.
  this.timeout(60_000);
  const peers: Peer[] = [];
  const stats = (p: Peer): GroupStats => ({ ...p.cache.group('scores').stats });
  const outgoing = (s: GroupStats) => s.peerLoads + s.peerErrors;
  /** The peer a URL as written in some peer list points at. */
  const byUrl = (url: string) => peers.find((p) => p.port === Number(new URL(url).port))!;
  const ownerOf = (asker: Peer, key: string) => byUrl(asker.cache.pool.ownerOf(key)!);

  before(async () => {
    const names = ['A', 'B', 'C'];
    const loads = names.map(() => new Map<string, number>());
    // A knows B as localhost; C knows A as localhost; B uses 127.0.0.1 throughout.
    const localhost = (url: string) => url.replace('127.0.0.1', 'localhost');
    const lists = ([a, b, c]: string[]): string[][] => [
      [a, localhost(b), c],
      [a, b, c],
      [localhost(a), b, c],
    ];
    const started = await startInProcessPeers(
      3,
      (self, urls, i) => ({
        self,
        peers: lists(urls)[i],
        secret: SECRET,
        // Long enough that a request passed back and forth would hang the test, not time out into a fallback.
        timeoutMs: 20_000,
        groups: {
          scores: {
            maxBytes: 8 << 20,
            hotCacheFraction: 0,
            getter: async (key) => {
              loads[i].set(key, (loads[i].get(key) ?? 0) + 1);
              await sleep(5);
              return `value:${key}`;
            },
          },
        },
      }),
      { setup: (peer, i) => peer.app.get('/health', (_req, res) => res.send(names[i])) },
    );
    peers.push(...started.map((p, i) => ({ ...p, name: names[i], loads: loads[i] })));
    const [a, b] = peers.map((p) => p.port);
    // The localhost spelling must reach the same server (it resolves to ::1 first on some hosts;
    // Node tries both families).
    for (const [name, port] of [
      ['B', b],
      ['A', a],
    ] as const) {
      const res = await fetch(`http://localhost:${port}/health`).catch((err: Error) => err);
      if (res instanceof Error || (await res.text()) !== name) throw new Error(`http://localhost:${port} does not reach peer ${name}: ${String(res)}`);
    }
  });

  after(() => closePeers(peers));

  it('really disagrees, including keys two peers each think the other owns', () => {
    const [A, B, C] = peers;
    const keys = Array.from({ length: KEYS }, (_, i) => `k-${i}`);
    const disagree = keys.filter((k) => new Set(peers.map((p) => ownerOf(p, k))).size > 1);
    const pingPongAB = keys.filter((k) => ownerOf(A, k) === B && ownerOf(B, k) === A);
    const pingPongCA = keys.filter((k) => ownerOf(C, k) === A && ownerOf(A, k) === C);
    console.log(
      `      ${disagree.length} of ${KEYS} keys have owners that depend on whom you ask; ${pingPongAB.length} bounce A<->B, ${pingPongCA.length} bounce A<->C`,
    );
    expect(disagree.length).to.be.greaterThan(KEYS / 10);
    expect(pingPongAB.length).to.be.greaterThan(0);
    expect(pingPongCA.length).to.be.greaterThan(0);
  });

  for (const entry of ['A', 'B', 'C']) {
    it(`gets sent only to ${entry} cross at most one more peer: the peers it asks never ask anyone`, async () => {
      const asker = peers.find((p) => p.name === entry)!;
      const others = peers.filter((p) => p !== asker);
      const keys = Array.from({ length: KEYS }, (_, i) => `only-${entry}-${i}`);
      const before = new Map(peers.map((p) => [p, stats(p)]));
      const values = await Promise.all(keys.map((k) => asker.cache.group('scores').get(k)));
      expect(values.map(String)).to.deep.equal(keys.map((k) => `value:${k}`));
      const delta = (p: Peer, field: keyof GroupStats) => stats(p)[field] - before.get(p)![field];
      const remote = keys.filter((k) => ownerOf(asker, k) !== asker);
      // The asker fetched exactly the keys its ring puts elsewhere, and nothing failed.
      expect(delta(asker, 'peerLoads')).to.equal(remote.length);
      expect(delta(asker, 'peerErrors')).to.equal(0);
      expect(delta(asker, 'serverRequests')).to.equal(0);
      for (const p of others) {
        // Each key went to the peer the asker's ring named, even where that peer's own ring
        // names someone else...
        const sent = remote.filter((k) => ownerOf(asker, k) === p);
        expect(delta(p, 'serverRequests'), `requests ${p.name} served`).to.equal(sent.length);
        for (const k of sent) expect(p.loads.get(k), `${k} loaded by ${p.name}`).to.equal(1);
        // ...which loaded it itself instead of passing it on: no third hop.
        expect(outgoing(stats(p)) - outgoing(before.get(p)!), `requests ${p.name} sent`).to.equal(0);
      }
      // Every key was loaded exactly once in the cluster.
      for (const k of keys)
        expect(
          peers.reduce((n, p) => n + (p.loads.get(k) ?? 0), 0),
          k,
        ).to.equal(1);
    });
  }

  it('answers 900 concurrent gets (300 keys via all three peers at once) with no deadlock and no failure', async () => {
    const keys = Array.from({ length: KEYS }, (_, i) => `all-${i}`);
    const before = new Map(peers.map((p) => [p, stats(p)]));
    const start = performance.now();
    const gets = keys.flatMap((k) => peers.map(async (p) => [k, String(await p.cache.group('scores').get(k))]));
    const values = await Promise.all(gets);
    const ms = performance.now() - start;
    for (const [k, v] of values) expect(v).to.equal(`value:${k}`);
    const deltas = peers.map((p) => {
      const s = stats(p);
      const b = before.get(p)!;
      return { name: p.name, served: s.serverRequests - b.serverRequests, sent: outgoing(s) - outgoing(b), errors: s.peerErrors - b.peerErrors };
    });
    console.log(`      900 gets in ${ms.toFixed(0)} ms; ${deltas.map((d) => `${d.name} sent ${d.sent}, served ${d.served}`).join('; ')}`);
    for (const d of deltas) expect(d.errors, `peer errors at ${d.name}`).to.equal(0);
    // Every request sent was served once, and every request served was sent by a client get:
    // the sum of requests sent is at most the gets whose asker's ring names another peer.
    expect(deltas.reduce((n, d) => n + d.served, 0)).to.equal(deltas.reduce((n, d) => n + d.sent, 0));
    const remoteGets = keys.reduce((n, k) => n + peers.filter((p) => ownerOf(p, k) !== p).length, 0);
    expect(deltas.reduce((n, d) => n + d.sent, 0)).to.be.at.most(remoteGets);
    // A bouncing key is loaded by both peers that think the other owns it, never more than by all three.
    for (const k of keys)
      expect(
        peers.reduce((n, p) => n + (p.loads.get(k) ?? 0), 0),
        k,
      ).to.be.within(1, 3);
  });
});
