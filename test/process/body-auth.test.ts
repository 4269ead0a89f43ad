// Memory without the secret: batch bodies are read only after the signature,
// which covers the body's length and digest, is checked from the headers. Attacks over raw
// sockets against a real child peer, whose memory (process.memoryUsage().arrayBuffers: every
// body byte it buffers) is sampled over its /_test/memory route while they run.
import { expect } from 'chai';
import { digestOf, RequestSigner } from '../../lib/protocol/auth.js';
import { type ChildHandle, freePort, peakMemory, sendBodyButLastByte, startChildPeer } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';
const TIMEOUT_MS = 1_000;
const BODY = 4 << 20; // the largest batch body a server accepts
const MiB = 1 << 20;

/**
 * Sends `head` and then a `BODY`-byte body but its last byte (so a server that reads waits for the
 * rest), as a real client would; waits at most `waitMs`.
 */
const attack = (port: number, head: string, waitMs: number) => sendBodyButLastByte(port, head, { bodyBytes: BODY, waitMs });

/** Samples the peer's arrayBuffers every 50 ms while `run` runs; the largest growth over the start. */
async function peakGrowth<T>(peer: ChildHandle, run: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const { result, start, peak } = await peakMemory(peer.url, run);
  return { result, growth: peak.arrayBuffers - start.arrayBuffers };
}

const head = (auth: string, extra = '') =>
  `POST /_geecache/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-geecache-batch\r\nContent-Length: ${BODY}\r\n${extra}x-geecache-auth: ${auth}\r\n\r\n`;

describe('batch bodies and the signature (real peer, raw sockets)', function () {
  this.timeout(120_000);
  let peer: ChildHandle;
  let port: number;
  before(async () => {
    port = await freePort();
    const self = `http://127.0.0.1:${port}`;
    // --expose-gc: /_test/memory collects garbage first, so it reports what the peer holds.
    peer = await startChildPeer(
      { port, self, peers: [self, `http://127.0.0.1:${await freePort()}`], secret: SECRET, timeoutMs: TIMEOUT_MS },
      { nodeArgs: ['--expose-gc'] },
    );
    expect(await (await fetch(`${peer.url}/get?key=warm`)).text()).to.equal('value:warm');
  });
  after(() => peer.process.kill('SIGKILL'));

  it('32 connections with a well-formed but forged signature and 4 MiB bodies: 401 each, the peer holds under 64 KiB per connection', async () => {
    const forged = () => `${Date.now()}.${'0'.repeat(64)}`;
    const { result, growth } = await peakGrowth(peer, () =>
      Promise.all(Array.from({ length: 32 }, () => attack(port, head(forged(), `x-geecache-content-sha256: ${'1'.repeat(64)}\r\n`), 10_000))),
    );
    console.log(`      forged: peak arrayBuffers growth ${(growth / MiB).toFixed(2)} MiB over 32 connections`);
    // Each is refused from its headers and closed. The 401 can be lost to the reset that closing a
    // connection with unread data in its buffers sends, so an empty answer counts as closed too.
    for (const { answer } of result) expect(answer).to.match(/^(HTTP\/1\.1 401 |$)/);
    expect(result.filter((r) => r.answer !== '').length, 'answers read before the reset').to.be.at.least(1);
    expect(
      result.every((r) => r.closedByServer),
      'the server closed every connection',
    ).to.equal(true);
    // Node reads a socket 64 KiB at a time: the headers' chunk may carry that much of the body.
    expect(growth, 'bytes held for 32 unauthenticated connections').to.be.at.most(32 * 64 * 1024);
  });

  it('16 replays of a captured, fresh signed 4 MiB batch: at most 16 MiB held, the rest 503, a dripped body cut off (408)', async () => {
    const body = Buffer.alloc(BODY, 7);
    const auth = new RequestSigner(SECRET).sign('POST', `${peer.url}/_geecache/`, Date.now(), body);
    const { result, growth } = await peakGrowth(peer, () =>
      Promise.all(Array.from({ length: 16 }, () => attack(port, head(auth, `x-geecache-content-sha256: ${digestOf(body)}\r\n`), 20 * TIMEOUT_MS))),
    );
    console.log(`      replayed: peak arrayBuffers growth ${(growth / MiB).toFixed(2)} MiB over 16 connections`);
    const statuses = result.map((r) => Number(r.answer.split(' ')[1]) || 0); // 0: reset before the answer was read
    // The body budget is 16 MiB; besides it, as above, each connection's first read (its headers)
    // may carry up to 64 KiB of its body before the peer refuses the rest.
    expect(growth, 'bytes held for 16 replays').to.be.at.most(16 * MiB + 16 * 64 * 1024);
    expect(statuses.filter((s) => s === 408).length, 'dripped bodies cut off').to.be.within(1, 3);
    expect(statuses.every((s) => s === 503 || s === 408 || s === 0)).to.equal(true);
    expect(result.every((r) => r.closedByServer)).to.equal(true);
    // Still serving.
    expect(await (await fetch(`${peer.url}/get?key=after`)).text()).to.equal('value:after');
  });
});
