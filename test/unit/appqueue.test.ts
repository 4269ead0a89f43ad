// The app requests of a burst wait their turn behind peer requests (lib/server/appqueue.ts): a queued
// request's handler must still run in the async context it arrived in, as instrumentation that
// wraps the server's 'request' event (tracing spans, AsyncLocalStorage) expects.
import { AsyncLocalStorage } from 'node:async_hooks';
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { geecache } from '../../lib/index.js';
import { closeServer } from '../helpers/index.js';

/** Requests of the burst; each handler keeps the event loop busy BURN_MS, far over one turn's slice. */
const BURST = 40;
const BURN_MS = 2;

describe('AppQueue: queued app requests keep their async context', () => {
  let server: Server;
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    if (server) await closeServer(server);
  });

  it('runs each handler of a burst in the context its request was emitted in', async () => {
    const als = new AsyncLocalStorage<{ path: string }>();
    const app = express();
    const cache = geecache({
      self: 'http://127.0.0.1:1',
      peers: ['http://127.0.0.1:1'],
      secret: false,
      logger: false,
      groups: { g: { maxBytes: 1 << 20, getter: (k) => k } },
    });
    close = () => cache.close();
    app.use(cache);
    app.get('/warm/:n', (_req, res) => res.send('ok'));
    app.get('/r/:n', (_req, res) => {
      const until = performance.now() + BURN_MS;
      while (performance.now() < until);
      res.send(als.getStore()?.path ?? 'no context');
    });
    server = http.createServer(app);
    // What a tracing library does: every 'request' event runs in a context of its own.
    const emit = server.emit.bind(server) as (event: string, ...args: unknown[]) => boolean;
    server.emit = ((event: string, ...args: unknown[]) => {
      if (event === 'request') return als.run({ path: (args[0] as http.IncomingMessage).url ?? '' }, () => emit(event, ...args));
      return emit(event, ...args);
    }) as Server['emit'];
    cache.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const agent = new http.Agent({ keepAlive: true, maxSockets: BURST });
    try {
      // The burst's sockets first, so that the burst reaches the server within one turn of its event loop.
      await Promise.all(Array.from({ length: BURST }, (_, i) => get(agent, `${url}/warm/${i}`)));
      const paths = Array.from({ length: BURST }, (_, i) => `/r/${i}`);
      const answers = await Promise.all(paths.map((path) => get(agent, url + path)));
      expect(answers).to.deep.equal(paths);
    } finally {
      agent.destroy();
    }
  });
});

function get(agent: http.Agent, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}
