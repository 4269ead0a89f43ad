// Peers with https:// URLs: two child peers serve TLS with a self-signed certificate made by the
// openssl CLI, and trust it through NODE_EXTRA_CA_CERTS; gets cross between them over TLS. A peer
// that does not trust the certificate must refuse it and load locally.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { type GeecacheMiddleware, geecache, type Ring } from '../../lib/index.js';
import { mustFind, needs, startCluster } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';

describe('https peers (child processes)', function () {
  this.timeout(30_000);
  let dir: string | undefined;
  let ca: Buffer;
  let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
  let urls: string[];
  const caches: GeecacheMiddleware[] = [];

  /** GET over https, trusting only our certificate (this process has no NODE_EXTRA_CA_CERTS). */
  const get = (url: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      https
        .get(url, { ca, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  const text = async (url: string) => (await get(url)).body;
  const json = async (url: string) => JSON.parse(await text(url)) as Record<string, number>;
  const getVia = (peer: string, key: string) => get(`${peer}/get?key=${encodeURIComponent(key)}`);

  before(async function () {
    needs(this, 'openssl');
    dir = mkdtempSync(join(tmpdir(), 'geecache-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const made = spawnSync(
      mustFind('openssl'),
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0) {
      console.log(`      skipped: openssl could not make a certificate: ${made.stderr.trim()}`);
      return this.skip();
    }
    ca = readFileSync(cert);
    cluster = await startCluster(2, { tls: { key, cert }, timeoutMs: 5_000 }, { NODE_EXTRA_CA_CERTS: cert });
    urls = cluster.urls;
  });

  after(async () => {
    for (const c of caches) c.close();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves https only', async () => {
    expect(urls.every((u) => u.startsWith('https://127.0.0.1:'))).to.equal(true);
    expect(await text(`${urls[0]}/get?key=hello`)).to.equal('value:hello');
    const plain = await fetch(`${urls[0].replace('https:', 'http:')}/get?key=hello`).then(
      (res) => `answered ${res.status}`,
      (err: Error) => `failed: ${err.message}`,
    );
    expect(plain).to.match(/^failed/);
  });

  it('fetches a key from its owner over TLS', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `tls-${i}`);
    const owners = await Promise.all(keys.map((k) => text(`${urls[0]}/_test/owner?key=${k}`)));
    const key = keys.find((_, i) => owners[i] === urls[1])!;
    expect(key, 'a key owned by the second peer').to.be.a('string');
    const before = await json(`${urls[0]}/_test/stats`);
    expect(await getVia(urls[0], key)).to.deep.equal({ status: 200, body: `value:${key}` });
    const asker = await json(`${urls[0]}/_test/stats`);
    expect(asker.peerLoads - before.peerLoads, 'fetched from the peer').to.equal(1);
    expect(asker.peerErrors - before.peerErrors).to.equal(0);
    expect((await json(`${urls[1]}/_test/loads`))[key], 'loaded by the owner').to.equal(1);
    expect((await json(`${urls[0]}/_test/loads`))[key], 'not loaded by the asker').to.equal(undefined);
  });

  it('answers 120 concurrent gets across both peers over TLS, each key loaded once', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `tls-many-${i}`);
    const answers = await Promise.all(keys.flatMap((k) => urls.map((u) => getVia(u, k))));
    expect(answers.every((a, i) => a.status === 200 && a.body === `value:${keys[i >> 1]}`)).to.equal(true);
    const loads = await Promise.all(urls.map((u) => json(`${u}/_test/loads`)));
    for (const k of keys) expect((loads[0][k] ?? 0) + (loads[1][k] ?? 0), k).to.equal(1);
    const stats = await Promise.all(urls.map((u) => json(`${u}/_test/stats`)));
    expect(stats.map((s) => s.peerErrors)).to.deep.equal([0, 0]);
    expect(stats[0].peerLoads + stats[1].peerLoads).to.be.greaterThan(10);
  });

  it('refuses a peer whose certificate it does not trust, and loads locally', async () => {
    // This process was started without NODE_EXTRA_CA_CERTS: the self-signed certificate is unknown here.
    const self = 'https://127.0.0.1:9';
    const target = urls[1];
    const ring: Ring = { add() {}, remove() {}, get: () => target, peers: () => [self, target] };
    const localRuns: string[] = [];
    const cache = geecache({
      self,
      peers: [self, target],
      secret: SECRET,
      ring: () => ring,
      groups: {
        scores: {
          maxBytes: 1 << 20,
          getter: (key) => {
            localRuns.push(key);
            return `value:${key}`;
          },
        },
      },
    });
    caches.push(cache);
    const served = (await json(`${target}/_test/stats`)).serverRequests;
    expect(String(await cache.group('scores').get('untrusted'))).to.equal('value:untrusted');
    expect(localRuns).to.deep.equal(['untrusted']);
    expect(cache.group('scores').stats.peerErrors).to.equal(1);
    expect((await json(`${target}/_test/stats`)).serverRequests, 'no request got through').to.equal(served);
  });
});
