// Interop with a real golang/groupcache peer (test/go/peer, built from Debian's packaged
// groupcache): a ring of two geecache child peers and one Go peer, all on groupcache's ring
// (50 replicas, crc32) and basePath, without signatures. Skips when Go or Debian's groupcache
// sources are not installed (fails instead under GEECACHE_REQUIRE_ALL, as in CI).
import { expect } from 'chai';
import { ConsistentHashRing } from '../../lib/index.js';
import { decodeGetResponse, encodeGetResponse, encodeSegment } from '../../lib/protocol/wire.js';
import { buildGoPeer, type ChildHandle, freePort, needs, startChildPeer, startGoPeer, stopAll } from '../helpers/index.js';

const BASE = '/_groupcache/';

/** One peer of the mixed ring and where its test routes are. */
interface Peer {
  url: string;
  kind: 'go' | 'geecache';
}

const route = (peer: Peer, name: 'get' | 'loads' | 'owner', key?: string): string => {
  const path = peer.kind === 'go' ? `/${name}` : name === 'get' ? '/get' : `/_test/${name}`;
  return `${peer.url}${path}${key === undefined ? '' : `?key=${encodeURIComponent(key)}`}`;
};

async function text(url: string): Promise<string> {
  const res = await fetch(url);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${body}`);
  return body;
}

/** `fn` over `items`, `limit` at a time (hundreds of fresh sockets at once are slower). */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return out;
}

/** Go's url.QueryEscape, which golang/groupcache's client applies to the group and the key. */
function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll('%20', '+');
}

/** GetResponse{value} as proto2 lays it out, written by hand: tag 0x0a, varint length, bytes. */
function protoBytes(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const len: number[] = [];
  let n = bytes.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([0x0a, ...len]), bytes]);
}

/** Keys whose escaping must survive both clients and both servers. */
const ESCAPING = [
  'a b',
  ' ',
  'two  spaces ',
  'a+b',
  '+',
  'a b+c',
  '1+1=2',
  'a/b',
  'a/b/c',
  'a/',
  'x/ /+',
  '100%',
  '%',
  '%41',
  '%2F',
  '%2B',
  '%20',
  '%zz',
  '%%',
  'a?b',
  '?',
  'a?b=c&d',
  'a#b',
  '#',
  '#frag?q',
  'a&b',
  '&',
  'k=v;x',
  'ünï ✓',
  '🎉',
  'emoji 🙂 in ü',
  '日本語/キー',
  'mix ü+ %?#&/🎉',
  'quotes "\'` <>[]{}|\\^',
  'tab\there',
  `long ${'x'.repeat(200)} ü`,
];

/**
 * Keys Go's own server cannot take (its ServeMux 301-redirects the cleaned path), but ours can;
 * each with variants that keep the trait. '.' and '..' have none: before() picks ports so that
 * a geecache peer owns them.
 */
const GO_SERVER_UNSAFE: [string, (n: number) => string][] = [
  ['/lead', (n) => `/lead-${n}`],
  ['a//b', (n) => `a-${n}//b`],
  ['trail//', (n) => `trail-${n}//`],
  ['./x', (n) => `./x-${n}`],
  ['../x', (n) => `../x-${n}`],
  ['.', () => '.'],
  ['..', () => '..'],
];

describe('interop with a real golang/groupcache peer', function () {
  this.timeout(30_000);
  let children: ChildHandle[] = [];
  let A: Peer;
  let B: Peer;
  let G: Peer;
  /** Every key any peer was asked to load, so stray (mis-decoded) keys show up. */
  const asked = new Set<string>();

  const get = async (peer: Peer, key: string): Promise<string> => {
    asked.add(key);
    return text(route(peer, 'get', key));
  };
  const loads = async (peer: Peer): Promise<Record<string, number>> => JSON.parse(await text(route(peer, 'loads')));
  const owner = (peer: Peer, key: string): Promise<string> => text(route(peer, 'owner', key)).then((s) => s.trim());

  /** `base`, or `vary(n)` for the first n that the Go peer's ring gives to `want`. */
  async function keyOwnedBy(base: string, want: Peer, vary = (n: number) => `${n}-${base}`): Promise<string> {
    for (let n = 0; n < 500; n++) {
      const key = n === 0 ? base : vary(n);
      if (n > 0 && key === base) break;
      if ((await owner(G, key)) === want.url) return key;
    }
    throw new Error(`no variant of ${JSON.stringify(base)} is owned by ${want.url}`);
  }

  before(async function () {
    needs(this, 'go');
    this.timeout(180_000); // a cold Go build cache; later runs only relink
    await buildGoPeer();
    // Ports (so URLs, so the ring) on which geecache peers own '.' and '..', which only the
    // Go → geecache direction can carry (see GO_SERVER_UNSAFE).
    let ports: number[];
    let urls: string[];
    for (let tries = 0; ; tries++) {
      ports = [await freePort(), await freePort(), await freePort()];
      urls = ports.map((p) => `http://127.0.0.1:${p}`);
      const ring = new ConsistentHashRing();
      ring.add(...urls);
      if ((ring.get('.') !== urls[2] && ring.get('..') !== urls[2]) || tries === 100) break;
    }
    [A, B, G] = [
      { url: urls[0], kind: 'geecache' },
      { url: urls[1], kind: 'geecache' },
      { url: urls[2], kind: 'go' },
    ];
    const common = { peers: urls, secret: false as const, basePath: BASE, ring: 'groupcache' as const };
    const started = await Promise.allSettled([
      startChildPeer({ port: ports[0], self: urls[0], ...common }),
      startChildPeer({ port: ports[1], self: urls[1], ...common }),
      startGoPeer({ port: ports[2], self: urls[2], peers: urls }),
    ]);
    children = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  });

  after(() => stopAll(children));

  it('Go and geecache peers agree on the owner of 200 keys', async () => {
    const keys = [...Array.from({ length: 200 - ESCAPING.length }, (_, i) => `key-${i}`), ...ESCAPING];
    const answers = await mapLimit(keys, 4, (k) => Promise.all([owner(A, k), owner(B, k), owner(G, k)]));
    const disagreements = keys.flatMap((k, i) => {
      const [a, b, g] = answers[i];
      return a === g && b === g ? [] : [{ key: k, geecacheA: a, geecacheB: b, go: g }];
    });
    expect(disagreements).to.deep.equal([]);
    // Every peer owns some keys, so the ring really is mixed.
    expect(new Set(answers.map(([, , g]) => g))).to.have.keys(A.url, B.url, G.url);
  });

  it("geecache's ConsistentHashRing matches Go's consistenthash on 20,000 keys", async () => {
    // Collisions of vnode hashes and the last replicas are rare: it takes many keys to see them.
    const keys = Array.from({ length: 20_000 }, (_, i) =>
      i % 3 === 0 ? `k${i}` : i % 3 === 1 ? `ü${i.toString(36)} ✓/${i}` : String.fromCodePoint(0x4e00 + (i % 5000), 0x1f600 + (i % 80), 0x20 + (i % 90)),
    );
    const res = await fetch(`${G.url}/owners`, { method: 'POST', body: JSON.stringify(keys) });
    const goOwners: string[] = await res.json();
    const ring = new ConsistentHashRing();
    ring.add(A.url, B.url, G.url);
    const disagreements = keys.filter((k, i) => ring.get(k) !== goOwners[i]);
    expect(disagreements.slice(0, 10), `${disagreements.length} of ${keys.length} keys differ`).to.deep.equal([]);
  });

  it('a geecache peer fetches a key the Go peer owns from the Go peer, which loads it once', async () => {
    const key = await keyOwnedBy('owned-by-go', G);
    expect(await get(A, key)).to.equal(`value:${key}`);
    expect(await get(B, key)).to.equal(`value:${key}`);
    expect((await loads(G))[key]).to.equal(1);
    expect(await loads(A)).not.to.have.property(key);
    expect(await loads(B)).not.to.have.property(key);
  });

  it('the Go peer fetches keys geecache peers own from those peers, which load them once', async () => {
    for (const peer of [A, B]) {
      const key = await keyOwnedBy('owned-by-node', peer);
      expect(await get(G, key)).to.equal(`value:${key}`);
      expect(await get(G, key)).to.equal(`value:${key}`); // Go's main or hot cache, or the owner's cache
      expect((await loads(peer))[key], `${peer.url}'s loads`).to.equal(1);
      expect(await loads(G)).not.to.have.property(key);
    }
  });

  /**
   * Asks `from` for a variant of every base key owned by one of `owners`; each value must be
   * `value:<key>`, and the owner's getter (only it) must have seen exactly `<key>`.
   */
  async function roundTrip(bases: (string | [string, (n: number) => string])[], from: Peer, owners: Peer[]): Promise<void> {
    const cases = [];
    for (const [i, entry] of bases.entries()) {
      const [base, vary] = typeof entry === 'string' ? [entry, undefined] : entry;
      // Round-robin over owners, but a key without variants goes to whichever owner has it.
      const candidates = [...owners.slice(i % owners.length), ...owners.slice(0, i % owners.length)];
      let found: { key: string; to: Peer } | undefined;
      for (const to of candidates) {
        found = await keyOwnedBy(base, to, vary).then(
          (key) => ({ key, to }),
          () => undefined,
        );
        if (found) break;
      }
      if (!found) throw new Error(`no variant of ${JSON.stringify(base)} is owned by ${owners.map((o) => o.url).join(' or ')}`);
      cases.push(found);
    }
    const problems: string[] = [];
    for (const { key } of cases) {
      const value = await get(from, key);
      if (value !== `value:${key}`) problems.push(`${JSON.stringify(key)} via ${from.kind}: got ${JSON.stringify(value)}`);
    }
    const seen = new Map(await Promise.all([A, B, G].map(async (p) => [p, await loads(p)] as const)));
    for (const { key, to } of cases) {
      if (seen.get(to)![key] !== 1) problems.push(`${JSON.stringify(key)}: owner ${to.kind} ${to.url} loaded it ${seen.get(to)![key] ?? 0} times`);
      if (Object.hasOwn(seen.get(from)!, key)) problems.push(`${JSON.stringify(key)}: ${from.kind} loaded it itself instead of asking ${to.kind}`);
    }
    expect(problems).to.deep.equal([]);
  }

  it('escaping round-trips geecache → Go: space, +, /, %, ?, #, &, unicode, emoji', async () => {
    await roundTrip(ESCAPING, A, [G]);
  });

  it('escaping round-trips Go → geecache: Go sends space as +, and / % ? # & as %XX', async () => {
    await roundTrip(ESCAPING, G, [A, B]);
  });

  it("Go → geecache: keys Go's own server would redirect ('/lead', 'a//b', '.', '..')", async () => {
    await roundTrip(GO_SERVER_UNSAFE, G, [A, B]);
  });

  // Go's ServeMux answers 301 for a path it cleans (/_groupcache/scores//lead → /_groupcache/scores/lead),
  // and WHATWG URL parsing drops '.'/'..' segments before a request leaves. Following the redirect,
  // or sending the cleaned path, would cache another key's value ('/lead' would get "value:lead",
  // '.' "value:"); geecache's client does neither (redirect: 'manual', no plain request for '.'
  // and '..') and loads these keys locally, as Go's own client does.
  it("geecache → Go: keys Go's server redirects are loaded locally, never answered with another key's value", async () => {
    for (const [base, vary] of GO_SERVER_UNSAFE.slice(0, 5)) {
      const key = await keyOwnedBy(base, G, vary);
      expect(await get(A, key), JSON.stringify(key)).to.equal(`value:${key}`);
    }
  });

  it('many concurrent gets from a geecache peer to the Go peer each load once on the Go peer', async () => {
    const keys = await mapLimit(
      Array.from({ length: 24 }, (_, i) => `burst ${i} ü/+`),
      4,
      (base) => keyOwnedBy(base, G),
    );
    const values = await Promise.all(keys.map((k) => get(B, k)));
    expect(values).to.deep.equal(keys.map((k) => `value:${k}`));
    const [g, b] = await Promise.all([loads(G), loads(B)]);
    expect(
      keys.filter((k) => g[k] !== 1),
      'keys the Go peer did not load exactly once',
    ).to.deep.equal([]);
    expect(
      keys.filter((k) => Object.hasOwn(b, k)),
      'keys the geecache peer loaded itself',
    ).to.deep.equal([]);
  });

  it("direct peer requests: Go's answer decodes with decodeGetResponse, and ours is byte-identical to Go's", async () => {
    // Long enough for a two-byte varint length.
    const key = await keyOwnedBy(`direct ü/+ %?#& ${'y'.repeat(150)}`, G);
    asked.add(key);
    const goRes = await fetch(`${G.url}${BASE}scores/${encodeSegment(key)}`);
    const goBody = Buffer.from(await goRes.arrayBuffer());
    expect(goRes.status).to.equal(200);
    expect(goRes.headers.get('content-type')).to.equal('application/x-protobuf');
    expect(Buffer.from(decodeGetResponse(goBody)).toString('utf8')).to.equal(`value:${key}`);
    expect(goBody.equals(protoBytes(`value:${key}`)), 'Go body is GetResponse{value} only').to.equal(true);
    expect(goBody.equals(Buffer.from(encodeGetResponse(Buffer.from(`value:${key}`)))), 'encodeGetResponse matches Go').to.equal(true);

    // The same request as golang/groupcache's client spells it (url.QueryEscape: space as '+'),
    // to a geecache peer: it must answer the same key with the same bytes.
    const ourRes = await fetch(`${A.url}${BASE}${goQueryEscape('scores')}/${goQueryEscape(key)}`);
    const ourBody = Buffer.from(await ourRes.arrayBuffer());
    expect(ourRes.status).to.equal(200);
    expect(ourRes.headers.get('content-type')).to.equal('application/x-protobuf');
    expect(ourBody.equals(goBody), 'geecache body equals Go body').to.equal(true);
    expect((await loads(A))[key], 'the geecache server loaded the exact key').to.equal(1);
  });

  it('no peer ever loaded a key nobody asked for (no mis-decoded keys), and the Go peer never fell back', async () => {
    const stray = (await Promise.all([A, B, G].map(loads))).flatMap((l, i) =>
      Object.keys(l)
        .filter((k) => !asked.has(k))
        .map((k) => `${['A', 'B', 'Go'][i]}: ${JSON.stringify(k)}`),
    );
    expect(stray).to.deep.equal([]);
    const stats = JSON.parse(await text(`${G.url}/stats`));
    expect(stats.peerErrors, 'Go peer errors talking to geecache peers').to.equal(0);
    expect(stats.peerLoads).to.be.greaterThan(0);
  });

  it('removes made at once from a geecache peer: the Go peer refuses each (alone or in a batch, which it answers 400: it then gets single removes), the other geecache peer applies each', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `removed-${i}`);
    for (const key of keys) asked.add(key); // a golang/groupcache peer answers a DELETE as a get: it loads the key
    const reports = await mapLimit(keys, 40, async (key) => JSON.parse(await text(`${A.url}/_test/remove?key=${encodeURIComponent(key)}`)));
    for (const report of reports) {
      expect(report.refused, JSON.stringify(report)).to.deep.equal([G.url]);
      expect([...report.acknowledged].sort()).to.deep.equal([A.url, B.url].sort());
      expect(report.pending).to.deep.equal([]);
    }
  });
});
