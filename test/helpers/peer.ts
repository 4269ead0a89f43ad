// geecache peers inside the test process: each a real http.Server on 127.0.0.1 serving an Express
// app with the geecache middleware. (Peers in their own processes: test/helpers/child.mjs.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { type GeecacheMiddleware, type GeecacheOptions, type GroupOptions, geecache, type Ring } from '../../lib/index.js';

/** One in-process peer. */
export interface InProcessPeer {
  url: string;
  port: number;
  server: http.Server;
  app: Express;
  cache: GeecacheMiddleware;
  /** Closes the middleware (its peer connections), then the server. */
  close(): Promise<void>;
}

export interface PeerSetup {
  /** Options of http.createServer (e.g. headersTimeout). */
  serverOptions?: http.ServerOptions;
  /** Listen on this port instead of a free one (only with one peer). */
  port?: number;
  /** Call cache.attach(server) at once, so the fast path serves from the first request. */
  attach?: boolean;
  /** Runs once the middleware is mounted: add the app's routes, or listeners on the server. */
  setup?: (peer: InProcessPeer, index: number) => void;
}

/** Listens on 127.0.0.1 (`port`, or a free one) and returns the port. */
export async function listen(server: http.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Closes every connection of `server` (an idle keep-alive socket would hold close() open) and
 * resolves once it is closed.
 */
export async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Starts `n` peers. Every server listens before any middleware is made, so `options(self, urls, i)`
 * can give peer i a peer list naming all of them.
 */
export async function startInProcessPeers(
  n: number,
  options: (self: string, urls: string[], index: number) => GeecacheOptions,
  { serverOptions = {}, port, attach = false, setup }: PeerSetup = {},
): Promise<InProcessPeer[]> {
  if (port !== undefined && n !== 1) throw new Error('startInProcessPeers: a fixed port needs n = 1');
  const servers = Array.from({ length: n }, () => http.createServer(serverOptions));
  const ports = await Promise.all(servers.map((server) => listen(server, port)));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  return servers.map((server, i) => {
    const cache = geecache(options(urls[i], urls, i));
    const app = express();
    app.use(cache);
    server.on('request', app);
    if (attach) cache.attach(server);
    const peer: InProcessPeer = {
      url: urls[i],
      port: ports[i],
      server,
      app,
      cache,
      close: async () => {
        cache.close();
        await closeServer(server);
      },
    };
    setup?.(peer, i);
    return peer;
  });
}

/** One peer: startInProcessPeers(1, ...). */
export async function startInProcessPeer(options: (self: string) => GeecacheOptions, setup: PeerSetup = {}): Promise<InProcessPeer> {
  const [peer] = await startInProcessPeers(1, (self) => options(self), setup);
  return peer;
}

/** Closes peers one after the other. */
export async function closePeers(peers: InProcessPeer[]): Promise<void> {
  for (const peer of peers) await peer.close();
}

/**
 * A geecache instance (no server) whose ring sends every key to `peer`, for tests of the peer
 * client against a loopback server posing as the owner: group `scores` (no hot cache), whose
 * getter records each key it loads here in `localRuns` and answers `local:<key>`. `options` and
 * `group` add to or override those settings.
 */
export function askerOf(peer: string, options: Partial<GeecacheOptions> = {}, group: Partial<GroupOptions> = {}) {
  const self = 'http://127.0.0.1:9';
  const localRuns: string[] = [];
  const ring: Ring = { add() {}, remove() {}, get: () => peer, peers: () => [self, peer] };
  const cache = geecache({
    self,
    peers: [self, peer],
    secret: false,
    ring: () => ring,
    ...options,
    groups: {
      scores: {
        maxBytes: 64 << 20,
        hotCacheFraction: 0,
        getter: (key: string) => {
          localRuns.push(key);
          return `local:${key}`;
        },
        ...group,
      },
    },
  });
  return { cache, group: cache.group('scores'), localRuns };
}

/**
 * A raw loopback server posing as a peer, for tests of the peer client: `handle` answers each
 * request (a response's write errors, as when the asker hangs up, are ignored).
 */
export async function fakePeer(handle: http.RequestListener): Promise<{ url: string; server: http.Server; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.on('error', () => {});
    handle(req, res);
  });
  const url = `http://127.0.0.1:${await listen(server)}`;
  return { url, server, stop: () => closeServer(server) };
}

/**
 * Fake peers (fakePeer) and askers (askerOf) for the tests of one describe block, closed after
 * each test (mocha's afterEach): the askers first, so none asks a peer already stopped.
 */
export function fakePeers() {
  const stops: (() => Promise<void>)[] = [];
  const caches: GeecacheMiddleware[] = [];
  afterEach(async () => {
    for (const c of caches.splice(0)) c.close();
    for (const stop of stops.splice(0)) await stop();
  });
  return {
    peer: async (handle: http.RequestListener) => {
      const fake = await fakePeer(handle);
      stops.push(fake.stop);
      return fake;
    },
    asker: (...args: Parameters<typeof askerOf>) => {
      const asker = askerOf(...args);
      caches.push(asker.cache);
      return asker;
    },
  };
}
