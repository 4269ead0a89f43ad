// Set bodies on the peer route: headers sent without their body hold no other writer out. A
// replay of a captured set's headers is refused before its body is awaited; bodies share a byte
// budget that a body takes from only once it starts to arrive, refusing (503) only what does
// not fit; and a withheld body is cut off after timeoutMs. Real peers on loopback, raw sockets.
import { createHash, randomUUID } from 'node:crypto';
import net from 'node:net';
import { expect } from 'chai';
import { RequestSigner } from '../../lib/protocol/auth.js';
import { MAX_SET_BYTES_IN_FLIGHT } from '../../lib/server/admit.js';
import { closePeers, type InProcessPeer, startInProcessPeers, until } from '../helpers/index.js';

const SECRET = 'set-body-secret-0123456789';
const signer = new RequestSigner(SECRET);
const MiB = 1 << 20;

/** A raw connection to a peer: what it sent back, and whether the server closed it. */
class Raw {
  text = '';
  closed = false;
  readonly socket: net.Socket;
  constructor(port: number, data: string | Buffer) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
    this.socket.write(data);
  }
  get status(): number {
    return Number(this.text.split(' ')[1]) || 0;
  }
}

/**
 * The head of a signed set of `size` bytes to `peer` (its body's digest `digest`), each with a
 * write header of its own: as a writer sends it, nonce and all.
 */
function setHead(peer: InProcessPeer, key: string, size: number, digest: string): string {
  const path = `/_geecache/scores/${key}`;
  const write = `${Date.now() * 1000}.${randomUUID()}`;
  const auth = signer.sign('PUT', peer.url + path, Date.now(), { length: size, digest }, { write });
  return [
    `PUT ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${peer.port}`,
    'Content-Type: application/x-geecache-set',
    `Content-Length: ${size}`,
    `x-geecache-auth: ${auth}`,
    `x-geecache-content-sha256: ${digest}`,
    `x-geecache-write: ${write}`,
    '',
    '',
  ].join('\r\n');
}

/** Zero bodies by size, made (and hashed) once. */
const bodies = new Map<number, { body: Buffer; digest: string }>();
function zeros(size: number): { body: Buffer; digest: string } {
  let made = bodies.get(size);
  if (!made) {
    const body = Buffer.alloc(size);
    made = { body, digest: createHash('sha256').update(body).digest('hex') };
    bodies.set(size, made);
  }
  return made;
}

describe('set bodies: a withheld body holds no writer out', function () {
  this.timeout(120_000);
  let peers: InProcessPeer[] = [];
  const raws: Raw[] = [];
  afterEach(async () => {
    for (const raw of raws.splice(0)) raw.socket.destroy();
    await closePeers(peers);
    peers = [];
  });
  const open = (port: number, data: string | Buffer) => {
    const raw = new Raw(port, data);
    raws.push(raw);
    return raw;
  };
  const start = (timeoutMs: number) =>
    startInProcessPeers(2, (self, urls) => ({
      self,
      peers: urls,
      secret: SECRET,
      timeoutMs,
      logger: false,
      groups: { scores: { maxBytes: 200 * MiB, getter: (key: string) => `value:${key}` } },
    }));
  const ownedBy = (owner: InProcessPeer, prefix: string) => {
    for (let i = 0; i < 500; i++) if (peers[0].cache.pool.ownerOf(`${prefix}${i}`) === owner.url) return `${prefix}${i}`;
    throw new Error('no key owned by that peer');
  };

  it('32 connections replaying one captured large set’s headers: all but the first are refused at once (409), no body awaited', async () => {
    peers = await start(20_000);
    const owner = peers[1];
    const head = setHead(owner, 'replayed', 40 * MiB, zeros(40 * MiB).digest);
    const first = open(owner.port, head);
    const replays = Array.from({ length: 31 }, () => open(owner.port, head));
    await until('every replay answered', () => replays.every((r) => r.status !== 0));
    for (const replay of replays) {
      expect(replay.status).to.equal(409);
      expect(replay.text).to.include('replayed write: ');
    }
    expect(first.status, 'the first one waits for its body').to.equal(0);
  });

  // The set that gets through is 16 MiB: were withheld bodies to take from the 128 MiB budget, three
  // 40 MiB ones would leave 8 MiB, and it would be refused (503).
  it('32 large sets whose bodies are withheld do not stop a 16 MiB set from another peer', async () => {
    peers = await start(20_000);
    const [writer, owner] = peers;
    const { digest } = zeros(40 * MiB);
    for (let i = 0; i < 32; i++) open(owner.port, setHead(owner, `withheld-${i}`, 40 * MiB, digest));
    const key = ownedBy(owner, 'large-');
    const value = Buffer.alloc(16 * MiB, 'v');
    const report = await writer.cache.group('scores').set(key, value);
    expect(report.acknowledged).to.include(owner.url);
    const stored = await owner.cache.group('scores').get(key);
    expect(stored.length).to.equal(16 * MiB);
    expect(
      raws.every((r) => r.status === 0),
      'the withheld ones are still waiting',
    ).to.equal(true);
  });

  it(`the bodies being read share ${MAX_SET_BYTES_IN_FLIGHT / MiB} MiB: of three 60 MiB bodies under way, one is refused 503 with Retry-After; withheld ones take none`, async () => {
    peers = await start(20_000);
    const owner = peers[1];
    const { digest } = zeros(60 * MiB);
    for (let i = 0; i < 5; i++) open(owner.port, setHead(owner, `withheld-${i}`, 60 * MiB, digest));
    // Each starts its body (one byte), then stalls.
    const started = Array.from({ length: 3 }, (_, i) =>
      open(owner.port, Buffer.concat([Buffer.from(setHead(owner, `started-${i}`, 60 * MiB, digest)), Buffer.alloc(1)])),
    );
    await until('one of them refused', () => started.some((r) => r.status !== 0));
    const refused = started.filter((r) => r.status !== 0);
    expect(refused).to.have.length(1);
    expect(refused[0].status).to.equal(503);
    expect(refused[0].text).to.match(/\r\nretry-after: 1\r\n/i);
    expect(refused[0].text).to.match(
      /busy: set bodies of 125829120 bytes are being read, and 62914560 more would pass the 134217728 this peer reads at once; retry/,
    );
    await until('the refused connection closed', () => refused[0].closed);
  });

  it('a withheld body is cut off after timeoutMs of its headers: 408, connection closed', async () => {
    peers = await start(300);
    const owner = peers[1];
    const withheld = open(owner.port, setHead(owner, 'late', 40 * MiB, zeros(40 * MiB).digest));
    await until('the withheld set answered', () => withheld.closed);
    expect(withheld.status).to.equal(408);
    expect(withheld.text).to.include('set body not received in full within timeoutMs (300 ms) of its headers');
  });
});
