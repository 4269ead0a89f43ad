// The peer route's GET answer, byte for byte, for every way a ByteView holds a value: bytes kept
// as a latin1 string (ASCII, and not: every byte value), a getter's text (UTF-8, with characters
// of 2, 3 and 4 bytes), empty values, large Buffers (over the 16 KiB kept as strings), each with
// and without an expiry. The route writes a held string as it is (PeerServer#writeView) instead
// of encoding it into a Buffer per request; a wrong encoding would show here as other bytes.
import { expect } from 'chai';
import { RequestSigner } from '../../lib/protocol/auth.js';
import { readGetResponse } from '../../lib/protocol/wire.js';
import { type InProcessPeer, startInProcessPeer } from '../helpers/index.js';

const SECRET = 'a-long-test-secret-123';
const signer = new RequestSigner(SECRET);
const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** The values, by key: what the getter returns and the bytes a peer must receive. */
const VALUES: Record<string, { value: string | Buffer; bytes: Buffer }> = {
  ascii: { value: Buffer.from('plain ascii bytes'), bytes: Buffer.from('plain ascii bytes') },
  'every-byte': { value: every, bytes: every },
  'every-byte-x40': { value: Buffer.concat(Array(40).fill(every)), bytes: Buffer.concat(Array(40).fill(every)) },
  'text-ascii': { value: 'value:text', bytes: Buffer.from('value:text') },
  'text-utf8': { value: 'é ü → 😀 ∑', bytes: Buffer.from('é ü → 😀 ∑', 'utf8') },
  'text-long': { value: 'ü'.repeat(5_000), bytes: Buffer.from('ü'.repeat(5_000), 'utf8') },
  'empty-bytes': { value: Buffer.alloc(0), bytes: Buffer.alloc(0) },
  'empty-text': { value: '', bytes: Buffer.alloc(0) },
  large: { value: Buffer.alloc(100_000, 'ab\xff'), bytes: Buffer.alloc(100_000, 'ab\xff') },
};

describe('peer route GET answers: every held form of a value, byte for byte', () => {
  const peers: InProcessPeer[] = [];
  after(async () => {
    for (const peer of peers) await peer.close();
  });

  for (const ttlMs of [0, 60_000]) {
    it(ttlMs ? 'with an expiry (the GetResponse suffix after the value)' : 'without an expiry', async () => {
      const peer = await startInProcessPeer(
        (self) => ({
          self,
          secret: SECRET,
          logger: false,
          groups: { scores: { maxBytes: 8 << 20, ttlMs, getter: (key: string) => VALUES[key].value } },
        }),
        { attach: true },
      );
      peers.push(peer);
      for (const [key, { bytes }] of Object.entries(VALUES)) {
        // Twice: the first answer is the load's, the second the cached value's.
        for (const round of ['load', 'cached']) {
          const target = `/_geecache/scores/${key}`;
          const res = await fetch(peer.url + target, { headers: { 'x-geecache-auth': signer.sign('GET', peer.url + target) } });
          const body = Buffer.from(await res.arrayBuffer());
          expect(res.status, `${key} (${round})`).to.equal(200);
          expect(Number(res.headers.get('content-length')), `${key} (${round}): content-length`).to.equal(body.length);
          const got = readGetResponse(body);
          expect(Buffer.from(got.value).equals(bytes), `${key} (${round}): the value's bytes`).to.equal(true);
          if (ttlMs) expect(got.expiresAt, `${key} (${round}): expiry`).to.be.within(Date.now(), Date.now() + ttlMs);
          else expect(got.expiresAt, `${key} (${round}): no expiry`).to.equal(undefined);
        }
      }
    });
  }
});
