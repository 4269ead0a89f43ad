// Coalescing: gets bound for one peer in the same event-loop turn travel as one batch request.

import { expect } from 'chai';
import { digestOf, RequestSigner } from '../../lib/protocol/auth.js';
import { decodeBatchResponse, encodeBatchRequest } from '../../lib/protocol/wire.js';
import { closePeers, type InProcessPeer, startInProcessPeers } from '../helpers/index.js';

const SECRET = 'batch-test-secret-0123456789';

type Peer = InProcessPeer & { loads: string[]; peerRequests: () => number };

/** n peers whose getters record their keys; peer HTTP requests are counted ahead of the fast path. */
async function startCountingPeers(n: number, batch = true): Promise<Peer[]> {
  const loads = Array.from({ length: n }, (): string[] => []);
  const requests = Array.from({ length: n }, () => 0);
  const peers = await startInProcessPeers(
    n,
    (self, urls, i) => ({
      self,
      peers: urls,
      secret: SECRET,
      batch,
      groups: {
        scores: {
          maxBytes: 1 << 20,
          hotCacheFraction: 0,
          getter: async (key) => {
            loads[i].push(key);
            if (key.startsWith('fail:')) throw new Error(`boom for ${key}`);
            return `value:${key}`;
          },
        },
      },
    }),
    {
      attach: true,
      setup: (peer, i) =>
        peer.server.prependListener('request', (req) => {
          if (req.url?.startsWith('/_geecache/')) requests[i]++;
        }),
    },
  );
  return peers.map((p, i) => ({ ...p, loads: loads[i], peerRequests: () => requests[i] }));
}

describe('batched peer requests', () => {
  let peers: Peer[];
  afterEach(() => closePeers(peers));

  it('sends concurrent gets for one peer as a few requests, each caller getting its own value', async () => {
    peers = await startCountingPeers(2);
    const [a, b] = peers;
    const keys = Array.from({ length: 400 }, (_, i) => `k${i}`).filter((k) => a.cache.pool.ownerOf(k) === b.url);
    const values = await Promise.all(keys.map((k) => a.cache.get(k)));
    expect(values.map(String)).to.deep.equal(keys.map((k) => `value:${k}`));
    expect(b.loads.sort()).to.deep.equal([...keys].sort());
    expect(a.loads).to.deep.equal([]);
    // Far fewer requests than gets: one batch per MAX_BATCH (256) gets started in one turn.
    expect(b.peerRequests()).to.be.within(1, Math.ceil(keys.length / 256));
    expect(a.cache.group('scores').stats.peerLoads).to.equal(keys.length);
  });

  it('fails only the get whose getter failed, without running it locally', async () => {
    peers = await startCountingPeers(2);
    const [a, b] = peers;
    const keys = Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? `fail:${i}` : `ok:${i}`)).filter((k) => a.cache.pool.ownerOf(k) === b.url);
    const settled = await Promise.allSettled(keys.map((k) => a.cache.get(k)));
    settled.forEach((s, i) => {
      if (keys[i].startsWith('fail:')) expect(s.status === 'rejected' && (s.reason as Error).message).to.equal(`boom for ${keys[i]}`);
      else expect(s.status === 'fulfilled' && s.value.toString()).to.equal(`value:${keys[i]}`);
    });
    expect(a.loads).to.deep.equal([]);
  });

  it('loads keys with lone surrogates locally rather than send them altered', async () => {
    peers = await startCountingPeers(2);
    const [a, b] = peers;
    const keys = Array.from({ length: 40 }, (_, i) => `x\ud800${i}`).filter((k) => a.cache.pool.ownerOf(k) === b.url);
    expect(keys.length).to.be.greaterThan(5);
    const values = await Promise.all(keys.map((k) => a.cache.get(k)));
    expect(values.map(String)).to.deep.equal(keys.map((k) => `value:${k}`.replace('\ud800', '\ufffd')));
    expect(a.loads).to.deep.equal(keys);
    expect(b.loads).to.deep.equal([]);
  });

  it('can be turned off: one request per get', async () => {
    peers = await startCountingPeers(2, false);
    const [a, b] = peers;
    const keys = Array.from({ length: 100 }, (_, i) => `k${i}`).filter((k) => a.cache.pool.ownerOf(k) === b.url);
    await Promise.all(keys.map((k) => a.cache.get(k)));
    expect(b.peerRequests()).to.equal(keys.length);
  });

  it('refuses unsigned, tampered, malformed and oversized batches without running a getter', async () => {
    peers = await startCountingPeers(2);
    const [, b] = peers;
    const body = encodeBatchRequest([{ group: 'scores', key: 'x' }]);
    const signer = new RequestSigner(SECRET);
    /** POSTs `payload`, signed (with the digest header) as a peer signs `signed`, or with `auth` as given. */
    const post = (payload: Uint8Array | Buffer, signed?: Uint8Array | string) => {
      const auth: Record<string, string> = typeof signed === 'string' ? { 'x-geecache-auth': signed } : {};
      if (signed !== undefined && typeof signed !== 'string')
        Object.assign(auth, {
          'x-geecache-auth': signer.sign('POST', `${b.url}/_geecache/`, Date.now(), signed),
          'x-geecache-content-sha256': digestOf(signed),
        });
      return fetch(`${b.url}/_geecache/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-geecache-batch', ...auth },
        body: new Uint8Array(payload),
      });
    };
    expect((await post(body)).status).to.equal(401);
    const tampered = encodeBatchRequest([{ group: 'scores', key: 'y' }]);
    expect((await post(tampered, body)).status).to.equal(401);
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff]);
    expect((await post(garbage, garbage)).status).to.equal(400);
    const tooMany = encodeBatchRequest(Array.from({ length: 257 }, (_, i) => ({ group: 'scores', key: `k${i}` })));
    expect((await post(tooMany, tooMany)).status).to.equal(400);
    const huge = Buffer.alloc(5 << 20);
    expect((await post(huge, 'x')).status, 'refused before reading the body').to.equal(401);
    expect((await post(huge, body)).status, 'signed for another length: refused before reading the body').to.equal(401);
    expect((await post(huge, huge)).status, 'signed, but over the limit').to.equal(413);
    expect(b.loads).to.deep.equal([]);
    // A good one still works afterwards, with per-item statuses.
    const mixed = encodeBatchRequest([
      { group: 'scores', key: 'x' },
      { group: 'nope', key: 'x' },
      { group: 'scores', key: '' },
    ]);
    const res = await post(mixed, mixed);
    expect(res.status).to.equal(200);
    const results = decodeBatchResponse(new Uint8Array(await res.arrayBuffer()));
    expect(results.map((r) => (r.ok ? 200 : r.status))).to.deep.equal([200, 404, 400]);
    expect(results[0].ok && Buffer.from(results[0].value).toString()).to.equal('value:x');
    expect(!results[1].ok && results[1].error).to.equal('no such group: nope');
  });
});
