// Removes bound for one peer travel together: a loop of removes reaches each other peer in a few
// requests (counted at the receiving servers), each report still says what became of its own
// remove, a peer that refuses batches gets single writes, a batch is refused when replayed, a stale
// item in it does not hold back the others, and a peer whose writer dropped writes meant for it
// (it had left that writer's ring) drops what it holds. Real peers on loopback.
import http from 'node:http';
import { expect } from 'chai';
import type { GeecacheOptions, InvalidationReport } from '../../lib/index.js';
import { digestOf, RequestSigner } from '../../lib/protocol/auth.js';
import { AUTH_HEADER, DIGEST_HEADER } from '../../lib/protocol/headers.js';
import { sequencedNonce, WRITE_HEADER, writeHeader } from '../../lib/protocol/writeheader.js';
import { decodeWriteBatch, decodeWriteResults, encodeWriteBatch, encodeWriteResults, WRITES_CONTENT_TYPE } from '../../lib/protocol/writewire.js';
import { closePeers, type InProcessPeer, listen, startInProcessPeers } from '../helpers/index.js';

const SECRET = 'write-batch-secret-0123456789';
const BASE = '/_geecache/';

/** The peer requests a server received: method, path and content type. */
type Seen = { method: string; path: string; type: string | undefined };

function counting(server: http.Server): Seen[] {
  const seen: Seen[] = [];
  server.prependListener('request', (req: http.IncomingMessage) => {
    const path = (req.url ?? '').split('?')[0];
    if (path.startsWith(BASE)) seen.push({ method: req.method ?? '', path, type: req.headers['content-type'] });
  });
  return seen;
}
const writes = (seen: Seen[]) => seen.filter((s) => s.method === 'DELETE' || s.method === 'PUT');

describe('batched writes (real peers on loopback)', function () {
  this.timeout(30_000);
  let peers: InProcessPeer[] = [];
  let seen: Seen[][] = [];
  let warnings: string[] = [];
  const options = (self: string, urls: string[]): GeecacheOptions => ({
    self,
    peers: urls,
    secret: SECRET,
    logger: { info() {}, warn: (m: string) => warnings.push(m), error() {} },
    groups: { scores: { maxBytes: 1 << 20, getter: (key: string) => `value:${key}` } },
  });

  beforeEach(async () => {
    warnings = [];
    peers = await startInProcessPeers(4, (self, urls) => options(self, urls), { attach: true });
    seen = peers.map((p) => counting(p.server));
  });
  afterEach(() => closePeers(peers));

  const group = (i: number) => peers[i].cache.group('scores');

  it('1,000 removes from one peer reach each other peer in a few requests, and every report acknowledges its remove on every peer', async () => {
    const keys = Array.from({ length: 1000 }, (_, k) => `key-${k}`);
    // Every peer holds each key (owned or a copy), so a remove that did not arrive would show.
    await Promise.all(keys.map((key) => group(0).get(key)));
    for (const s of seen) s.length = 0;
    const reports = await Promise.all(keys.map((key) => group(0).remove(key)));
    for (const report of reports) {
      expect(report.pending).to.deep.equal([]);
      expect(report.refused).to.deep.equal([]);
      expect([...report.acknowledged].sort()).to.deep.equal(peers.map((p) => p.url).sort());
    }
    for (let i = 1; i < peers.length; i++) {
      const received = writes(seen[i]);
      // One from the owner phase (each peer owns some keys), one with the others' removes: they fan out together.
      expect(received.length, `write requests peer ${i} received`).to.be.within(1, 3);
      expect(
        received.some((r) => r.type === WRITES_CONTENT_TYPE),
        'at least one was a batch',
      ).to.equal(true);
    }
    for (let i = 0; i < peers.length; i++) for (const key of keys.slice(0, 50)) expect(group(i).peek(key), `peer ${i} ${key}`).to.equal(undefined);
  });

  it('a peer that left a writer’s ring while that writer made no write keeps every value it holds when it comes back', async () => {
    const urls = peers.map((p) => p.url);
    await group(0).remove('first'); // peer 1 now knows peer 0's stream of writes
    const held = Array.from({ length: 20 }, (_, k) => `held-${k}`);
    await Promise.all(held.map((key) => group(1).get(key)));
    // Peer 1 leaves peer 0's ring and comes back (a drain, a flap of discovery): nothing was written meanwhile.
    peers[0].cache.pool.set(...urls.filter((u) => u !== urls[1]));
    peers[0].cache.pool.set(...urls);
    await group(0).remove('after');
    expect(group(1).stats.writeGaps).to.equal(0);
    expect(held.filter((key) => group(1).peek(key) === undefined)).to.deep.equal([]);
  });

  it('a remove alone travels as the plain DELETE of its key', async () => {
    const report = await group(0).remove('alone');
    expect(report.acknowledged).to.have.length(4);
    for (let i = 1; i < peers.length; i++) expect(writes(seen[i])).to.deep.equal([{ method: 'DELETE', path: `${BASE}scores/alone`, type: undefined }]);
  });

  it('a peer whose writer dropped writes meant for it (it had left that writer’s ring and came back) drops every value it holds, owned and copies, once, and warns', async () => {
    const urls = peers.map((p) => p.url);
    await group(0).remove('first'); // peer 1 now knows peer 0's stream of writes
    const held = Array.from({ length: 20 }, (_, k) => `held-${k}`);
    await Promise.all(held.map((key) => group(1).get(key)));
    expect(held.filter((key) => group(1).peek(key) !== undefined)).to.have.length(20);
    // Peer 1 leaves peer 0's ring; a remove made meanwhile never reaches it; it comes back.
    peers[0].cache.pool.set(...urls.filter((u) => u !== urls[1]));
    await group(0).remove(held[0]);
    expect(group(1).peek(held[0]), 'peer 1 missed the remove').to.not.equal(undefined);
    peers[0].cache.pool.set(...urls);
    await group(0).remove('after');
    expect(
      held.filter((key) => group(1).peek(key) !== undefined),
      'values peer 1 still holds',
    ).to.deep.equal([]);
    expect(group(1).stats.writeGaps).to.equal(1);
    expect(warnings.filter((w) => /dropped writes meant for this one/.test(w))).to.have.length(1);
    // The numbers go on from there: no further gap.
    await group(1).get(held[1]);
    await group(0).remove('later');
    expect(group(1).stats.writeGaps).to.equal(1);
    expect(group(1).peek(held[1])).to.not.equal(undefined);
    for (const i of [2, 3]) expect(group(i).stats.writeGaps, `peer ${i}`).to.equal(0);
  });

  describe('a batch sent by hand', () => {
    const signer = new RequestSigner(SECRET);
    let stream = 0;
    /** A signed WriteBatch request to peer 1, its nonce the next of a fresh stream. */
    const batchTo = (items: Parameters<typeof encodeWriteBatch>[0]) => {
      const body = Buffer.from(encodeWriteBatch(items));
      const url = `${peers[1].url}${BASE}`;
      const write = writeHeader(0, sequencedNonce({ stream: (0xabc000000000 + stream++).toString(16).padStart(15, '0'), seq: 1, attempt: 0 }));
      const headers = {
        'content-type': WRITES_CONTENT_TYPE,
        [WRITE_HEADER]: write,
        [DIGEST_HEADER]: digestOf(body),
        [AUTH_HEADER]: signer.sign('DELETE', url, Date.now(), body, { write }),
      };
      return () => fetch(url, { method: 'DELETE', headers, body });
    };

    it('applies each item for itself: a stale one is answered 409 with the newer version, the others are applied', async () => {
      await Promise.all(['a', 'b', 'c'].map((key) => group(1).get(key)));
      const clock = group(1).writeOrder.clock;
      const old = clock.next();
      await group(1).remove('a'); // a newer write of 'a' applied on peer 1
      const send = batchTo([
        { group: 'scores', key: 'a', version: old },
        { group: 'scores', key: 'b', version: clock.next() },
        { group: 'nope', key: 'c' },
        { group: 'scores', tags: ['t'], id: 7 },
      ]);
      const res = await send();
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal(WRITES_CONTENT_TYPE);
      const results = decodeWriteResults(new Uint8Array(await res.arrayBuffer()));
      expect(results.map((r) => r.status)).to.deep.equal([409, 200, 404, 200]);
      expect(results[0].newer).to.be.above(old);
      expect(group(1).peek('b')).to.equal(undefined);
      expect(group(1).peek('c')).to.not.equal(undefined);
    });

    it('refuses a replayed batch (409), applying nothing the second time', async () => {
      const send = batchTo([{ group: 'scores', key: 'r' }]);
      expect((await send()).status).to.equal(200);
      await group(1).get('r');
      const again = await send();
      expect(again.status).to.equal(409);
      expect(await again.text()).to.match(/^replayed write: /);
      expect(group(1).peek('r'), 'the replay dropped nothing').to.not.equal(undefined);
    });

    it('refuses an unsigned batch (401) before reading it', async () => {
      const res = await fetch(`${peers[1].url}${BASE}`, {
        method: 'DELETE',
        headers: { 'content-type': WRITES_CONTENT_TYPE },
        body: Buffer.from(encodeWriteBatch([{ group: 'scores' }])),
      });
      expect(res.status).to.equal(401);
    });
  });
});

describe('batched writes to a peer that does not take them', function () {
  this.timeout(30_000);
  let peer: InProcessPeer[] = [];
  let foreign: http.Server;
  let received: { method: string; path: string; type: string | undefined; items?: number }[] = [];
  let warned: string[] = [];

  beforeEach(async () => {
    received = [];
    warned = [];
    // A stand-in for an older peer: 404 to a batch (an older geecache takes `DELETE {basePath}` for a clear of group ""), 200 to single writes.
    foreign = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = (req.url ?? '').split('?')[0];
        const type = req.headers['content-type'];
        const items = type === WRITES_CONTENT_TYPE ? decodeWriteBatch(Buffer.concat(chunks)).length : undefined;
        received.push({ method: req.method ?? '', path, type, items });
        if (path === BASE && req.method === 'DELETE') res.writeHead(404).end('no such group: \n');
        else res.writeHead(200, { 'content-type': 'text/plain' }).end('removed\n');
      });
    });
    const port = await listen(foreign);
    const other = `http://127.0.0.1:${port}`;
    peer = await startInProcessPeers(1, (self) => ({
      self,
      peers: [self, other],
      secret: SECRET,
      logger: { info() {}, warn: (m: string) => warned.push(m), error() {} },
      groups: { scores: { maxBytes: 1 << 20, getter: (key: string) => `value:${key}` } },
    }));
  });
  afterEach(async () => {
    await closePeers(peer);
    await new Promise((resolve) => foreign.close(resolve));
  });

  it('gets single writes once it answered a batch 404, and every report acknowledges it; nothing is warned', async () => {
    const keys = Array.from({ length: 300 }, (_, k) => `k${k}`);
    const reports: InvalidationReport[] = await Promise.all(keys.map((key) => peer[0].cache.group('scores').remove(key)));
    for (const report of reports) expect(report.acknowledged).to.have.length(2);
    const batches = received.filter((r) => r.type === WRITES_CONTENT_TYPE);
    expect(batches, 'batches sent').to.have.length(1);
    const singles = received.filter((r) => r.method === 'DELETE' && r.path !== BASE);
    expect(new Set(singles.map((r) => r.path)).size, 'keys sent alone').to.equal(keys.length);
    // Later writes go alone from the start.
    received = [];
    await Promise.all(['x', 'y', 'z'].map((key) => peer[0].cache.group('scores').remove(key)));
    expect(received.map((r) => r.path).sort()).to.deep.equal([`${BASE}scores/x`, `${BASE}scores/y`, `${BASE}scores/z`]);
    expect(warned).to.deep.equal([]);
  });
});

describe('removes a peer refuses', function () {
  this.timeout(30_000);

  it('are reported refused, each of them, and warned about once however many there are', async () => {
    // A peer with another secret (or a golang/groupcache peer): 401 to every write, alone or batched.
    const refusing = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(401).end('unauthorized\n'));
    });
    const other = `http://127.0.0.1:${await listen(refusing)}`;
    const warned: string[] = [];
    const peer = await startInProcessPeers(1, (self) => ({
      self,
      peers: [self, other],
      secret: SECRET,
      logger: { info() {}, warn: (m: string) => warned.push(m), error() {} },
      groups: { scores: { maxBytes: 1 << 20, getter: (key: string) => `value:${key}` } },
    }));
    try {
      const group = peer[0].cache.group('scores');
      const reports = await Promise.all(Array.from({ length: 200 }, (_, k) => group.remove(`r${k}`)));
      for (const report of reports) {
        expect(report.refused).to.deep.equal([other]);
        expect(report.pending).to.deep.equal([]);
      }
      expect(warned.filter((m) => m.includes('refused a remove'))).to.have.length(1);
      expect(group.pendingRemoves().size, 'a refusal is not retried').to.equal(0);
    } finally {
      await closePeers(peer);
      await new Promise((resolve) => refusing.close(resolve));
    }
  });
});

describe('removes a peer missed', function () {
  this.timeout(30_000);
  let peer: InProcessPeer[] = [];
  let other: http.Server;
  let up = false;
  let received: { type: string | undefined; items: number }[] = [];

  beforeEach(async () => {
    up = false;
    received = [];
    // A peer that takes batches of writes, busy (503) until `up`.
    other = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const type = req.headers['content-type'];
        const items = type === WRITES_CONTENT_TYPE ? decodeWriteBatch(Buffer.concat(chunks)).length : 1;
        received.push({ type, items });
        if (!up) return res.writeHead(503).end('busy\n');
        if (type !== WRITES_CONTENT_TYPE) return res.writeHead(200, { 'content-type': 'text/plain' }).end('removed\n');
        res
          .writeHead(200, { 'content-type': WRITES_CONTENT_TYPE })
          .end(Buffer.from(encodeWriteResults(Array.from({ length: items }, () => ({ status: 200 })))));
      });
    });
    const port = await listen(other);
    peer = await startInProcessPeers(1, (self) => ({
      self,
      peers: [self, `http://127.0.0.1:${port}`],
      secret: SECRET,
      logger: false,
      groups: { scores: { maxBytes: 1 << 20, getter: (key: string) => `value:${key}` } },
    }));
  });
  afterEach(async () => {
    await closePeers(peer);
    await new Promise((resolve) => other.close(resolve));
  });

  it('are sent again in batches once the peer answers, and each is then acknowledged', async () => {
    const group = peer[0].cache.group('scores');
    const reports = await Promise.all(Array.from({ length: 200 }, (_, k) => group.remove(`m${k}`)));
    for (const report of reports) expect(report.pending).to.have.length(1);
    expect([...group.pendingRemoves().values()]).to.deep.equal([200]);
    up = true;
    received = [];
    const deadline = Date.now() + 10_000;
    while (group.pendingRemoves().size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(group.pendingRemoves().size, 'removes still pending').to.equal(0);
    expect(received.length, 'requests of the retry').to.be.within(1, 3);
    expect(received.reduce((n, r) => n + r.items, 0)).to.equal(200);
  });
});

describe('removes started together, one of whose owners hangs', function () {
  this.timeout(30_000);
  let peers: InProcessPeer[] = [];
  let hung: http.Server;
  let hungUrl = '';
  let held: (() => void)[] = [];

  beforeEach(async () => {
    held = [];
    // A peer that answers probes at once and holds every write until released.
    hung = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'GET') return res.writeHead(400).end('bad request\n');
        const batch = req.headers['content-type'] === WRITES_CONTENT_TYPE ? decodeWriteBatch(Buffer.concat(chunks)) : undefined;
        held.push(() =>
          batch
            ? res.writeHead(200, { 'content-type': WRITES_CONTENT_TYPE }).end(Buffer.from(encodeWriteResults(batch.map(() => ({ status: 200 })))))
            : res.writeHead(200, { 'content-type': 'text/plain' }).end('removed\n'),
        );
      });
    });
    hungUrl = `http://127.0.0.1:${await listen(hung)}`;
    peers = await startInProcessPeers(3, (self, urls) => ({
      self,
      peers: [...urls, hungUrl],
      secret: SECRET,
      logger: false,
      groups: { scores: { maxBytes: 1 << 20, getter: (key: string) => `value:${key}` } },
    }));
  });
  afterEach(async () => {
    for (const answer of held) answer();
    await closePeers(peers);
    await new Promise((resolve) => hung.close(resolve));
  });

  it('the others fan out without waiting for that owner for long (GATHER_MS)', async () => {
    const pool = peers[0].cache.pool;
    const ownedBy = (owner: string) => Array.from({ length: 500 }, (_, k) => `g${k}`).find((key) => pool.ownerOf(key) === owner) as string;
    const slow = ownedBy(hungUrl);
    const fast = ownedBy(peers[1].url);
    await peers[2].cache.group('scores').get(fast);
    expect(peers[2].cache.group('scores').peek(fast)).to.not.equal(undefined);
    const group = peers[0].cache.group('scores');
    const removes = [group.remove(slow), group.remove(fast)];
    const deadline = Date.now() + 10_000;
    while (peers[2].cache.group('scores').peek(fast) !== undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(peers[2].cache.group('scores').peek(fast), 'the third peer dropped the key while the hung owner still held its remove').to.equal(undefined);
    expect(held.length, 'writes the hung peer holds').to.be.above(0);
    const releasing = setInterval(() => {
      for (const answer of held.splice(0)) answer();
    }, 10);
    try {
      for (const report of await Promise.all(removes)) expect(report.acknowledged).to.have.length(4);
    } finally {
      clearInterval(releasing);
    }
  });
});
