// The Express middleware: routing between the peer route and the app, req.cache, instances.

import type { Server } from 'node:http';
import { expect } from 'chai';
import express5, { type Express, type NextFunction, type Request, type Response } from 'express';
// @ts-expect-error express 4 is installed under an alias for this test and has no types of its own here
import express4 from 'express4';
import request from 'supertest';
import { type GeecacheOptions, geecache } from '../../lib/index.js';
import { RequestSigner } from '../../lib/protocol/auth.js';
import { decodeGetResponse } from '../../lib/protocol/wire.js';
import { closeServer } from '../helpers/index.js';

const SECRET = 'middleware-test-secret-0123';

function options(loads: string[], extra: Partial<GeecacheOptions> = {}): GeecacheOptions {
  return {
    self: 'http://127.0.0.1:1',
    peers: ['http://127.0.0.1:1'],
    secret: SECRET,
    groups: {
      scores: {
        maxBytes: 1 << 20,
        getter: (key) => {
          loads.push(`scores:${key}`);
          return `score of ${key}`;
        },
      },
      posts: {
        maxBytes: 1 << 20,
        getter: async (key) => {
          loads.push(`posts:${key}`);
          return Buffer.from(JSON.stringify({ id: key }));
        },
      },
    },
    ...extra,
  };
}

/** A peer's signature: for this app's self (the target peer) and the request line. */
const signed = (path: string) => new RequestSigner(SECRET).sign('GET', `http://127.0.0.1:1${path}`);

for (const [version, express] of [
  ['Express 5', express5],
  ['Express 4', express4],
] as const) {
  describe(`geecache() middleware on ${version}`, () => {
    let loads: string[];
    let appRequests: number;
    let app: Express;
    let cache: ReturnType<typeof geecache>;

    beforeEach(() => {
      loads = [];
      appRequests = 0;
      cache = geecache(options(loads));
      app = express();
      app.use((_req: Request, _res: Response, next: NextFunction) => {
        appRequests++;
        next();
      });
      app.use(cache);
      app.get('/score/:name', async (req: Request, res: Response) => {
        res.send((await req.cache.get(String(req.params.name))).toString());
      });
      app.get('/post/:id', async (req: Request, res: Response) => {
        res.json((await req.cache.group('posts').get(String(req.params.id))).json());
      });
    });
    afterEach(() => cache.close());

    it('sets req.cache to the first group and lets app routes run', async () => {
      await request(app).get('/score/Tom').expect(200, 'score of Tom');
      await request(app).get('/score/Tom').expect(200, 'score of Tom');
      expect(loads).to.deep.equal(['scores:Tom']);
    });

    it('reaches other groups by name', async () => {
      await request(app).get('/post/7').expect(200, { id: '7' });
      expect(loads).to.deep.equal(['posts:7']);
      expect(() => cache.group('nope')).to.throw(/no group "nope"/);
    });

    it('answers signed peer requests with the protobuf wire format', async () => {
      const path = '/_geecache/scores/Jack%20Sparrow';
      const res = await request(app)
        .get(path)
        .set('x-geecache-auth', signed(path))
        .buffer(true)
        .parse((r, cb) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => cb(null, Buffer.concat(chunks)));
        });
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.equal('application/x-protobuf');
      expect(Buffer.from(decodeGetResponse(res.body)).toString()).to.equal('score of Jack Sparrow');
      expect(cache.group('scores').stats.serverRequests).to.equal(1);
    });

    it('refuses unsigned peer requests without running the getter', async () => {
      await request(app).get('/_geecache/scores/Tom').expect(401);
      await request(app).get('/_geecache/nope/Tom').set('x-geecache-auth', signed('/_geecache/nope/Tom')).expect(404, 'no such group: nope\n');
      expect(loads).to.deep.equal([]);
    });

    it('req.cache comes from the app (no per-request write): several instances in one process each serve their own app', async () => {
      const loadsB: string[] = [];
      const cacheB = geecache(options(loadsB, { groups: { scores: { maxBytes: 1 << 20, getter: (key) => `B has ${key}` } } }));
      const appB = express();
      appB.use(cacheB);
      const seen: boolean[] = [];
      appB.get('/score/:name', async (req: Request, res: Response) => {
        seen.push(Object.hasOwn(req, 'cache'));
        res.send((await req.cache.get(String(req.params.name))).toString());
      });
      try {
        for (let i = 0; i < 3; i++) {
          await request(app).get('/score/Tom').expect(200, 'score of Tom');
          await request(appB).get('/score/Tom').expect(200, 'B has Tom');
        }
        expect(seen, 'req.cache is found on the prototype, not written on each request').to.deep.equal([false, false, false]);
        expect(loads).to.deep.equal(['scores:Tom']);
        // A plain app without geecache has no req.cache.
        const plain = express();
        plain.get('/', (req: Request, res: Response) => res.send(String(req.cache)));
        await request(plain).get('/').expect(200, 'undefined');
      } finally {
        cacheB.close();
      }
    });

    it('req.cache reaches routes of a sub-app mounted under the app, and a handler may still assign req.cache', async () => {
      const sub = express();
      sub.get('/score/:name', async (req: Request, res: Response) => {
        res.send((await req.cache.get(String(req.params.name))).toString());
      });
      app.use('/sub', sub);
      app.get('/mine', (req: Request, res: Response) => {
        req.cache = { get: async () => ({ toString: () => 'my own' }) } as never;
        res.send('ok');
      });
      await request(app).get('/sub/score/Ann').expect(200, 'score of Ann');
      await request(app).get('/mine').expect(200, 'ok');
      await request(app).get('/score/Ann').expect(200, 'score of Ann'); // the assignment stayed on that request
      expect(loads).to.deep.equal(['scores:Ann']);
    });

    it('two geecache instances in one app: the later one answers req.cache, as before', async () => {
      const loadsB: string[] = [];
      const cacheB = geecache(options(loadsB, { groups: { scores: { maxBytes: 1 << 20, getter: (key) => `B has ${key}` } } }));
      const two = express();
      two.use(cache);
      two.use(cacheB);
      two.get('/score/:name', async (req: Request, res: Response) => {
        res.send((await req.cache.get(String(req.params.name))).toString());
      });
      try {
        for (let i = 0; i < 3; i++) await request(two).get('/score/Tom').expect(200, 'B has Tom');
      } finally {
        cacheB.close();
      }
    });

    it('serves peer requests ahead of Express once it has seen the server (fast path)', async () => {
      const server: Server = await new Promise((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      try {
        const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
        expect(await (await fetch(`${base}/score/Sam`)).text()).to.equal('score of Sam');
        expect(appRequests).to.equal(1);
        const path = '/_geecache/scores/Sam';
        const res = await fetch(base + path, { headers: { 'x-geecache-auth': signed(path) } });
        expect(res.status).to.equal(200);
        expect(Buffer.from(decodeGetResponse(new Uint8Array(await res.arrayBuffer()))).toString()).to.equal('score of Sam');
        expect(appRequests, 'Express did not see the peer request').to.equal(1);
        expect(await (await fetch(`${base}/score/Sam`)).text()).to.equal('score of Sam');
        expect(appRequests).to.equal(2);
      } finally {
        await closeServer(server);
      }
    });
  });
}

describe('geecache() instances', () => {
  it('do not share groups or caches', async () => {
    const loadsA: string[] = [];
    const loadsB: string[] = [];
    const a = geecache(options(loadsA));
    const b = geecache(options(loadsB, { self: 'http://127.0.0.1:2', peers: ['http://127.0.0.1:2'] }));
    await a.get('k');
    await a.get('k');
    await b.get('k');
    expect(loadsA).to.deep.equal(['scores:k']);
    expect(loadsB).to.deep.equal(['scores:k']);
    expect(a.group('scores')).to.not.equal(b.group('scores'));
    expect(a.group('scores').stats.cacheHits).to.equal(1);
    expect(b.group('scores').stats.cacheHits).to.equal(0);
  });

  it('stop answering peers after close()', async () => {
    const cache = geecache(options([]));
    const app = express5()
      .use(cache)
      .get('/x', (_req, res) => res.send('app'));
    cache.close();
    // The peer route is gone, so the request falls through to the app, which has no such route.
    await request(app).get('/_geecache/scores/Tom').expect(404);
  });

  it('change membership through pool.set', () => {
    const cache = geecache(options([]));
    const peers = ['http://127.0.0.1:1', 'http://127.0.0.1:3', 'http://127.0.0.1:4'];
    cache.pool.set(...peers);
    expect(cache.pool.peers()).to.deep.equal(peers);
    const owners = new Set(Array.from({ length: 100 }, (_, i) => cache.pool.ownerOf(`k${i}`)));
    expect([...owners].sort()).to.deep.equal(peers);
    cache.close();
  });
});
