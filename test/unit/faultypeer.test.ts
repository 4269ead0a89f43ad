// A peer that misbehaves in every way a network peer can: the asking side must fall back to
// its own getter (or, for the owner's getter error, report it), on time, with bounded memory.
// Also: clients that hang up while a load is running must not cancel or crash it.

import http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import { type GeecacheMiddleware, geecache, OwnerLoadError, type Ring } from '../../lib/index.js';
import { BATCH_CONTENT_TYPE } from '../../lib/protocol/headers.js';
import { decodeBatchRequest, encodeBatchRequest, encodeBatchResponse, encodeGetResponse } from '../../lib/protocol/wire.js';
import { closeServer, type InProcessPeer, listen, sleep, startInProcessPeer, until } from '../helpers/index.js';

const TIMEOUT_MS = 500;
const MAX_RESPONSE_BYTES = 1 << 20;
const HUGE_BYTES = 200 << 20;
/** A peer URL nobody listens on: the requesting side never serves, it only asks. */
const SELF = 'http://127.0.0.1:9';

/** A protobuf varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** Streams a GetResponse whose value is `total` bytes, honouring backpressure; counts what it wrote. */
function streamHuge(res: http.ServerResponse, total: number, counter: { sent: number }): void {
  const header = Buffer.concat([Buffer.from([0x0a]), varint(total)]);
  const chunk = Buffer.alloc(64 << 10, 0x41);
  res.write(header);
  let sent = 0;
  const pump = (): void => {
    while (sent < total && !res.destroyed) {
      sent += chunk.length;
      counter.sent = sent;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse) => void;

describe('faulty peer', function () {
  this.timeout(20_000);
  let server: http.Server;
  let fakeUrl: string;
  /** Requests the fake peer received, by mode. */
  const received: Record<string, number> = {};
  const huge = { sent: 0 };
  const hugeCl = { sent: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const caches: GeecacheMiddleware[] = [];

  const behaviours: Record<string, Behaviour> = {
    reset: (req) => void req.socket.destroy(),
    ok: (_req, res) => {
      const body = encodeGetResponse(Buffer.from('peer value'));
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length }).end(body);
    },
    garbage: (_req, res) => {
      // "cant skip wire type 4" / "premature EOF" for any protobuf reader.
      const body = Buffer.from([0x74, 0x68, 0x69, 0x73, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length }).end(body);
    },
    truncated: (_req, res) => {
      const body = encodeGetResponse(Buffer.alloc(4096, 0x42));
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length });
      res.write(body.subarray(0, 100));
      const t = setTimeout(() => res.socket?.destroy(), 30);
      timers.add(t);
    },
    huge: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }); // chunked: no length to check up front
      streamHuge(res, HUGE_BYTES, huge);
    },
    hugecl: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': HUGE_BYTES + 1 + varint(HUGE_BYTES).length });
      streamHuge(res, HUGE_BYTES, hugeCl);
    },
    // A process that stopped (SIGSTOP): the kernel accepts, nobody answers — this request nor any
    // other (the asker's liveness probe included) until the asker gives up on it.
    hang: (_req, res) => freeze(res),
    wrongtype: (_req, res) => {
      const body = encodeGetResponse(Buffer.from('peer value'));
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length }).end(body);
    },
    error500: (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('internal server error\n');
    },
    getter500: (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'x-geecache-error': 'getter' }).end('db is down\n');
    },
    notfound: (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
    },
    drip: (_req, res) => {
      const body = encodeGetResponse(Buffer.alloc(1000, 0x43));
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': body.length });
      let i = 0;
      const t = setInterval(() => {
        if (res.destroyed || i >= body.length) return void clearInterval(t);
        res.write(body.subarray(i, i + 1));
        i++;
      }, 50);
      timers.add(t);
      res.on('close', () => clearInterval(t));
    },
  };

  /** Answers to a batch request (POST {basePath}), by the mode of its first key. */
  const batchBehaviours: Record<string, (res: http.ServerResponse, keys: string[]) => void> = {
    bgarbage: (res) => {
      const body = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]);
      res.writeHead(200, { 'content-type': BATCH_CONTENT_TYPE, 'content-length': body.length }).end(body);
    },
    bshort: (res) => {
      const body = encodeBatchResponse([{ ok: true, value: Buffer.from('peer value') }]); // one result for two gets
      res.writeHead(200, { 'content-type': BATCH_CONTENT_TYPE, 'content-length': body.length }).end(body);
    },
    bwrongtype: (res, keys) => {
      const body = encodeBatchResponse(keys.map(() => ({ ok: true as const, value: Buffer.from('peer value') })));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
    },
    b500: (res) => void res.writeHead(500, { 'content-type': 'text/plain' }).end('internal server error\n'),
    bhang: (res) => freeze(res),
  };
  /** Requests of a stopped peer still open: while any is, the fake answers nothing. */
  let frozen = 0;
  const freeze = (res: http.ServerResponse) => {
    frozen++;
    res.on('close', () => frozen--);
  };

  before(async () => {
    server = http.createServer((req, res) => {
      res.on('error', () => {});
      // Every request is counted as it arrives, also while the peer is frozen (then it gets no answer).
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const keys = decodeBatchRequest(Buffer.concat(chunks)).map((item) => item.key);
          const mode = keys[0].split(':')[0];
          received[`POST ${mode}`] = (received[`POST ${mode}`] ?? 0) + 1;
          if (frozen > 0) return freeze(res);
          batchBehaviours[mode](res, keys);
        });
        return;
      }
      const key = decodeURIComponent((req.url ?? '').split('/').pop() ?? '');
      const mode = key.split(':')[0];
      received[mode] = (received[mode] ?? 0) + 1;
      if (frozen > 0) return freeze(res);
      (behaviours[mode] ?? behaviours.notfound)(req, res);
    });
    fakeUrl = `http://127.0.0.1:${await listen(server)}`;
  });

  // An asker that marked the fake peer down keeps probing it (half-open): close each one after its
  // test, so that its probes cannot freeze the fake peer while the next test runs.
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
  });

  after(async () => {
    for (const t of timers) clearTimeout(t);
    await closeServer(server);
  });

  /** A fresh requesting peer (own backoff state) whose ring sends every key to the fake peer. */
  function asker() {
    const localRuns: string[] = [];
    const ring: Ring = { add() {}, remove() {}, get: () => fakeUrl, peers: () => [SELF, fakeUrl] };
    const cache = geecache({
      self: SELF,
      peers: [SELF, fakeUrl],
      secret: false,
      ring: () => ring,
      timeoutMs: TIMEOUT_MS,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      backoffMs: 60_000,
      groups: {
        scores: {
          maxBytes: 1 << 20,
          hotCacheFraction: 0,
          getter: (key) => {
            localRuns.push(key);
            if (key.startsWith('getter500')) return 'the local getter must not run';
            return `local:${key}`;
          },
        },
      },
    });
    caches.push(cache);
    /** Requests to the fake peer that the asker's client gave up on at timeoutMs. */
    const timeouts = () => cache.pool.getters().get(fakeUrl)?.monitor.errors.timeout ?? 0;
    return { cache, group: cache.group('scores'), localRuns, timeouts };
  }

  it('(control) takes a well-formed answer from the fake peer without running the getter', async () => {
    const { group, localRuns } = asker();
    expect((await group.get('ok:1')).toString()).to.equal('peer value');
    expect(localRuns).to.deep.equal([]);
    expect(group.stats.peerLoads).to.equal(1);
    expect(group.stats.peerErrors).to.equal(0);
  });

  // Answers that come back fast but wrong: fall back at once, and keep asking the peer.
  const fastFailures: [string, string][] = [
    ['garbage', '(a) garbage bytes labelled application/x-protobuf'],
    ['truncated', '(b) a protobuf cut short: content-length larger than sent, then the socket destroyed'],
    ['wrongtype', '(e) a wrong content type'],
    ['error500', '(f) a 500 without x-geecache-error (ambiguous, as from Go groupcache)'],
    ['notfound', '(h) a 404'],
  ];
  for (const [mode, title] of fastFailures) {
    it(`falls back to the local getter on ${title}`, async () => {
      const { group, localRuns, timeouts } = asker();
      const before = received[mode] ?? 0;
      expect((await group.get(`${mode}:1`)).toString()).to.equal(`local:${mode}:1`);
      expect(timeouts(), 'fell back at once, not at timeoutMs').to.equal(0);
      expect(localRuns).to.deep.equal([`${mode}:1`]);
      expect(group.stats.peerErrors).to.equal(1);
      expect(group.stats.peerLoads).to.equal(0);
      expect(received[mode]).to.equal(before + 1);
      // The value is now cached: no second trip, no second getter run.
      expect((await group.get(`${mode}:1`)).toString()).to.equal(`local:${mode}:1`);
      expect(localRuns.length).to.equal(1);
      // A peer that answers (badly) is not a dead peer: the next key is asked again, unless the
      // socket died mid-body, which may count as a connection failure.
      await group.get(`${mode}:2`);
      if (mode !== 'truncated') expect(received[mode]).to.equal(before + 2);
    });
  }

  for (const [mode, counter, title] of [
    ['huge', huge, 'chunked'],
    ['hugecl', hugeCl, 'with its content-length announced'],
  ] as const) {
    it(`(c) stops reading a 200 MB body (${title}) at maxResponseBytes (1 MB) and falls back, with bounded memory`, async () => {
      const { cache, group, localRuns, timeouts } = asker();
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const value = await group.get(`${mode}:1`).finally(() => clearInterval(sampler));
      peak = Math.max(peak, process.memoryUsage().rss);
      await sleep(100); // let the server notice the closed socket
      expect(value.toString()).to.equal(`local:${mode}:1`);
      expect(localRuns).to.deep.equal([`${mode}:1`]);
      expect(group.stats.peerErrors).to.equal(1);
      // Counted (and warned) as an answer too large, not as a peer that timed out.
      expect(cache.pool.getters().get(fakeUrl)?.monitor.errors.too_large, 'counted as too large').to.equal(1);
      expect(timeouts(), 'not counted as a timeout').to.equal(0);
      const growthMb = (peak - rssBefore) / (1 << 20);
      const sentMb = counter.sent / (1 << 20);
      console.log(`      ${mode}: RSS growth ${growthMb.toFixed(1)} MB, peer wrote ${sentMb.toFixed(1)} MB before the client hung up`);
      expect(growthMb, 'RSS growth (MB)').to.be.below(64);
      expect(sentMb, 'MB the peer managed to write before the client hung up').to.be.below(64);
    });
  }

  it('(d) gives up on a peer that hangs after timeoutMs, marks it down, and skips it on the next get', async () => {
    const { group, localRuns, timeouts } = asker();
    const before = received.hang ?? 0;
    expect((await group.get('hang:1')).toString()).to.equal('local:hang:1');
    expect(timeouts(), 'given up at timeoutMs').to.equal(1);
    expect(group.stats.peerErrors).to.equal(1);
    expect((await group.get('hang:2')).toString()).to.equal('local:hang:2');
    expect(timeouts(), 'the peer is marked down: no second wait').to.equal(1);
    expect(received.hang).to.equal(before + 1); // the second get never reached it
    expect(group.stats.peerErrors).to.equal(2);
    expect(localRuns).to.deep.equal(['hang:1', 'hang:2']);
  });

  it('falls back on a connection reset but does not mark the peer down (idle keep-alive sockets get reset)', async () => {
    const { group, localRuns } = asker();
    const before = received.reset ?? 0;
    expect((await group.get('reset:1')).toString()).to.equal('local:reset:1');
    expect((await group.get('reset:2')).toString()).to.equal('local:reset:2');
    expect(received.reset, 'the second get still asked the peer').to.equal(before + 2);
    expect(group.stats.peerErrors).to.equal(2);
    expect(localRuns).to.deep.equal(['reset:1', 'reset:2']);
  });

  it('(g) reports a 500 with x-geecache-error: getter as OwnerLoadError, without running the getter locally', async () => {
    const { group, localRuns } = asker();
    const err = await group.get('getter500:1').then(
      () => expect.fail('expected an OwnerLoadError'),
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(OwnerLoadError);
    expect((err as OwnerLoadError).peer).to.equal(fakeUrl);
    expect((err as Error).message).to.contain('db is down');
    expect(localRuns).to.deep.equal([]);
    expect(group.stats.peerErrors).to.equal(1);
    expect(group.stats.localLoads).to.equal(0);
  });

  it('(i) aborts a slow-drip body at timeoutMs, falls back and marks the peer down', async () => {
    const { group, localRuns, timeouts } = asker();
    const before = received.drip ?? 0;
    expect((await group.get('drip:1')).toString()).to.equal('local:drip:1');
    expect(timeouts(), 'given up at timeoutMs').to.equal(1);
    expect((await group.get('drip:2')).toString()).to.equal('local:drip:2');
    expect(timeouts(), 'the peer is marked down: no second wait').to.equal(1);
    expect(received.drip).to.equal(before + 1);
    expect(group.stats.peerErrors).to.equal(2);
    expect(localRuns).to.deep.equal(['drip:1', 'drip:2']);
  });

  // Gets that start in the same turn travel as one batch request (POST {basePath}).
  for (const [mode, title, marksDown] of [
    ['bgarbage', 'garbage', false],
    ['bshort', 'fewer results than gets', false],
    ['bwrongtype', 'a wrong content type', false],
    ['b500', 'a 500 without x-geecache-error', false],
    ['bhang', 'no answer at all', true],
  ] as const) {
    it(`falls back for every get of a batch answered with ${title}`, async () => {
      const { group, localRuns, timeouts } = asker();
      const keys = [`${mode}:1`, `${mode}:2`, `${mode}:3`];
      const value = await Promise.all(keys.map((k) => group.get(k)));
      expect(received[`POST ${mode}`], 'one batch request').to.equal(1);
      // Results are taken as they arrive: the one result a short answer carries stands, the gets
      // it left unanswered load locally.
      const answered = mode === 'bshort' ? 1 : 0;
      expect(value.map(String)).to.deep.equal(keys.map((k, i) => (i < answered ? 'peer value' : `local:${k}`)));
      expect(localRuns).to.deep.equal(keys.slice(answered));
      expect(group.stats.peerErrors).to.equal(3 - answered);
      // Only no answer at all is given up at timeoutMs; every other failure falls back at once.
      expect(timeouts()).to.equal(marksDown ? 1 : 0);
      // Down after a timeout: the next batch is not sent. Otherwise it is.
      const more = [`${mode}:4`, `${mode}:5`];
      const next = await Promise.all(more.map((k) => group.get(k)));
      expect(next.map(String)).to.deep.equal(more.map((k, i) => (i < answered ? 'peer value' : `local:${k}`)));
      expect(received[`POST ${mode}`]).to.equal(marksDown ? 1 : 2);
    });
  }

  it('merges concurrent gets of one key against a hanging peer into one wait and one getter run', async () => {
    const { group, localRuns, timeouts } = asker();
    const before = received.hang ?? 0;
    const values = await Promise.all(Array.from({ length: 50 }, () => group.get('hang:merged')));
    expect(values.every((v) => v.toString() === 'local:hang:merged')).to.equal(true);
    expect(timeouts(), 'one wait').to.equal(1);
    expect(received.hang, 'one request').to.equal(before + 1);
    expect(localRuns).to.deep.equal(['hang:merged']);
    expect(group.stats.peerErrors).to.equal(1);
  });
});

/** GET `url`; resolves with the status and body, or rejects if the socket fails. */
function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Polls `check` every 5 ms until it holds (at most `tries` times): waits for a state, not for a time. */

/** Starts a GET to `url` and destroys it once `hangUpWhen()` holds; resolves once the socket is gone. */
function getAndHangUp(url: string, hangUpWhen: () => boolean, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, () => {
      throw new Error(`no response expected from ${url} before the hang-up`);
    });
    req.on('error', () => {}); // ECONNRESET from our own destroy
    req.on('close', () => resolve());
    until(`before hanging up on ${url}`, hangUpWhen).then(
      () => req.destroy(),
      (err) => {
        req.destroy();
        reject(err);
      },
    );
  });
}

describe('client disconnects mid-load', function () {
  this.timeout(60_000);
  /** Getter time of a key the test does not hold. */
  const GETTER_MS = 400;
  let peer: InProcessPeer;
  let base: string;
  let cache: GeecacheMiddleware;
  const runs: Record<string, number> = {};
  const finished: string[] = [];
  /** Keys whose load the test holds open: their getter finishes when the test releases them, not after a time. */
  const held = new Map<string, () => void>();
  const gates = new Map<string, Promise<void>>();
  const hold = (...keys: string[]) => {
    for (const key of keys) gates.set(key, new Promise<void>((release) => held.set(key, release)));
  };
  const release = (...keys: string[]) => {
    for (const key of keys) held.get(key)?.();
  };

  before(async () => {
    peer = await startInProcessPeer(
      (self) => ({
        self,
        secret: false,
        groups: {
          scores: {
            maxBytes: 1 << 20,
            getter: async (key) => {
              runs[key] = (runs[key] ?? 0) + 1;
              await (gates.get(key) ?? sleep(GETTER_MS));
              finished.push(key);
              return `value:${key}`;
            },
          },
        },
      }),
      {
        setup: ({ app }) =>
          app.get('/get', async (req, res) => {
            try {
              const value = await req.cache.get(String(req.query.key));
              res.type('text/plain').send(value.toString());
            } catch (err) {
              res.status(500).send(`error: ${(err as Error).message}`);
            }
          }),
      },
    );
    ({ url: base, cache } = peer);
  });

  after(() => {
    release(...held.keys());
    return peer.close();
  });

  const peerPath = (key: string) => `${base}/_geecache/scores/${encodeURIComponent(key)}`;
  const PEER = { 'x-geecache-peer': '1' };
  const started =
    (...keys: string[]) =>
    () =>
      keys.every((k) => runs[k] === 1);
  /** True once `n` more gets than `before` have joined loads (a get that misses the cache counts one, shared or not). */
  const joined = (before: number, n: number) => () => cache.group('scores').stats.loads >= before + n;

  async function expectCachedAfterOneRun(key: string) {
    const group = cache.group('scores');
    const hits = group.stats.cacheHits;
    expect((await group.get(key)).toString()).to.equal(`value:${key}`);
    expect(group.stats.cacheHits).to.equal(hits + 1);
    expect(runs[key]).to.equal(1);
    // The server is still alive and serving.
    expect(await httpGet(`${base}/get?key=${encodeURIComponent(key)}`)).to.deep.equal({ status: 200, body: `value:${key}` });
  }

  it('keeps loading for the other waiters when the peer-route client that started the load hangs up', async () => {
    const key = 'peer-hangup';
    hold(key);
    const loads = cache.group('scores').stats.loads;
    let waiters: Promise<[{ status: number; body: string }, { status: number; body: string }, string]> | undefined;
    // The hanging-up request starts the load; the others join it; then it hangs up.
    const hangUp = getAndHangUp(
      peerPath(key),
      () => {
        if (started(key)() && !waiters)
          waiters = Promise.all([
            httpGet(`${base}/get?key=${key}`),
            httpGet(peerPath(key), PEER),
            cache
              .group('scores')
              .get(key)
              .then((v) => v.toString()),
          ]);
        return joined(loads, 4)();
      },
      PEER,
    );
    await hangUp;
    expect(finished).to.not.include(key); // it hung up mid-load
    release(key);
    const [viaApp, viaPeer, direct] = await waiters!;
    expect(viaApp).to.deep.equal({ status: 200, body: `value:${key}` });
    expect(viaPeer.status).to.equal(200);
    expect(viaPeer.body).to.contain(`value:${key}`); // protobuf-framed
    expect(direct).to.equal(`value:${key}`);
    await expectCachedAfterOneRun(key);
  });

  it('keeps loading for the other waiters when the app-route client (req.cache.get) that started the load hangs up', async () => {
    const key = 'app-hangup';
    hold(key);
    const loads = cache.group('scores').stats.loads;
    let waiters: Promise<[{ status: number; body: string }, string]> | undefined;
    await getAndHangUp(`${base}/get?key=${key}`, () => {
      if (started(key)() && !waiters)
        waiters = Promise.all([
          httpGet(peerPath(key), PEER),
          cache
            .group('scores')
            .get(key)
            .then((v) => v.toString()),
        ]);
      return joined(loads, 3)();
    });
    expect(finished).to.not.include(key);
    release(key);
    const [viaPeer, direct] = await waiters!;
    expect(viaPeer.status).to.equal(200);
    expect(direct).to.equal(`value:${key}`);
    await expectCachedAfterOneRun(key);
  });

  /**
   * Sends a batch request for `keys` on a raw socket (only `sendBytes` of its body, if given) and
   * destroys it once `hangUpWhen()` holds; resolves with what it received.
   */
  async function batchAndHangUp(keys: string[], hangUpWhen: () => boolean, sendBytes?: number): Promise<string> {
    const body = Buffer.from(encodeBatchRequest(keys.map((key) => ({ group: 'scores', key }))));
    const head = `POST /_geecache/ HTTP/1.1\r\nhost: x\r\n${Object.entries(PEER)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}content-type: ${BATCH_CONTENT_TYPE}\r\ncontent-length: ${body.length}\r\n\r\n`;
    const socket = net.connect(Number(new URL(base).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    socket.write(Buffer.concat([Buffer.from(head), body.subarray(0, sendBytes ?? body.length)]));
    try {
      await until('before hanging up the batch', hangUpWhen);
    } finally {
      socket.destroy();
    }
    return answer;
  }

  it('keeps loading for the other waiters when a batch-request client that started the load hangs up', async () => {
    const keys = ['batch-hangup-1', 'batch-hangup-2'];
    hold(...keys);
    const loads = cache.group('scores').stats.loads;
    let waiters: Promise<[{ status: number; body: string }, string]> | undefined;
    const answer = await batchAndHangUp(keys, () => {
      if (started(...keys)() && !waiters) waiters = Promise.all([httpGet(`${base}/get?key=${keys[0]}`), cache.group('scores').get(keys[1]).then(String)]);
      return joined(loads, 4)();
    });
    expect(answer, 'no answer before the hang-up').to.equal('');
    expect(finished).to.not.include.members(keys);
    release(...keys);
    const [viaApp, direct] = await waiters!;
    expect(viaApp).to.deep.equal({ status: 200, body: `value:${keys[0]}` });
    expect(direct).to.equal(`value:${keys[1]}`);
    for (const key of keys) await expectCachedAfterOneRun(key);
  });

  it('runs nothing for a batch request whose client hangs up halfway through its body', async () => {
    const keys = ['batch-cut-1', 'batch-cut-2'];
    let serverSide: net.Socket | undefined;
    peer.server.once('connection', (socket) => (serverSide = socket));
    await batchAndHangUp(keys, () => serverSide !== undefined, 10);
    // Once the server has seen the connection close (anything it would do with the cut request
    // has started by then), and has answered another request, the getter has not run.
    await until('the server sees the cut batch connection close', () => serverSide?.destroyed === true);
    expect(await httpGet(`${base}/get?key=after-cut`)).to.deep.equal({ status: 200, body: 'value:after-cut' });
    for (const key of keys) expect(runs[key], key).to.equal(undefined);
  });

  it('finishes and caches a load whose only client hung up', async () => {
    const key = 'lonely-hangup';
    const other = `other-${key}`;
    hold(key, other);
    await getAndHangUp(peerPath(key), started(key), PEER);
    await getAndHangUp(`${base}/get?key=${other}`, started(other));
    expect(finished).to.not.include.members([key, other]);
    release(key, other);
    await until('the loads whose clients hung up finish', () => finished.includes(key) && finished.includes(other));
    await expectCachedAfterOneRun(key);
    await expectCachedAfterOneRun(other);
  });
});
