// Replays: a request captured on the wire between two real peers (child
// processes, a recording TCP proxy in front of the owner) replays only against the peer it was
// signed for, with the request line it was signed for, within the 30 s window; and replaying a
// request for a key whose getter fails does not run the getter once per replay.
import net from 'node:net';
import { expect } from 'chai';
import { type ChildHandle, clockOffset, freePort, startChildPeer, stopAll } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';

/** Sends `data` on a fresh connection and reads until the server closes; the status (0: none). */
function sendRaw(port: number, data: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ status: Number(text.split(' ')[1]) || 0, text });
    });
    socket.write(data);
  });
}

/** A TCP proxy on `port` to `target` that records what clients send. */
function recordingProxy(port: number, target: number): Promise<{ sent: () => string; close: () => Promise<void> }> {
  let sent = '';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      sent += d.toString('latin1');
      upstream.write(d);
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        sent: () => sent,
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise<void>((r) => server.close(() => r()));
        },
      }),
    ),
  );
}

/** The captured request of `key`'s peer GET, rewritten to close its connection after the answer. */
function captured(wire: string, key: string): string {
  const start = wire.indexOf(`GET /_geecache/scores/${encodeURIComponent(key)} `);
  expect(start, `a captured request for ${key}`).to.be.at.least(0);
  const request = wire.slice(start, wire.indexOf('\r\n\r\n', start) + 4);
  expect(request).to.match(/\r\nx-geecache-auth: /i);
  return request.replace(/\r\nconnection: [^\r]*/i, '').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n');
}

describe('replaying a captured peer request (real peers, a recording proxy)', function () {
  this.timeout(60_000);
  let peers: ChildHandle[] = [];
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let ports: { a: number; b: number; proxy: number; c: number; bAhead: number };
  let asker: ChildHandle;

  before(async () => {
    const [a, b, p, c, bAhead] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    ports = { a, b, proxy: p, c, bAhead };
    const url = (port: number) => `http://127.0.0.1:${port}`;
    // The owner B is reached through the proxy: its self (what peers sign for) is the proxy's URL.
    const list = [url(a), url(p), url(c)];
    proxy = await recordingProxy(p, b);
    peers = await Promise.all([
      startChildPeer({ port: a, self: url(a), peers: list, secret: SECRET }),
      startChildPeer({ port: b, self: url(p), peers: list, secret: SECRET }),
      startChildPeer({ port: c, self: url(c), peers: list, secret: SECRET }),
      // B's twin with a clock 45 s ahead: a replay that reaches it is 45 s old.
      startChildPeer({ port: bAhead, self: url(p), peers: list, secret: SECRET }, { nodeArgs: clockOffset(45_000) }),
    ]);
    asker = peers[0];
  });
  after(async () => {
    await stopAll(peers);
    await proxy?.close();
  });

  const ownedByB = async (prefix: string) => {
    for (let i = 0; i < 200; i++) {
      const key = `${prefix}${i}`;
      if ((await (await fetch(`${asker.url}/_test/owner?key=${encodeURIComponent(key)}`)).text()) === `http://127.0.0.1:${ports.proxy}`) return key;
    }
    throw new Error('no key owned by B');
  };

  it('replays only to the peer it was signed for, with the request line it was signed for, for 30 s', async () => {
    const key = await ownedByB('replay-');
    expect(await (await fetch(`${asker.url}/get?key=${key}`)).text()).to.equal(`value:${key}`);
    const request = captured(proxy.sent(), key);
    // The capture is a valid request: replayed at once to B itself, it is served.
    expect((await sendRaw(ports.b, request)).status, 'replayed to its own peer, at once').to.equal(200);
    const withQuery = request.replace(/^GET (\S+) /, 'GET $1?x=1 ');
    expect((await sendRaw(ports.b, withQuery)).status, 'with ?x=1 appended').to.equal(401);
    expect((await sendRaw(ports.c, request)).status, 'replayed to another peer').to.equal(401);
    expect((await sendRaw(ports.bAhead, request)).status, 'replayed 45 s later').to.equal(401);
  });

  it('replays of a request for a failing key run its getter at most once per second', async () => {
    const key = await ownedByB('fail:replay-');
    expect((await fetch(`${asker.url}/get?key=${encodeURIComponent(key)}`)).status).to.equal(500);
    const request = captured(proxy.sent(), key);
    const owner = peers[1];
    const started = performance.now();
    for (let i = 0; i < 50; i++) {
      const res = await sendRaw(ports.b, request);
      expect(res.status).to.equal(500);
      expect(res.text)
        .to.match(/\r\nx-geecache-error: getter\r\n/i)
        .and.include(`boom for ${key}`);
    }
    const seconds = (performance.now() - started) / 1000;
    const loads = ((await (await fetch(`${owner.url}/_test/loads`)).json()) as Record<string, number>)[key];
    // One run for the asker's get, then at most one per started second of replays (not a timing
    // assertion: the allowance grows with however long the replays took).
    expect(loads, `getter runs for 50 replays over ${seconds.toFixed(2)} s`).to.be.at.most(1 + Math.ceil(seconds) + 1);
    expect(loads).to.be.below(50);
  });
});
