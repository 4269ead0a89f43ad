// A peer that sends `expire` (mailgun/groupcache's int64 Unix nanoseconds) without geecache's
// ttl_remaining_ms: 0 means "never", any other value is an expiry, and one in the past — negative,
// or before the epoch's first millisecond — is already expired, as mailgun reads it: the value
// answers the get that asked and is not kept as a hot copy. A real loopback peer answers such gets.
import http from 'node:http';
import { create, toBinary } from '@bufbuild/protobuf';
import { expect } from 'chai';
import type { GeecacheMiddleware } from '../../lib/index.js';
import { decodeSetRequest, readGetResponse } from '../../lib/protocol/wire.js';
import { GetResponseSchema, SetRequestSchema } from '../gen/geecache_pb.js';
import { askerOf, closeServer, listen } from '../helpers/index.js';

const NS = 1_000_000n;
const getResponse = (value: string, expire: bigint) => toBinary(GetResponseSchema, create(GetResponseSchema, { value: Buffer.from(value), expire }));

describe('an expire in the past from a peer is expired, never "never expires"', () => {
  it('decodes a negative or sub-millisecond expire as already expired (1 ms after the epoch), 0 as never', () => {
    const value = new Uint8Array(Buffer.from('v'));
    expect(readGetResponse(getResponse('v', -5_000n * NS))).to.deep.equal({ value, expiresAt: 1 });
    expect(readGetResponse(getResponse('v', -1n))).to.deep.equal({ value, expiresAt: 1 });
    expect(readGetResponse(getResponse('v', 500n))).to.deep.equal({ value, expiresAt: 1 });
    expect(readGetResponse(getResponse('v', 0n))).to.deep.equal({ value });
    const set = toBinary(SetRequestSchema, create(SetRequestSchema, { group: 'g', key: 'k', value, expire: -1n }));
    expect(decodeSetRequest(set)).to.deep.equal({ group: 'g', key: 'k', value, expiresAt: 1 });
  });

  describe('from a real peer', () => {
    let server: http.Server | undefined;
    let cache: GeecacheMiddleware | undefined;
    afterEach(async () => {
      cache?.close();
      if (server) await closeServer(server);
    });

    /** A mailgun-like owner: every get answers `value:<key>` with the expire `expireOf(key)` and no ttl_remaining_ms. */
    async function owner(expireOf: (key: string) => bigint) {
      const gets: string[] = [];
      server = http.createServer((req, res) => {
        const key = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
        if (req.url === '/_geecache/') return res.writeHead(200).end(); // liveness probe
        gets.push(key);
        const body = getResponse(`value:${key}`, expireOf(key));
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length }).end(body);
      });
      return { url: `http://127.0.0.1:${await listen(server)}`, gets };
    }

    it('answers the get with the value, keeps no hot copy, and asks the owner again next time; a future expire is kept', async () => {
      const future = BigInt(Date.now() + 3_600_000) * NS;
      const peer = await owner((key) => (key.startsWith('past') ? -1_000_000_000n : future));
      const asker = askerOf(peer.url, { batch: false, logger: false }, { maxBytes: 1 << 20, hotCacheFraction: 0.5 });
      cache = asker.cache;
      const { group } = asker;
      expect(String(await group.get('past'))).to.equal('value:past');
      expect(group.cacheStats().hot.items, 'an expired value is not kept').to.equal(0);
      expect(String(await group.get('past'))).to.equal('value:past');
      expect(String(await group.get('fresh'))).to.equal('value:fresh');
      expect(String(await group.get('fresh'))).to.equal('value:fresh');
      expect(group.cacheStats().hot.items, 'a value that expires in an hour is kept').to.equal(1);
      expect(peer.gets).to.deep.equal(['past', 'past', 'fresh']);
      expect(asker.localRuns).to.deep.equal([]);
    });
  });
});
