// What a peer client holds for a peer it is not talking to: no HTTP agent (or undici pool) before
// its first request, and none once its idle keep-alive connections have closed, whichever side
// closes them; a later request opens a new one. The client's own idle time (IDLE_SOCKET_MS, 4 s)
// is shortened where a test waits for it.
import http from 'node:http';
import { expect } from 'chai';
import { IDLE_SOCKET_MS, NodeFetchTransport, type Transport } from '../../lib/client/transport.js';
import { loadUndici, UndiciTransport } from '../../lib/client/undici.js';
import { closeServer, listen, until } from '../helpers/index.js';

type Held = Transport & { readonly active: boolean };

/** A loopback server answering every request `ok`, that closes idle connections after `keepAliveMs`, and counts connections. */
async function server(keepAliveMs: number) {
  const srv = http.createServer((_req, res) => res.end('ok'));
  srv.keepAliveTimeout = keepAliveMs;
  let open = 0;
  srv.on('connection', (socket) => {
    open++;
    socket.on('close', () => open--);
  });
  const port = await listen(srv);
  return { origin: `http://127.0.0.1:${port}`, open: () => open, stop: () => closeServer(srv) };
}

async function ask(transport: Transport): Promise<string> {
  const res = await transport.request({ method: 'GET', path: '/', headers: {}, signal: new AbortController().signal });
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

const undiciOrSkip = (): ReturnType<typeof loadUndici> | undefined => {
  try {
    return loadUndici();
  } catch {
    return undefined;
  }
};

/** The client's idle time where a test waits for it. */
const SHORT_IDLE_MS = 250;

const kinds: [string, (origin: string, idleMs?: number) => Held | undefined][] = [
  ['node-fetch', (origin, idleMs) => new NodeFetchTransport(origin, 4, undefined, idleMs)],
  [
    'undici',
    (origin, idleMs) => {
      const undici = undiciOrSkip();
      return undici && new UndiciTransport(undici, origin, 4, undefined, idleMs);
    },
  ],
];

for (const [kind, make] of kinds) {
  describe(`${kind} transport: idle peers cost nothing`, function () {
    this.timeout(30_000);

    it('holds nothing before the first request, and lets go once the peer closed the idle connection; asks again on a new one', async function () {
      const peer = await server(200);
      const transport = make(peer.origin);
      if (!transport) return this.skip(); // undici is an optional dependency
      try {
        expect(transport.active).to.equal(false);
        expect(await ask(transport)).to.equal('ok');
        expect(transport.active).to.equal(true);
        await until('the peer closed the idle connection and the client let go of it', () => peer.open() === 0 && !transport.active);
        expect(await ask(transport)).to.equal('ok');
        expect(transport.active).to.equal(true);
      } finally {
        transport.close();
        await peer.stop();
      }
    });

    it(`closes its own idle connection after its idle time (IDLE_SOCKET_MS, ${IDLE_SOCKET_MS} ms, before a Node server's 5 s) when the peer keeps it open, and lets go`, async function () {
      expect(IDLE_SOCKET_MS, "the default closes before a Node server's keepAliveTimeout").to.be.below(new http.Server().keepAliveTimeout);
      const peer = await server(60_000);
      const transport = make(peer.origin, SHORT_IDLE_MS);
      if (!transport) return this.skip();
      try {
        expect(await ask(transport)).to.equal('ok');
        expect(peer.open()).to.equal(1);
        await until('the client closed its idle connection', () => peer.open() === 0 && !transport.active, { timeoutMs: SHORT_IDLE_MS + 10_000 });
      } finally {
        transport.close();
        await peer.stop();
      }
    });

    it('refuses requests after close()', async function () {
      const peer = await server(60_000);
      const transport = make(peer.origin);
      if (!transport) return this.skip();
      transport.close();
      try {
        await ask(transport).then(
          () => expect.fail('a closed transport answered'),
          (err: Error) => expect(err.message).to.match(/closed/),
        );
      } finally {
        await peer.stop();
      }
    });
  });
}
