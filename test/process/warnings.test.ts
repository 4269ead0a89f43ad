// Six failures that used to be silent, each now one warning that names the fix; a healthy
// cluster says nothing at warn. Peer A runs in this process with a logger the test reads; the
// faulty peer B is a real child process (test/fixtures/peer.mjs).

import diagnostics_channel from 'node:diagnostics_channel';
import net from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { type GeecacheOptions, geecache, type PeerErrorMessage } from '../../lib/index.js';
import { type ChildHandle, clockOffset, closeServer, freePort, startChildPeer, startCluster, startInProcessPeer, stopAll } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';

interface Logged {
  warn: string[];
  other: string[];
}

/** Peer A: an Express app in this process, listening, with a logger that records. */
async function startA(peersBesidesA: string[], extra: Partial<GeecacheOptions> = {}, port?: number) {
  const logged: Logged = { warn: [], other: [] };
  const peer = await startInProcessPeer(
    (self) => ({
      self,
      peers: [self, ...peersBesidesA],
      secret: SECRET,
      logger: { warn: (m) => logged.warn.push(m), error: (m) => logged.other.push(m), info: (m) => logged.other.push(m), debug: () => {} },
      groups: { scores: { maxBytes: 1 << 20, getter: (key) => `local:${key}` } },
      ...extra,
    }),
    { port, setup: ({ app }) => app.get('/get', async (req, res) => res.send((await req.cache.get(String(req.query.key))).toString())) },
  );
  return { ...peer, self: peer.url, logged };
}

/** Keys that A's ring gives to `owner`. */
function keysOwnedBy(cache: ReturnType<typeof geecache>, owner: string, n: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < n && i < 10_000; i++) if (cache.pool.ownerOf(`k${i}`) === owner) keys.push(`k${i}`);
  expect(keys).to.have.length(n);
  return keys;
}

/** Gets every key, one by one and then all at once (a batch), and checks each still answers. */
async function getAll(cache: ReturnType<typeof geecache>, keys: string[]): Promise<void> {
  for (const key of keys.slice(0, 5)) expect((await cache.get(key)).toString()).to.match(/^(local|value):/);
  const values = await Promise.all(keys.slice(5).map((key) => cache.get(key)));
  for (const value of values) expect(value.toString()).to.match(/^(local|value):/);
}

describe('warnings that name the fix', function () {
  this.timeout(30_000);
  let a: Awaited<ReturnType<typeof startA>> | undefined;
  let children: ChildHandle[] = [];

  afterEach(async () => {
    await a?.close();
    a = undefined;
    await stopAll(children);
    children = [];
  });

  /** Starts child peer B with `config`, and A listing it. */
  async function pair(config: Record<string, unknown>, nodeArgs: string[] = [], extraA: Partial<GeecacheOptions> = {}) {
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    const urlA = `http://127.0.0.1:${portA}`;
    const urlB = `http://127.0.0.1:${portB}`;
    const b = await startChildPeer({ port: portB, self: urlB, peers: [urlA, urlB], secret: SECRET, ...config }, { nodeArgs });
    children.push(b);
    a = await startA([urlB], extraA, portA);
    return { a, b, urlB };
  }

  it('different secrets: one warning, "the secrets differ"', async () => {
    const { a, urlB } = await pair({ secret: 'another-secret-9876543210' });
    await getAll(a.cache, keysOwnedBy(a.cache, urlB, 12));
    expect(a.logged.warn).to.have.length(1);
    expect(a.logged.warn[0]).to.include(`peer ${urlB} refused our signed request (401): the secrets differ`);
    expect(a.logged.warn[0]).to.include('Set the same secret on every peer');
    expect(a.cache.pool.getters().get(urlB)?.monitor.errors.unauthorized).to.be.at.least(2);
  });

  it('a peer\'s clock 6 minutes ahead: one warning, "the clocks are skewed by 360 s"', async () => {
    const { a, b, urlB } = await pair({}, clockOffset(6 * 60_000));
    await getAll(a.cache, keysOwnedBy(a.cache, urlB, 12));
    expect(a.logged.warn, b.output()).to.have.length(1);
    expect(a.logged.warn[0]).to.match(
      new RegExp(`peer ${urlB} refused our signed request \\(401\\): the clocks are skewed by 3(59|60|61) s \\(the peer is ahead`),
    );
    expect(a.logged.warn[0]).to.include('Synchronise the clocks');
  });

  it('a peer down: one warning, "is down or unreachable"', async () => {
    const urlB = `http://127.0.0.1:${await freePort()}`;
    a = await startA([urlB], { backoffMs: 0 });
    await getAll(a.cache, keysOwnedBy(a.cache, urlB, 12));
    expect(a.logged.warn).to.have.length(1);
    expect(a.logged.warn[0]).to.include(`peer ${urlB} is down or unreachable (ECONNREFUSED)`);
    expect(a.logged.warn[0]).to.include('remove it from peers on every instance');
    expect(a.cache.pool.getters().get(urlB)?.monitor.errors.refused).to.be.at.least(2);
  });

  it('a peer that accepts connections and never answers: one warning, "no answer within timeoutMs"', async () => {
    const sockets = new Set<net.Socket>();
    const stuck = net.createServer((socket) => sockets.add(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => stuck.listen(port, '127.0.0.1', resolve));
    const urlB = `http://127.0.0.1:${port}`;
    try {
      a = await startA([urlB], { timeoutMs: 200, backoffMs: 0 });
      await getAll(a.cache, keysOwnedBy(a.cache, urlB, 8));
      expect(a.logged.warn).to.have.length(1);
      expect(a.logged.warn[0]).to.include(`peer ${urlB} is down or stuck: no answer within timeoutMs (200 ms)`);
      expect(a.cache.pool.getters().get(urlB)?.monitor.errors.timeout).to.be.at.least(2);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => stuck.close(r));
    }
  });

  it('a peer without the group: one warning, "define the same groups on every peer"', async () => {
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    const [urlA, urlB] = [portA, portB].map((p) => `http://127.0.0.1:${p}`);
    children.push(await startChildPeer({ port: portB, self: urlB, peers: [urlA, urlB], secret: SECRET }));
    // A's only group is "other"; the child peer has only "scores".
    a = await startA([urlB], { groups: { other: { maxBytes: 1 << 20, getter: (key) => `local:${key}` } } }, portA);
    await getAll(a.cache, keysOwnedBy(a.cache, urlB, 12));
    expect(a.logged.warn).to.have.length(1);
    expect(a.logged.warn[0]).to.include(`peer ${urlB} answered "no such group: other": define the same groups on every peer`);
  });

  it('the middleware mounted under app.use(\'/api\', ...): one warning, "not mounted at the root"', async () => {
    const { a, urlB } = await pair({ mount: '/api', fastPath: false });
    await getAll(a.cache, keysOwnedBy(a.cache, urlB, 12));
    expect(a.logged.warn).to.have.length(1);
    expect(a.logged.warn[0]).to.include(
      `peer ${urlB} answered 404 for its peer route /_geecache/: the peer route is not mounted at the root of that app, or basePath differs`,
    );
    expect(a.logged.warn[0]).to.include("app.use(cache), not app.use('/api', cache)");
  });

  it('a rate limiter in front of geecache: one warning, "a rate limiter runs before geecache"', async () => {
    const { a, urlB } = await pair({ rateLimit: 2, fastPath: false });
    await getAll(a.cache, keysOwnedBy(a.cache, urlB, 12));
    expect(a.logged.warn).to.have.length(1);
    expect(a.logged.warn[0]).to.include(`peer ${urlB} answered 429 Too Many Requests: a rate limiter runs before geecache`);
    expect(a.logged.warn[0]).to.include('exempt /_geecache/ from it');
  });

  it('self naming another port than the server listens on: one warning at attach() and none at the first request', async () => {
    const [port, wrong] = await Promise.all([freePort(), freePort()]);
    const logged: string[] = [];
    const self = `http://127.0.0.1:${wrong}`;
    const cache = geecache({ self, logger: { warn: (m) => logged.push(m) }, groups: { scores: { maxBytes: 1 << 20, getter: (key) => key } } });
    const app = express();
    app.use(cache);
    app.get('/', (_req, res) => res.send('ok'));
    const server = app.listen(port, '127.0.0.1');
    cache.attach(server);
    try {
      await new Promise((r) => server.once('listening', r));
      expect(logged).to.have.length(1);
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(await res.text()).to.equal('ok');
      expect(logged).to.have.length(1);
      expect(logged[0]).to.include(`self is "http://127.0.0.1:${wrong}" (port ${wrong}) but this server listens on port ${port}`);
      expect(logged[0]).to.include('Set self to the URL the other peers reach this app at');
    } finally {
      cache.close();
      await closeServer(server);
    }
  });

  it('self naming another port: the first request warns when attach() was never called', async () => {
    const wrong = await freePort();
    a = await startA([], { self: `http://127.0.0.1:${wrong}`, peers: [`http://127.0.0.1:${wrong}`] });
    expect(a.logged.warn).to.have.length(0);
    const port = (a.server.address() as { port: number }).port;
    await fetch(`http://127.0.0.1:${port}/get?key=x`).then((r) => r.text());
    await fetch(`http://127.0.0.1:${port}/get?key=y`).then((r) => r.text());
    expect(a.logged.warn).to.have.length(1);
    expect(a.logged.warn[0]).to.include(`but this server listens on port ${port}`);
  });

  it('a healthy 3-peer cluster logs nothing at warn, in this process or in the children', async () => {
    const cluster = await startCluster(2);
    children = cluster.peers;
    a = await startA(cluster.urls);
    // Traffic both ways: A asks the children, the children ask A and each other.
    const keys = Array.from({ length: 60 }, (_, i) => `healthy-${i}`);
    await getAll(a.cache, keys);
    for (const peer of cluster.urls) {
      const answers = await Promise.all(keys.map((key) => fetch(`${peer}/get?key=${key}`).then((r) => r.status)));
      expect(answers.every((s) => s === 200)).to.equal(true);
    }
    expect(a.logged.warn).to.deep.equal([]);
    for (const child of children) expect(child.output()).not.to.include('[warn]');
    const requests = [...a.cache.pool.getters().values()].reduce((n, g) => n + g.monitor.requests, 0);
    expect(requests).to.be.greaterThan(0);
  });

  it('logger: false silences geecache; a logger without warn is a start-up error naming the option', async () => {
    const urlB = `http://127.0.0.1:${await freePort()}`;
    const original = console.warn;
    const seen: unknown[] = [];
    console.warn = (...args: unknown[]) => void seen.push(args);
    try {
      const cache = geecache({
        self: 'http://127.0.0.1:1',
        peers: ['http://127.0.0.1:1', urlB],
        secret: SECRET,
        logger: false,
        groups: { g: { maxBytes: 1000, getter: (k) => k } },
      });
      const key = keysOwnedBy(cache, urlB, 1)[0];
      expect((await cache.get(key)).toString()).to.equal(key);
      cache.close();
      expect(seen).to.deep.equal([]);
      // The default is the console.
      const loud = geecache({
        self: 'http://127.0.0.1:1',
        peers: ['http://127.0.0.1:1', urlB],
        secret: SECRET,
        groups: { g: { maxBytes: 1000, getter: (k) => k } },
      });
      await loud.get(key);
      loud.close();
      expect(seen).to.have.length(1);
      expect(String((seen[0] as unknown[])[0])).to.include('is down or unreachable');
    } finally {
      console.warn = original;
    }
    expect(() => geecache({ self: 'http://127.0.0.1:1', logger: {} as never, groups: { g: { maxBytes: 1, getter: (k) => k } } })).to.throw(
      /option "logger" must be an object with a warn method/,
    );
  });

  it('publishes peer request, peer error and load messages on diagnostics_channel, without options', async () => {
    const urlB = `http://127.0.0.1:${await freePort()}`;
    a = await startA([urlB]);
    const seen: Record<string, unknown[]> = { request: [], error: [], load: [] };
    const onRequest = (m: unknown) => seen.request.push(m);
    const onError = (m: unknown) => seen.error.push(m);
    const onLoad = (m: unknown) => seen.load.push(m);
    diagnostics_channel.subscribe('geecache:peer:request', onRequest);
    diagnostics_channel.subscribe('geecache:peer:error', onError);
    diagnostics_channel.subscribe('geecache:load', onLoad);
    try {
      const key = keysOwnedBy(a.cache, urlB, 1)[0];
      await a.cache.get(key);
    } finally {
      diagnostics_channel.unsubscribe('geecache:peer:request', onRequest);
      diagnostics_channel.unsubscribe('geecache:peer:error', onError);
      diagnostics_channel.unsubscribe('geecache:load', onLoad);
    }
    expect(seen.request).to.have.length(1);
    expect(seen.request[0]).to.include({ peer: urlB, method: 'GET', status: undefined });
    expect((seen.error[0] as PeerErrorMessage).cause).to.equal('refused');
    expect(seen.load).to.have.length(1);
    expect(seen.load[0]).to.include({ group: 'scores' });
  });
});
