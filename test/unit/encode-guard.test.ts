// The peer route never lets an answer it cannot encode escape its request: a value whose expiry
// is past what the wire carries (put straight into the owner's cache, as no TTL check lets one
// in) fails that get alone — on a plain GET, a whole batch and a streamed batch — with a 500 the
// asker takes as the owner's failure, one bounded warning, and the other keys of the batch and
// later requests answered as usual. Real HTTP servers on loopback, in this process.
import { expect } from 'chai';
import { ByteView } from '../../lib/cache/byteview.js';
import { OwnerLoadError } from '../../lib/common/errors.js';
import { digestOf, RequestSigner } from '../../lib/protocol/auth.js';
import { MAX_EXPIRES_AT_MS } from '../../lib/protocol/expiry.js';
import { BATCH_STREAM_TYPE } from '../../lib/protocol/headers.js';
import { decodeBatchResponse, encodeBatchRequest, type PeerResult } from '../../lib/protocol/wire.js';
import { closePeers, type InProcessPeer, startInProcessPeers } from '../helpers/index.js';

const SECRET = 'encode-guard-secret-0123456789';
const signer = new RequestSigner(SECRET);

describe('an answer the wire cannot carry', () => {
  let peers: InProcessPeer[];
  const warnings: string[][] = [[], []];
  const loads: string[][] = [[], []];
  let owner: InProcessPeer;
  let asker: InProcessPeer;
  /** Keys `owner` owns. */
  let far: string;
  let fine: string[];

  before(async () => {
    peers = await startInProcessPeers(2, (self, urls, i) => ({
      self,
      peers: urls,
      secret: SECRET,
      logger: { warn: (m) => warnings[i].push(m), info: () => {} },
      groups: {
        scores: {
          maxBytes: 1 << 20,
          hotCacheFraction: 0,
          getter: (key) => {
            loads[i].push(key);
            return `value:${key}`;
          },
        },
      },
    }));
    [owner, asker] = peers;
    const owned = Array.from({ length: 200 }, (_, i) => `k${i}`).filter((k) => owner.cache.pool.ownerOf(k) === owner.url);
    [far, ...fine] = owned.slice(0, 4);
    owner.cache.group('scores').setLocally(far, new ByteView('v', true, MAX_EXPIRES_AT_MS + 1_000));
  });
  after(() => closePeers(peers));

  const get = (key: string) => {
    const url = `${owner.url}/_geecache/scores/${key}`;
    return fetch(url, { headers: { 'x-geecache-auth': signer.sign('GET', url) } });
  };
  const batch = async (keys: string[], stream: boolean): Promise<PeerResult[]> => {
    const url = `${owner.url}/_geecache/`;
    const body = encodeBatchRequest(keys.map((key) => ({ group: 'scores', key })));
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-geecache-batch',
        ...(stream ? { accept: BATCH_STREAM_TYPE } : {}),
        'x-geecache-auth': signer.sign('POST', url, Date.now(), body),
        'x-geecache-content-sha256': digestOf(body),
      },
      body: new Uint8Array(body),
    });
    expect(res.status).to.equal(200);
    return decodeBatchResponse(new Uint8Array(await res.arrayBuffer()));
  };
  const failedToEncode = (r: PeerResult | undefined) =>
    r !== undefined && !r.ok && r.status === 500 && r.kind === 'getter' && /could not encode its answer: .*past what the wire carries/.test(r.error);

  it('a plain GET of that key is answered 500, marked as the owner failure; other keys are served', async () => {
    const res = await get(far);
    expect(res.status).to.equal(500);
    expect(res.headers.get('x-geecache-error')).to.equal('getter');
    expect(await res.text()).to.match(/could not encode its answer: .*past what the wire carries/);
    expect((await get(fine[0])).status).to.equal(200);
  });

  it('a batch, whole or streamed, fails that key alone; the next batch on the same route is intact', async () => {
    for (const stream of [false, true]) {
      const results = await batch([fine[0], far, fine[1]], stream);
      expect(results).to.have.length(3);
      expect(results.filter(failedToEncode), JSON.stringify(results)).to.have.length(1);
      const values = results.flatMap((r) => (r.ok ? [Buffer.from(r.value).toString()] : []));
      expect(values.sort()).to.deep.equal([`value:${fine[0]}`, `value:${fine[1]}`].sort());
      const after = await batch(fine, stream);
      expect(after.map((r) => (r.ok ? Buffer.from(r.value).toString() : r.error)).sort()).to.deep.equal(fine.map((k) => `value:${k}`).sort());
    }
  });

  it('another peer asking gets an OwnerLoadError and does not load the key itself', async () => {
    const err = await asker.cache
      .group('scores')
      .get(far)
      .then(
        () => undefined,
        (e: Error) => e,
      );
    expect(err).to.be.instanceOf(OwnerLoadError);
    expect(err?.message).to.match(/could not encode its answer/);
    expect(loads[1]).to.not.include(far);
  });

  it('the owner warned once, its text bounded', () => {
    const lines = warnings[0].filter((m) => m.includes('could not encode'));
    expect(lines, JSON.stringify(warnings[0])).to.have.length(1);
    expect(lines[0]).to.match(/RangeError: expiry .* past what the wire carries/);
    expect(lines[0].length).to.be.below(600);
  });
});
