// Mutual TLS between peers with a private CA, on both transports: certificates made by the openssl
// CLI at test time (a CA, a server certificate for 127.0.0.1, a client certificate the CA signed
// and a self-signed one); peers in this process on real HTTPS servers that ask for a client
// certificate (requestCert) but let the app's own users in without one. Signed requests work over
// mutual TLS; a peer without a certificate the CA signed reads nothing, and is told why.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import express from 'express';
import { ConfigError, type GeecacheMiddleware, type GeecacheOptions, geecache } from '../../lib/index.js';
import { RequestSigner } from '../../lib/protocol/auth.js';
import { AUTH_HEADER, CLIENT_CERT_REFUSED } from '../../lib/protocol/headers.js';
import { mustFind, needs } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';

/** PEM files made by openssl, read. */
interface Certs {
  ca: Buffer;
  serverKey: Buffer;
  server: Buffer;
  clientKey: Buffer;
  client: Buffer;
  rogueKey: Buffer;
  rogue: Buffer;
  /** A server certificate for the DNS name geecache.internal only (peers reached by IP then need tls.servername). */
  namedKey: Buffer;
  named: Buffer;
}

/** Makes the certificates in `dir` with the openssl CLI; throws with openssl's words if it fails. */
function makeCerts(dir: string): Certs {
  const openssl = mustFind('openssl');
  const run = (...args: string[]) => {
    const made = spawnSync(openssl, args, { cwd: dir, encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${made.stderr}`);
  };
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(
    'req',
    '-x509',
    ...newKey,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=geecache test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  /** A certificate for `name` signed by the CA, with these extensions. */
  const signed = (name: string, extensions: string) => {
    writeFileSync(join(dir, `${name}.ext`), extensions);
    run('req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      String(Date.now()),
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    );
  };
  signed('server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  signed('client', 'extendedKeyUsage=clientAuth\n');
  signed('named', 'subjectAltName=DNS:geecache.internal\nextendedKeyUsage=serverAuth\n');
  // The same subject as a real peer's, but signed by itself, not by the CA.
  run('req', '-x509', ...newKey, '-keyout', 'rogue.key', '-out', 'rogue.pem', '-days', '2', '-subj', '/CN=client', '-addext', 'extendedKeyUsage=clientAuth');
  const read = (name: string) => readFileSync(join(dir, name));
  return {
    ca: read('ca.pem'),
    serverKey: read('server.key'),
    server: read('server.pem'),
    clientKey: read('client.key'),
    client: read('client.pem'),
    rogueKey: read('rogue.key'),
    rogue: read('rogue.pem'),
    namedKey: read('named.key'),
    named: read('named.pem'),
  };
}

/** A peer of this test: an HTTPS server (requestCert, not rejectUnauthorized) serving an app with geecache. */
interface Peer {
  url: string;
  cache: GeecacheMiddleware;
  /** Keys this peer's getter loaded. */
  loads: string[];
  warnings: string[];
  close(): Promise<void>;
}

describe('mutual TLS between peers (a private CA made by openssl)', function () {
  this.timeout(30_000);
  let dir: string | undefined;
  let certs: Certs;

  before(function () {
    needs(this, 'openssl');
    dir = mkdtempSync(join(tmpdir(), 'geecache-mtls-'));
    certs = makeCerts(dir);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** HTTPS servers listening on free ports, before any middleware is made (peers name each other). */
  async function listen(n: number, named = false) {
    const servers = Array.from({ length: n }, () =>
      // The app's users have no client certificate: the server asks for one and lets them in
      // without (rejectUnauthorized: false); geecache's tls.requireClientCert guards the peer route.
      https.createServer({
        key: named ? certs.namedKey : certs.serverKey,
        cert: named ? certs.named : certs.server,
        ca: certs.ca,
        requestCert: true,
        rejectUnauthorized: false,
      }),
    );
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
    return servers.map((server) => ({ server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  }

  /** Serves geecache made with `options` on `server`. */
  function serve(server: https.Server, url: string, options: (loads: string[], warnings: string[]) => GeecacheOptions): Peer {
    const loads: string[] = [];
    const warnings: string[] = [];
    const cache = geecache(options(loads, warnings));
    const app = express();
    app.use(cache);
    app.get('/hello', (_req, res) => res.send('hello'));
    server.on('request', app);
    return {
      url,
      cache,
      loads,
      warnings,
      close: async () => {
        cache.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  /** Peer options: this peer's `self`, its list, its tls option and transport. */
  const peerOptions =
    (self: string, peers: string[], tls: GeecacheOptions['tls'], transport: GeecacheOptions['transport']) =>
    (loads: string[], warnings: string[]): GeecacheOptions => ({
      self,
      peers,
      secret: SECRET,
      transport,
      tls,
      logger: { warn: (m) => warnings.push(m), error: (m) => warnings.push(m), info: () => {}, debug: () => {} },
      groups: {
        scores: {
          maxBytes: 1 << 20,
          getter: (key) => {
            loads.push(key);
            return `${self}:${key}`;
          },
        },
      },
    });

  /** Keys that `cache`'s ring gives to `owner`. */
  const keysOwnedBy = (cache: GeecacheMiddleware, owner: string, n: number, prefix: string) => {
    const keys: string[] = [];
    for (let i = 0; keys.length < n && i < 10_000; i++) if (cache.pool.ownerOf(`${prefix}${i}`) === owner) keys.push(`${prefix}${i}`);
    return keys;
  };

  /** A GET of `url` over TLS trusting the CA, presenting `cert` (or none), optionally signed for geecache's peer route. */
  const request = (url: string, client: { cert: Buffer; key: Buffer } | undefined, signed: boolean): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = signed ? { [AUTH_HEADER]: new RequestSigner(SECRET).sign('GET', url) } : {};
      https
        .get(url, { ca: certs.ca, ...client, headers, agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });

  for (const transport of ['node-fetch', 'undici'] as const) {
    describe(`over ${transport}`, () => {
      let peers: Peer[] = [];
      afterEach(async () => {
        for (const peer of peers) await peer.close();
        peers = [];
      });

      it('signed gets, batches and stats cross between two peers presenting client certificates the CA signed', async () => {
        const [a, b] = await listen(2);
        const urls = [a.url, b.url];
        const tls = { ca: certs.ca, cert: certs.client, key: certs.clientKey, requireClientCert: true };
        peers = [serve(a.server, a.url, peerOptions(a.url, urls, tls, transport)), serve(b.server, b.url, peerOptions(b.url, urls, tls, transport))];
        const [asker, owner] = peers;
        const [alone, ...together] = keysOwnedBy(asker.cache, owner.url, 4, 'mtls');
        expect(String(await asker.cache.get(alone))).to.equal(`${owner.url}:${alone}`);
        expect((await Promise.all(together.map((k) => asker.cache.get(k)))).map(String)).to.deep.equal(together.map((k) => `${owner.url}:${k}`));
        expect(owner.loads).to.deep.equal([alone, ...together]);
        expect(asker.loads, 'nothing loaded on the asker').to.deep.equal([]);
        expect(
          (
            await asker.cache.pool
              .getters()
              .get(owner.url)!
              .stats(1 << 20)
          ).status,
          'the stats request',
        ).to.equal(200);
        expect(asker.cache.pool.getters().get(owner.url)!.monitor.errors).to.deep.equal({});
        expect([...asker.warnings, ...owner.warnings]).to.deep.equal([]);
      });

      it('tls.servername: peers reached by IP whose certificates name a DNS name', async () => {
        const [a, b] = await listen(2, true);
        const urls = [a.url, b.url];
        const tls = { ca: certs.ca, cert: certs.client, key: certs.clientKey, requireClientCert: true };
        const named = { ...tls, servername: 'geecache.internal' };
        peers = [serve(a.server, a.url, peerOptions(a.url, urls, tls, transport)), serve(b.server, b.url, peerOptions(b.url, urls, named, transport))];
        const [plain, asNamed] = peers;
        const [fromPlain] = keysOwnedBy(plain.cache, asNamed.url, 1, 'plain');
        const [fromNamed] = keysOwnedBy(asNamed.cache, plain.url, 1, 'named');
        expect(String(await asNamed.cache.get(fromNamed)), 'with servername').to.equal(`${plain.url}:${fromNamed}`);
        expect(String(await plain.cache.get(fromPlain)), 'without: the certificate does not name 127.0.0.1').to.equal(`${plain.url}:${fromPlain}`);
        expect(plain.warnings.join('\n')).to.match(/the TLS handshake failed \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
        expect(asNamed.warnings).to.deep.equal([]);
      });

      it('a peer presenting a self-signed client certificate reads nothing: refused with 401, it loads locally and says why', async () => {
        const [rogueServer, b] = await listen(2);
        const tls = { ca: certs.ca, cert: certs.client, key: certs.clientKey, requireClientCert: true };
        const owner = serve(b.server, b.url, peerOptions(b.url, [b.url], tls, transport));
        // Same secret, same CA trusted: only its client certificate is not the CA's.
        const rogue = serve(
          rogueServer.server,
          rogueServer.url,
          peerOptions(rogueServer.url, [rogueServer.url, b.url], { ca: certs.ca, cert: certs.rogue, key: certs.rogueKey }, transport),
        );
        peers = [owner, rogue];
        const keys = keysOwnedBy(rogue.cache, owner.url, 3, 'rogue');
        for (const key of keys) expect(String(await rogue.cache.get(key))).to.equal(`${rogue.url}:${key}`);
        expect(owner.loads, 'no getter ran on the owner').to.deep.equal([]);
        expect(rogue.loads).to.deep.equal(keys);
        expect(
          (
            await rogue.cache.pool
              .getters()
              .get(owner.url)!
              .stats(1 << 20)
          ).status,
          'the stats request',
        ).to.equal(401);
        expect(rogue.warnings).to.have.length(1);
        expect(rogue.warnings[0]).to.include(`peer ${owner.url} refused our request (401): ${CLIENT_CERT_REFUSED}`);
        expect(rogue.warnings[0]).to.include('DEPTH_ZERO_SELF_SIGNED_CERT');
        expect(rogue.warnings[0]).to.include('Give this peer tls.cert and tls.key');
      });
    });
  }

  it("the peer route asks for a verified client certificate, whatever the signature; the app's own routes do not", async () => {
    const [b] = await listen(1);
    const tls = { ca: certs.ca, cert: certs.client, key: certs.clientKey, requireClientCert: true };
    const owner = serve(b.server, b.url, peerOptions(b.url, [b.url], tls, 'node-fetch'));
    try {
      const target = `${b.url}/_geecache/scores/direct`;
      const good = { cert: certs.client, key: certs.clientKey };
      const ok = await request(target, good, true);
      expect(ok.status, 'the CA-signed certificate, signed').to.equal(200);
      expect(ok.body).to.include(`${b.url}:direct`);
      const unsigned = await request(target, good, false);
      expect(unsigned.status, 'the CA-signed certificate, unsigned').to.equal(401);
      expect(unsigned.body).to.match(/^unauthorized: missing or invalid peer signature/);
      const rogue = await request(target, { cert: certs.rogue, key: certs.rogueKey }, true);
      expect(rogue.status).to.equal(401);
      expect(rogue.body).to.equal(
        `${CLIENT_CERT_REFUSED} signed by a CA its HTTPS server trusts: the one presented was refused (DEPTH_ZERO_SELF_SIGNED_CERT)\n`,
      );
      const none = await request(target, undefined, true);
      expect(none.status).to.equal(401);
      expect(none.body).to.include('none was presented');
      expect(owner.loads, 'only the signed request with a verified certificate loaded').to.deep.equal(['direct']);
      expect(await request(`${b.url}/hello`, undefined, false), 'a user without a certificate').to.deep.equal({ status: 200, body: 'hello' });
    } finally {
      await owner.close();
    }
  });

  it("a peer that does not trust the peers' CA refuses their server certificate, loads locally, and the warning names tls.ca", async () => {
    const [a, b] = await listen(2);
    const urls = [a.url, b.url];
    const owner = serve(b.server, b.url, peerOptions(b.url, urls, { ca: certs.ca, cert: certs.client, key: certs.clientKey }, 'node-fetch'));
    // A client certificate, but Node's default CAs only.
    const asker = serve(a.server, a.url, peerOptions(a.url, urls, { cert: certs.client, key: certs.clientKey }, 'node-fetch'));
    try {
      const [key] = keysOwnedBy(asker.cache, owner.url, 1, 'untrusted');
      expect(String(await asker.cache.get(key))).to.equal(`${asker.url}:${key}`);
      expect(owner.loads).to.deep.equal([]);
      expect(asker.cache.pool.getters().get(owner.url)!.monitor.errors.tls).to.equal(1);
      expect(asker.warnings, asker.warnings.join('\n')).to.have.length(1);
      expect(asker.warnings[0]).to.match(
        new RegExp(
          `peer ${owner.url}: the TLS handshake failed \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\); its keys are loaded locally`,
        ),
      );
      expect(asker.warnings[0]).to.include('tls.ca');
      expect(asker.warnings[0], 'no key in a warning').to.not.include(key);
    } finally {
      await asker.close();
      await owner.close();
    }
  });

  describe('the tls option is checked at start-up', () => {
    const base = (tls: unknown, self = 'https://127.0.0.1:3000'): GeecacheOptions =>
      ({ self, secret: SECRET, groups: { scores: { maxBytes: 1 << 20, getter: () => 'x' } }, tls }) as GeecacheOptions;
    const refused = (tls: unknown, message: RegExp, self?: string) => expect(() => geecache(base(tls, self))).to.throw(ConfigError, message);

    it('names the field and the fix', () => {
      refused({ certs: certs.client }, /option "tls\.certs" is not an option \(did you mean "cert"\?\)/);
      refused({ requireClientcert: true }, /did you mean "requireClientCert"/);
      refused('yes', /option "tls" must be an object such as \{ ca, cert, key \}/);
      refused(
        { ca: 'certs/ca.pem' },
        /option "tls\.ca" must be PEM text.*looks like a file name: pass the file's contents, fs\.readFileSync\("certs\/ca\.pem"\)/,
      );
      refused({ ca: [] }, /option "tls\.ca" must not be an empty list/);
      refused({ ca: certs.clientKey }, /option "tls\.ca" holds no PEM certificate/);
      refused({ ca: 42 }, /option "tls\.ca" must be PEM text \(a string or Buffer\), or a list of them; got number/);
      refused(
        { ca: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n' },
        /option "tls\.ca" could not be read as a PEM certificate \(certificate 1\)/,
      );
      refused({ cert: certs.client }, /option "tls\.cert" needs its pair: give both tls\.cert .* and tls\.key/);
      refused({ cert: certs.client, key: certs.rogueKey }, /option "tls\.cert" and tls\.key could not be used together/);
      refused({ servername: '10.0.0.1' }, /option "tls\.servername" must be a DNS name/);
      refused({ requireClientCert: 'yes' }, /option "tls\.requireClientCert" must be true or false/);
      refused({ ca: certs.ca, requireClientCert: true }, /option "tls\.requireClientCert" needs tls\.cert and tls\.key/);
      refused({ cert: certs.client, key: certs.clientKey, requireClientCert: true }, /needs self to be an https:\/\/ URL/, 'http://127.0.0.1:3000');
    });

    it('takes PEM strings, Buffers and lists of them', () => {
      for (const tls of [
        { ca: certs.ca },
        { ca: certs.ca.toString() },
        { ca: [certs.ca, certs.rogue.toString()], cert: certs.client, key: certs.clientKey, servername: 'geecache.internal', requireClientCert: true },
      ])
        geecache(base(tls)).close();
    });
  });
});
