// Ring agreement: every peer request carries a digest of the asker's membership; the server
// counts requests whose digest differs from its own, logs a spreading change at info and warns
// once when a disagreement lasts. Two in-process peers on real HTTP servers.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { type GeecacheMiddleware, geecache } from '../../lib/index.js';

const SECRET = 'agreement-test-secret-0123456789';

describe('ring agreement: peers compare membership digests', () => {
  const servers: http.Server[] = [];
  const caches: GeecacheMiddleware[] = [];
  afterEach(async () => {
    for (const c of caches.splice(0)) await c.close();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  async function twoPeers(): Promise<{ a: GeecacheMiddleware; b: GeecacheMiddleware; urls: string[]; logs: { info: string[]; warn: string[] } }> {
    const made = await Promise.all(
      [0, 1].map(async () => {
        const server = http.createServer();
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        servers.push(server);
        return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
      }),
    );
    const urls = made.map((m) => m.url);
    const logs = { info: [] as string[], warn: [] as string[] };
    const [a, b] = made.map(({ server, url }) => {
      const cache = geecache({
        self: url,
        peers: urls,
        secret: SECRET,
        logger: { warn: (m) => logs.warn.push(m), info: (m) => logs.info.push(m) },
        groups: { scores: { maxBytes: 1 << 20, getter: (key) => `value:${key}` } },
      });
      caches.push(cache);
      server.on('request', express().use(cache));
      return cache;
    });
    return { a, b, urls, logs };
  }

  const keysOwnedBy = (cache: GeecacheMiddleware, owner: string, n: number) =>
    Array.from({ length: 200 }, (_, i) => `k${i}`)
      .filter((k) => cache.pool.ownerOf(k) === owner)
      .slice(0, n);

  it('counts no disagreement while the peers have the same list', async () => {
    const { a, b, urls } = await twoPeers();
    for (const k of keysOwnedBy(a, urls[1], 5)) expect(String(await a.get(k))).to.equal(`value:${k}`);
    expect(b.membershipStats()).to.include({ ringChecked: 5, ringDisagreed: 0 });
  });

  it('counts requests from a peer with another list and says so at info; gets still take one hop', async () => {
    const { a, b, urls, logs } = await twoPeers();
    // A hears of a third peer that B does not know (a discovery answer B has not seen yet).
    a.pool.set(...urls, 'http://127.0.0.1:1');
    const keys = keysOwnedBy(a, urls[1], 5);
    for (const k of keys) expect(String(await a.get(k))).to.equal(`value:${k}`);
    expect(b.membershipStats()).to.include({ ringChecked: 5, ringDisagreed: 5 });
    expect(b.group('scores').stats.serverRequests).to.equal(5);
    expect(b.group('scores').stats.peerLoads + b.group('scores').stats.peerErrors, 'B forwarded nothing').to.equal(0);
    expect(logs.info.filter((m) => m.includes('membership change is spreading'))).to.have.length(1);
    expect(logs.warn.filter((m) => m.includes('membership'))).to.deep.equal([]);
  });
});
