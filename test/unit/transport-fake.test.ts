// The client transport (lib/client/httpgetter.ts) against raw loopback servers posing as peers: the
// shared byte budget of responses in flight, and no request after close().
import type http from 'node:http';
import { expect } from 'chai';
import { encodeGetResponse } from '../../lib/protocol/wire.js';
import { fakePeers, sleep } from '../helpers/index.js';

describe('transport against fake peers', function () {
  this.timeout(20_000);
  const fakes = fakePeers();
  /** An asker whose ring sends every key to `peer`. */
  const asker = (peer: string, extra: { maxResponseBytes?: number; timeoutMs?: number; batch?: boolean } = {}) => fakes.asker(peer, extra);

  it('caps the bytes of all responses in flight together: a response that does not fit is not read, and its get loads locally', async () => {
    const MAX = 1 << 20;
    const value = Buffer.alloc(900 << 10, 0x61); // 0.9 MiB: two fit in the budget (2 × maxResponseBytes), three do not
    const body = encodeGetResponse(value);
    const held: { res: http.ServerResponse; key: string }[] = [];
    const fake = await fakes.peer((req, res) => {
      const key = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length });
      res.write(body.subarray(0, 1024)); // the rest once released: the answer stays in flight
      held.push({ res, key });
    });
    const { group, localRuns } = asker(fake.url, { maxResponseBytes: MAX, timeoutMs: 10_000, batch: false });
    const keys = ['big:1', 'big:2', 'big:3', 'big:4', 'big:5'];
    const gets = keys.map((k) => group.get(k).then(String));
    // Bounded wait (20 s: a loaded machine) for the three that do not fit to load locally while two are still in flight.
    for (let i = 0; i < 2_000 && localRuns.length < 3; i++) await sleep(10);
    expect(held.length, 'the fake peer got every request').to.equal(5);
    expect(localRuns.length, 'gets refused by the budget, loaded locally while two answers are in flight').to.equal(3);
    for (const { res } of held) if (!res.destroyed) res.end(body.subarray(1024));
    const values = await Promise.all(gets);
    const fromPeer = keys.filter((_, i) => values[i] === value.toString());
    expect(fromPeer.length, 'answers read from the peer').to.equal(2);
    expect(keys.filter((k) => !fromPeer.includes(k)).sort()).to.deep.equal([...localRuns].sort());
    for (const k of localRuns) expect(values[keys.indexOf(k)]).to.equal(`local:${k}`);
    expect(group.stats.peerLoads).to.equal(2);
    // The budget is given back: the next answer of that size is read again.
    const next = group.get('big:6').then(String);
    for (let i = 0; i < 2_000 && held.length < 6; i++) await sleep(10);
    held[5].res.end(body.subarray(1024));
    expect(await next).to.equal(value.toString());
  });

  it('reads a GetResponse sent chunked (as Go sends values over 2 KB) into one buffer sized by its value field, expiry included', async () => {
    const value = Buffer.alloc(300 << 10, 0x62);
    const encodedAt = Date.now();
    const expiresAt = encodedAt + 3_600_000;
    const body = Buffer.from(encodeGetResponse(value, expiresAt, encodedAt));
    const fake = await fakes.peer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }); // no content-length: chunked
      for (let at = 0; at < body.length; at += 1000) res.write(body.subarray(at, at + 1000));
      res.end();
    });
    const { group, localRuns } = asker(fake.url, { batch: false });
    const got = await group.get('chunked');
    expect(Buffer.from(got.toString(), 'utf8').equals(value)).to.equal(true);
    // It carried the time left (an hour): on the asker's clock, an hour from when it was read.
    expect(got.expiresAt).to.be.within(expiresAt, expiresAt + (Date.now() - encodedAt));
    expect(localRuns).to.deep.equal([]);
  });

  it('refuses a chunked answer that is not a GetResponse at its first byte, and one whose value is over maxResponseBytes at its length', async () => {
    let written = 0;
    const fake = await fakes.peer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      const head = req.url?.endsWith('zeros') ? Buffer.alloc(0) : Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x04]); // a 1 GiB value
      res.write(head);
      const chunk = Buffer.alloc(64 << 10);
      const pump = (): void => {
        while (!res.destroyed && written < 256 << 20) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    const { group, localRuns } = asker(fake.url, { batch: false, maxResponseBytes: 1 << 20 });
    expect((await group.get('zeros')).toString()).to.equal('local:zeros');
    expect((await group.get('giant')).toString()).to.equal('local:giant');
    expect(localRuns).to.deep.equal(['zeros', 'giant']);
    expect(group.stats.peerErrors).to.equal(2);
  });

  for (const when of ['after close()', 'started in the same turn as close()'] as const) {
    it(`sends no request ${when}: gets load locally`, async () => {
      let requests = 0;
      const body = encodeGetResponse(Buffer.from('peer value'));
      const fake = await fakes.peer((_req, res) => {
        requests++;
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length }).end(body);
      });
      const { cache, group, localRuns } = asker(fake.url);
      expect((await group.get('before')).toString(), 'the peer is asked before close()').to.equal('peer value');
      expect(requests).to.equal(1);
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
      let gets: Promise<string>[] = [];
      if (when === 'after close()') {
        cache.close();
        gets = keys.map((k) => group.get(k).then(String));
      } else {
        gets = keys.map((k) => group.get(k).then(String));
        cache.close();
      }
      expect(await Promise.all(gets)).to.deep.equal(keys.map((k) => `local:${k}`));
      expect(localRuns).to.deep.equal(keys);
      await sleep(50); // anything sent would have arrived by now
      expect(requests, 'requests after close()').to.equal(1);
    });
  }
});
