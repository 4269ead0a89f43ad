// What travels beside the request line: every geecache header the peer route acts on is signed
// (the membership digest) or refused unless it has its exact shape (peek, wait), and what requests
// can make a peer log is bounded, however many arrive. Real peers on loopback, a recording proxy
// in front of the owner, and a logger that counts every line and byte.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { expect } from 'chai';
import type { GeecacheOptions } from '../../lib/index.js';
import { closePeers, type InProcessPeer, RecordingProxy, startInProcessPeers } from '../helpers/index.js';

const SECRET = 'signed-headers-secret-0123456789';

/** A logger that keeps every line, at every level. */
function countingLogger() {
  const lines: string[] = [];
  const log = (m: string) => lines.push(m);
  return { lines, bytes: () => lines.reduce((n, l) => n + Buffer.byteLength(l), 0), logger: { warn: log, info: log, error: log, debug: log } };
}

const hex16 = () => randomBytes(8).toString('hex');

// How many requests of each kind. What is bounded is counted, not timed: a peer logs at most
// MAX_SPREADING_LINES (8) lines of membership changes while its own stays, tracks at most
// MAX_TRACKED (64) digests (lib/cluster/agreement.ts), and logs nothing for a refused header. A
// few hundred requests pass each limit several times over; a line per request would show as
// hundreds of lines.
const HOSTILE = 200;
const WELL_FORMED = 100;
const DISTINCT = 300;
const LONG = 50;

describe('geecache headers on the peer route: signed or shape-checked, and bounded in the logs', function () {
  this.timeout(60_000);
  let peers: InProcessPeer[] = [];
  let proxy: RecordingProxy | undefined;
  // Hundreds of replays share keep-alive connections: a new connection each costs more than the request.
  let agent: http.Agent;
  beforeEach(() => {
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  });
  afterEach(async () => {
    agent.destroy();
    await closePeers(peers);
    peers = [];
    await proxy?.close();
    proxy = undefined;
  });

  /** Two peers; the second (the owner of the keys asked) is reached through a recording proxy. */
  async function cluster(options: Partial<GeecacheOptions>) {
    const log = countingLogger();
    proxy = await RecordingProxy.start();
    const via = proxy.url;
    peers = await startInProcessPeers(
      2,
      (self, urls, i) => ({
        self: i === 1 ? via : self,
        peers: [urls[0], via],
        logger: log.logger,
        groups: { scores: { maxBytes: 1 << 20, loadTimeoutMs: 2500.5, getter: (key: string) => `value:${key}` } },
        ...options,
      }),
      { attach: true },
    );
    proxy.target = new URL(peers[1].url);
    const key = Array.from({ length: 200 }, (_, i) => `k${i}`).find((k) => peers[0].cache.pool.ownerOf(k) === via);
    if (!key) throw new Error('no key owned by the second peer');
    expect(String(await peers[0].cache.get(key))).to.equal(`value:${key}`);
    const [captured] = proxy.find('GET', `/_geecache/scores/${key}`);
    expect(captured, 'the asker sent its get through the proxy').to.not.equal(undefined);
    return { log, captured, owner: peers[1].url };
  }

  it('a captured signed GET replayed with a hostile or another membership digest is refused, and logs nothing', async () => {
    const { log, captured, owner } = await cluster({ secret: SECRET });
    const ring = captured.rawHeaders[captured.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-geecache-ring') + 1];
    expect(ring).to.match(/^[0-9a-f]{16}$/);
    expect((await RecordingProxy.replay(owner, captured)).status, 'the capture as it was').to.equal(200);
    const before = { lines: log.lines.length, bytes: log.bytes() };
    for (let i = 0; i < HOSTILE; i++) {
      const hostile = `${'<script>'.repeat(1_000)}${i}`; // 8 KB of text the sender chose, new every time
      const res = await RecordingProxy.replay(owner, captured, { 'x-geecache-ring': hostile }, agent);
      expect(res.status).to.equal(400);
      expect(res.text).to.equal('bad request: x-geecache-ring must be the 16 hex digits of a membership digest\n');
    }
    for (let i = 0; i < WELL_FORMED; i++) {
      // Well-formed, but not what was signed: the digest is covered by the signature.
      expect((await RecordingProxy.replay(owner, captured, { 'x-geecache-ring': hex16() }, agent)).status).to.equal(401);
    }
    expect((await RecordingProxy.replay(owner, captured, { 'x-geecache-ring': undefined })).status, 'the digest dropped').to.equal(401);
    expect(log.lines.slice(before.lines), `lines logged by ${HOSTILE + WELL_FORMED + 1} replays`).to.deep.equal([]);
    expect(log.bytes()).to.equal(before.bytes);
    expect(peers[1].cache.membershipStats().ringDisagreed, 'no refused digest reached the comparison').to.equal(0);
  });

  it('with secret: false, digests of the sender’s choosing cost a bounded number of short info lines', async () => {
    const { log, captured, owner } = await cluster({ secret: false });
    const before = log.lines.length;
    for (let i = 0; i < DISTINCT; i++) expect((await RecordingProxy.replay(owner, captured, { 'x-geecache-ring': hex16() }, agent)).status).to.equal(200);
    for (let i = 0; i < LONG; i++)
      expect((await RecordingProxy.replay(owner, captured, { 'x-geecache-ring': `${'z'.repeat(8_000)}${i}` }, agent)).status).to.equal(400);
    const added = log.lines.slice(before);
    expect(added.length, `lines logged by ${DISTINCT + LONG} requests`).to.be.at.most(8);
    for (const line of added) expect(line.length).to.be.below(300);
    expect(peers[1].cache.membershipStats().ringDisagreed, 'each well-formed one still counted').to.equal(DISTINCT);
  });

  it('a peek or a wait of any other shape is refused with 400; a fractional loadTimeoutMs travels as whole milliseconds', async () => {
    // cluster() already got a value through a group whose loadTimeoutMs is 2500.5 (sent as 2501).
    const { captured, owner } = await cluster({ secret: false });
    const wait = captured.rawHeaders[captured.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-geecache-wait-ms') + 1];
    expect(wait).to.equal('2501');
    for (const peek of ['yes', '0', '11', 'x'.repeat(8_000)]) {
      const res = await RecordingProxy.replay(owner, captured, { 'x-geecache-peek': peek });
      expect(res.status, `peek ${peek.slice(0, 10)}`).to.equal(400);
      expect(res.text).to.equal('bad request: x-geecache-peek must be 1\n');
    }
    expect((await RecordingProxy.replay(owner, captured, { 'x-geecache-peek': '1' })).status, 'a real peek').to.equal(200);
    for (const ms of ['1e3', '-1', '0', '2500.5', '99999999999', '2147483648', 'x'.repeat(8_000)]) {
      const res = await RecordingProxy.replay(owner, captured, { 'x-geecache-wait-ms': ms });
      expect(res.status, `wait ${ms.slice(0, 12)}`).to.equal(400);
      expect(res.text).to.equal('bad request: x-geecache-wait-ms must be whole milliseconds, 1 to 2147483647\n');
    }
    expect((await RecordingProxy.replay(owner, captured, { 'x-geecache-wait-ms': '2147483647' })).status).to.equal(200);
  });
});
