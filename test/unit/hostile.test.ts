// Hostile and malformed requests to the peer route, sent over raw sockets to a real server on
// 127.0.0.1: each gets its expected status and a clear message, none runs a getter it should
// not, and afterwards the process still serves peers and the app with its cache intact.

import type http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import type { Request, Response } from 'express';
import type { GeecacheOptions } from '../../lib/index.js';
import { digestOf, RequestSigner } from '../../lib/protocol/auth.js';
import { decodeGetResponse, encodeBatchRequest } from '../../lib/protocol/wire.js';
import { freePort, type InProcessPeer, sleep, startInProcessPeer } from '../helpers/index.js';

const SECRET = 'a-long-test-secret-123';
const keys = new RequestSigner(SECRET);
/** Signs as a peer signs a request to `origin` (signatures name their target peer and the whole request line). */
const signerFor = (origin: string) => ({
  sign: (method: string, target: string, now = Date.now(), body?: Uint8Array) => keys.sign(method, origin + target, now, body),
});
const originOf = (port: number) => `http://127.0.0.1:${port}`;
const MAX_KEY = 64;
const BATCH_TYPE = 'application/x-geecache-batch';

/** A response as read off the socket; `status` 0 when the server closed without answering. */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Everything received, for failure messages. */
  text: string;
}

/**
 * Writes `data` on a fresh connection and reads until the server closes it (every request here
 * says `Connection: close`, and Node closes after its own 4xx). Never ends the socket first.
 */
function sendRaw(port: number, data: string | Buffer | (string | Buffer)[], waitMs = 20_000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {}); // a reset after the server answered (e.g. 431 mid-upload) is fine
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks)));
    });
    for (const part of Array.isArray(data) ? data : [data]) socket.write(part);
  });
}

function parseResponse(raw: Buffer): RawResponse {
  const text = raw.toString('latin1');
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: Buffer.alloc(0), text };
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] = headers[name] === undefined ? line.slice(colon + 1).trim() : `${headers[name]}, ${line.slice(colon + 1).trim()}`;
  }
  let body = raw.subarray(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status: Number(statusLine.split(' ')[1]), headers, body, text };
}

function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', pos);
    if (eol < 0) break;
    const size = parseInt(data.subarray(pos, eol).toString('latin1'), 16);
    if (!size) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

interface RequestSpec {
  method?: string;
  target: string;
  /**
   * The auth header: 'sign' (default) signs method + path, 'none' sends none, a string is sent as
   * is, a function is called when the request is sent (for signatures whose age matters).
   */
  auth?: 'sign' | 'none' | string | (() => string);
  /** More header lines, sent as given. */
  headers?: string[];
  version?: string;
  body?: string | Buffer;
}

/**
 * An HTTP/1.1 request to the peer at `origin` as bytes, with `Host` and `Connection: close`. A
 * POST body travels with its digest header unless `headers` has one.
 */
function build({ method = 'GET', target, auth = 'sign', headers = [], version = 'HTTP/1.1', body }: RequestSpec, origin: string): Buffer {
  const lines = [`${method} ${target} ${version}`, 'Host: 127.0.0.1', 'Connection: close'];
  if (auth === 'sign') lines.push(`x-geecache-auth: ${signerFor(origin).sign(method, target)}`);
  else if (typeof auth === 'function') lines.push(`x-geecache-auth: ${auth()}`);
  else if (auth !== 'none') lines.push(`x-geecache-auth: ${auth}`);
  lines.push(...headers);
  if (body !== undefined && method === 'POST' && !headers.some((h) => h.toLowerCase().startsWith('x-geecache-content-sha256:')))
    lines.push(`x-geecache-content-sha256: ${digestOf(Buffer.from(body))}`);
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.from(body ?? '')]);
}

/** A request target of `key` in group `group`, escaped as a geecache peer escapes it. */
const peerPath = (group: string, key: string) => `/_geecache/${encodeURIComponent(group)}/${encodeURIComponent(key)}`;

interface Case {
  name: string;
  /** The bytes to send: a request spec, or raw bytes for what no well-behaved client can produce. */
  request: RequestSpec | string | Buffer;
  /** Expected status; 0 when the server closes the connection without answering. */
  status: number;
  /** Expected body text (geecache's messages end with a newline). */
  body?: RegExp;
  /** Extra checks on the response. */
  check?: (res: RawResponse) => void;
  /**
   * Requests that are not refused because they are a valid get in unusual spelling: the key the
   * getter must receive, exactly, or 'cached' for a request of the key cached before the corpus.
   */
  served?: string;
}

const CACHED = 'cached-key';
const ts = (offsetMs: number) => Date.now() + offsetMs;
const plain = (res: RawResponse) => {
  expect(res.headers['content-type']).to.equal('text/plain; charset=utf-8');
  expect(res.headers['x-content-type-options']).to.equal('nosniff');
};

const MALFORMED = /^bad request: malformed %-escape or bytes that are not UTF-8\n$/;
const SHAPE = /^bad request: expected \/_geecache\/<group>\/<key>\n$/;
const ONE_SEGMENT = /^bad request: the key must be one path segment \(escape '\/' as %2F\)\n$/;
const UNAUTHORIZED = /^unauthorized: missing or invalid peer signature/;
const NOT_ALLOWED = (method: string) => new RegExp(`^method ${method} not allowed: peers use GET, DELETE and PUT\\n$`);

/**
 * The large requests of the corpus, made once: every test builds the corpus afresh (for fresh
 * signatures), and 10 MB of bodies for each of them was most of this file's work. Only read.
 */
const MB_URL_REQUEST = Buffer.from(`GET /_geecache/scores/${'a'.repeat(1 << 20)} HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1');
const FIVE_MB_BODY = Buffer.alloc(5 << 20, 1);

/** The cases, signed for the peer at `origin` (built when sent: signatures are fresh for 30 s only). */
function corpus(origin: string): Case[] {
  const signer = signerFor(origin);
  const macOf = (path: string, now: number) => signer.sign('GET', path, now).split('.')[1];
  /** A batch POST with `body`, signed, expected to be answered `status` with `expected`. */
  const signedBatch = (name: string, body: Buffer, status: number, expected: RegExp): Case => ({
    name,
    request: {
      method: 'POST',
      target: '/_geecache/',
      auth: signer.sign('POST', '/_geecache/', Date.now(), body),
      headers: [`Content-Type: ${BATCH_TYPE}`],
      body,
    },
    status,
    body: expected,
  });
  const k = '/_geecache/scores/k';
  const cases: Case[] = [
    // Bad %-escapes and bytes that are not UTF-8: 400, whatever part of the path they are in.
    { name: 'escape of non-hex digits %zz', request: { target: '/_geecache/scores/%zz' }, status: 400, body: MALFORMED },
    { name: 'a lone %', request: { target: '/_geecache/scores/%' }, status: 400, body: MALFORMED },
    { name: 'a % at the end of the key', request: { target: '/_geecache/scores/abc%' }, status: 400, body: MALFORMED },
    { name: 'an escape cut short (%2)', request: { target: '/_geecache/scores/%2' }, status: 400, body: MALFORMED },
    { name: 'truncated UTF-8 (%E0%A4)', request: { target: '/_geecache/scores/%E0%A4' }, status: 400, body: MALFORMED },
    { name: 'a byte that is never UTF-8 (%FF)', request: { target: '/_geecache/scores/%FF' }, status: 400, body: MALFORMED },
    { name: "overlong UTF-8 for '/' (%C0%AF)", request: { target: '/_geecache/scores/a%C0%AFb' }, status: 400, body: MALFORMED },
    { name: 'a UTF-8-encoded surrogate (%ED%A0%80)', request: { target: '/_geecache/scores/%ED%A0%80' }, status: 400, body: MALFORMED },
    { name: 'a code point above U+10FFFF (%F4%90%80%80)', request: { target: '/_geecache/scores/%F4%90%80%80' }, status: 400, body: MALFORMED },
    { name: 'a bad escape in the group name', request: { target: '/_geecache/sc%zzores/k' }, status: 400, body: MALFORMED },

    // The shape of the path.
    { name: 'the base path alone', request: { target: '/_geecache/' }, status: 400, body: SHAPE },
    { name: 'a group and no key', request: { target: '/_geecache/scores' }, status: 400, body: SHAPE },
    { name: 'an empty key', request: { target: '/_geecache/scores/' }, status: 400, body: /^key must not be empty\n$/ },
    { name: 'an empty group name', request: { target: '/_geecache//k' }, status: 400, body: SHAPE },
    { name: 'a double slash after the base path', request: { target: '/_geecache//scores/k' }, status: 400, body: SHAPE },
    { name: 'a double slash before the key', request: { target: '/_geecache/scores//k' }, status: 400, body: ONE_SEGMENT },
    { name: "a raw '/' in the key", request: { target: '/_geecache/scores/a/b' }, status: 400, body: ONE_SEGMENT },
    { name: 'a trailing slash after the key', request: { target: '/_geecache/scores/k/' }, status: 400, body: ONE_SEGMENT },
    { name: "'..' climbing out of the key", request: { target: '/_geecache/scores/../k' }, status: 400, body: ONE_SEGMENT },
    { name: "'..' climbing out of the base path", request: { target: '/_geecache/../scores/k' }, status: 400, body: ONE_SEGMENT },
    { name: "'.' as the group, then group/key", request: { target: '/_geecache/./scores/k' }, status: 400, body: ONE_SEGMENT },
    { name: "'.' as the group name", request: { target: '/_geecache/./k' }, status: 404, body: /^no such group: \.\n$/ },
    { name: "'..' as the group name", request: { target: '/_geecache/../k' }, status: 404, body: /^no such group: \.\.\n$/ },
    { name: 'a backslash instead of a slash', request: { target: '/_geecache/scores\\k' }, status: 400, body: SHAPE },

    // Keys over the group's maxKeyLength (counted in UTF-16 units after decoding).
    {
      name: `a key of ${MAX_KEY + 1} characters`,
      request: { target: peerPath('scores', 'k'.repeat(MAX_KEY + 1)) },
      status: 400,
      body: new RegExp(`^key is ${MAX_KEY + 1} characters, over the group's maxKeyLength of ${MAX_KEY}\\n$`),
    },
    {
      name: 'a long key spelled as escapes (%41 x 65)',
      request: { target: `/_geecache/scores/${'%41'.repeat(MAX_KEY + 1)}` },
      status: 400,
      body: /over the group's maxKeyLength of 64/,
    },
    {
      name: 'a key of 33 emoji (66 UTF-16 units)',
      request: { target: peerPath('scores', '😀'.repeat(33)) },
      status: 400,
      body: /^key is 66 characters, over the group's maxKeyLength of 64\n$/,
    },
    {
      name: 'a 10 kB key in a group with the default limit',
      request: { target: peerPath('posts', 'x'.repeat(10_000)) },
      status: 400,
      body: /^key is 10000 characters, over the group's maxKeyLength of 1024\n$/,
    },
    { name: 'a 1 MB URL (Node refuses the request line)', request: MB_URL_REQUEST, status: 431 },
    { name: 'a 20 kB header (Node refuses it)', request: { target: k, headers: [`X-Big: ${'a'.repeat(20_000)}`] }, status: 431 },

    // Groups that do not exist: 404 naming the group, in plain text with nosniff.
    { name: 'an unknown group', request: { target: '/_geecache/nope/k' }, status: 404, body: /^no such group: nope\n$/ },
    { name: 'a group name in the wrong case', request: { target: '/_geecache/SCORES/k' }, status: 404, body: /^no such group: SCORES\n$/ },
    { name: "an escaped '/' in the group name", request: { target: '/_geecache/sc%2Fores/k' }, status: 404, body: /^no such group: sc\/ores\n$/ },
    { name: 'the group __proto__', request: { target: '/_geecache/__proto__/k' }, status: 404, body: /^no such group: __proto__\n$/ },
    { name: 'the group constructor', request: { target: '/_geecache/constructor/k' }, status: 404, body: /^no such group: constructor\n$/ },
    { name: 'an escaped NUL after the group name', request: { target: '/_geecache/scores%00/k' }, status: 404, body: /^no such group: scores\0\n$/ },
    {
      name: 'markup as the group name',
      request: { target: '/_geecache/%3Cscript%3Ealert(1)%3C%2Fscript%3E/k' },
      status: 404,
      body: /^no such group: <script>/,
      check: plain,
    },
    {
      name: 'CRLF and a header in the group name',
      request: { target: '/_geecache/x%0D%0ASet-Cookie:%20a=b/k' },
      status: 404,
      body: /^no such group: x\r\nSet-Cookie: a=b\n$/,
      check: (res) => {
        expect(res.headers).not.to.have.property('set-cookie');
        plain(res);
      },
    },
    {
      name: 'a 5,000-character group name (echo cut to 1 kB)',
      request: { target: `/_geecache/${'g'.repeat(5_000)}/k` },
      status: 404,
      body: /^no such group: g+\n$/,
      check: (res) => expect(res.body.length).to.equal(1025),
    },

    // Methods other than GET, DELETE and PUT: 405 with Allow when signed, 401 when not (auth comes first).
    ...['POST', 'PATCH', 'OPTIONS', 'TRACE'].map(
      (method): Case => ({
        name: `${method}, signed`,
        request: { method, target: k },
        status: 405,
        body: NOT_ALLOWED(method),
        check: (res) => expect(res.headers.allow).to.equal('GET, DELETE, PUT'),
      }),
    ),
    {
      name: 'HEAD, signed',
      request: { method: 'HEAD', target: k },
      status: 405,
      check: (res) => {
        expect(res.headers.allow).to.equal('GET, DELETE, PUT');
        expect(res.body.length).to.equal(0);
      },
    },
    // A signed write must carry its version and nonce (test/unit/writereplay.test.ts covers the real ones).
    {
      name: 'PUT, signed, without its version and nonce',
      request: { method: 'PUT', target: k },
      status: 400,
      body: /^bad request: a signed write needs x-geecache-write \(its version and nonce\)\n$/,
    },
    ...['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'].map(
      (method): Case => ({ name: `${method}, unsigned`, request: { method, target: k, auth: 'none' }, status: 401 }),
    ),
    { name: 'GET with a signature made for POST', request: { target: k, auth: signer.sign('POST', k) }, status: 401, body: UNAUTHORIZED },
    { name: 'a method in lower case (get)', request: 'get /_geecache/scores/k HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { name: 'a method HTTP does not have (FOO)', request: 'FOO /_geecache/scores/k HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { name: 'CONNECT to the peer route (no tunnel: the socket is closed)', request: 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n', status: 0 },

    // Authentication.
    { name: 'no auth header', request: { target: k, auth: 'none' }, status: 401, body: UNAUTHORIZED, check: plain },
    { name: 'an empty auth header', request: { target: k, auth: '' }, status: 401, body: UNAUTHORIZED },
    {
      name: 'a signature made with another secret',
      request: { target: k, auth: new RequestSigner('another-secret-4567890').sign('GET', origin + k) },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'a key changed after signing',
      request: { target: '/_geecache/scores/b', auth: signer.sign('GET', '/_geecache/scores/a') },
      status: 401,
      body: UNAUTHORIZED,
    },
    { name: 'a group changed after signing', request: { target: '/_geecache/posts/k', auth: signer.sign('GET', k) }, status: 401, body: UNAUTHORIZED },
    {
      name: 'a query appended after signing (the whole request line is signed)',
      request: { target: `${k}?x=1`, auth: signer.sign('GET', k) },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'a signature for another peer (its origin is signed)',
      request: { target: k, auth: keys.sign('GET', `http://127.0.0.1:1${k}`) },
      status: 401,
      body: UNAUTHORIZED,
    },
    { name: 'a signature 31 s old', request: { target: k, auth: () => signer.sign('GET', k, ts(-31_000)) }, status: 401, body: UNAUTHORIZED },
    { name: 'a signature from 45 s in the future', request: { target: k, auth: () => signer.sign('GET', k, ts(45_000)) }, status: 401, body: UNAUTHORIZED },
    { name: 'a signature 5 min old', request: { target: k, auth: () => signer.sign('GET', k, ts(-300_000)) }, status: 401, body: UNAUTHORIZED },
    { name: 'a signature timestamped 0', request: { target: k, auth: signer.sign('GET', k, 0) }, status: 401, body: UNAUTHORIZED },
    ...(
      [
        ['garbage', () => 'garbage'],
        ['a lone dot', () => '.'],
        ['a timestamp only', () => `${Date.now()}.`],
        ['a MAC only', () => `.${macOf(k, Date.now())}`],
        ['non-hex MAC', () => `${Date.now()}.${'z'.repeat(64)}`],
        [
          'a MAC one digit short',
          () => {
            const t = Date.now();
            return `${t}.${macOf(k, t).slice(0, 63)}`;
          },
        ],
        [
          'a MAC with one digit more',
          () => {
            const t = Date.now();
            return `${t}.${macOf(k, t)}0`;
          },
        ],
        ['a valid signature with junk after it', () => `${signer.sign('GET', k)}zz`],
        ['a valid signature, a comma and junk', () => `${signer.sign('GET', k)}, junk`],
        [
          'a MAC in upper case',
          () => {
            const t = Date.now();
            return `${t}.${macOf(k, t).toUpperCase()}`;
          },
        ],
        [
          'a timestamp with a leading zero',
          () => {
            const t = Date.now();
            return `0${t}.${macOf(k, t)}`;
          },
        ],
        [
          'a timestamp with a plus sign',
          () => {
            const t = Date.now();
            return `+${t}.${macOf(k, t)}`;
          },
        ],
        [
          'a timestamp in hex',
          () => {
            const t = Date.now();
            return `0x${t.toString(16)}.${macOf(k, t)}`;
          },
        ],
        [
          'a timestamp in exponent form',
          () => {
            const t = Math.round(Date.now() / 1000) * 1000;
            return `${t / 1000}e3.${macOf(k, t)}`;
          },
        ],
        [
          'a timestamp in seconds',
          () => {
            const t = Math.floor(Date.now() / 1000);
            return `${t}.${macOf(k, t)}`;
          },
        ],
      ] as const
    ).map(([what, header]): Case => ({ name: `a malformed auth header: ${what}`, request: { target: k, auth: header() }, status: 401, body: UNAUTHORIZED })),
    {
      name: 'the auth header twice, both valid (Node joins them)',
      request: { target: k, auth: 'none', headers: [`x-geecache-auth: ${signer.sign('GET', k)}`, `x-geecache-auth: ${signer.sign('GET', k)}`] },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'the auth header twice, valid then junk',
      request: { target: k, auth: 'none', headers: [`x-geecache-auth: ${signer.sign('GET', k)}`, 'x-geecache-auth: junk'] },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'the signature in Authorization instead',
      request: { target: k, auth: 'none', headers: [`Authorization: ${signer.sign('GET', k)}`] },
      status: 401,
      body: UNAUTHORIZED,
    },

    // Malformed HTTP: refused by Node's parser before any code of ours runs.
    { name: 'a raw NUL in the path', request: 'GET /_geecache/scores/a\0b HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { name: 'a raw space in the path', request: 'GET /_geecache/scores/a b HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    { name: 'a raw tab in the path', request: 'GET /_geecache/scores/a\tb HTTP/1.1\r\nHost: x\r\n\r\n', status: 400 },
    {
      name: 'raw UTF-8 bytes in the path',
      request: Buffer.concat([Buffer.from('GET /_geecache/scores/'), Buffer.from('é'), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]),
      status: 400,
    },
    { name: 'a NUL in a header value', request: 'GET /_geecache/scores/k HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n', status: 400 },
    { name: 'a space in a header name', request: 'GET /_geecache/scores/k HTTP/1.1\r\nHost: x\r\nX Bad: 1\r\n\r\n', status: 400 },
    { name: 'no Host header in HTTP/1.1', request: `GET ${k} HTTP/1.1\r\nx-geecache-auth: ${signer.sign('GET', k)}\r\n\r\n`, status: 400 },
    { name: 'HTTP/9.9', request: 'GET /_geecache/scores/k HTTP/9.9\r\nHost: x\r\n\r\n', status: 400 },
    {
      name: 'Content-Length and Transfer-Encoding both (smuggling)',
      request: 'GET /_geecache/scores/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      status: 400,
    },
    {
      name: 'two different Content-Lengths',
      request: 'GET /_geecache/scores/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      status: 400,
    },
    {
      name: 'CRLF injected into the request line (unsigned)',
      request: 'GET /_geecache/scores/a\r\nX-Injected: 1 HTTP/1.1\r\nHost: x\r\n\r\n',
      status: 401,
      check: (res) => expect(res.headers).not.to.have.property('x-injected'),
    },

    // Not the peer route at all: Express answers (404), geecache does not look at them.
    { name: 'the base path in another case', request: { target: '/_GEECACHE/scores/k' }, status: 404 },
    { name: 'the base path without its slash', request: { target: '/_geecache' }, status: 404 },
    { name: 'a leading double slash', request: { target: '//_geecache/scores/k' }, status: 404 },
    {
      name: 'the absolute form of the URL',
      request: `GET http://127.0.0.1/_geecache/scores/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-geecache-auth: ${signer.sign('GET', k)}\r\n\r\n`,
      status: 404,
    },
    { name: 'OPTIONS *', request: 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 404 },

    // Batch requests (POST {basePath}) with hostile bodies.
    {
      name: 'an unsigned batch',
      request: {
        method: 'POST',
        target: '/_geecache/',
        auth: 'none',
        headers: [`Content-Type: ${BATCH_TYPE}`],
        body: Buffer.from(encodeBatchRequest([{ group: 'scores', key: 'b1' }])),
      },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'a batch whose body changed after signing',
      request: (() => {
        const signed = Buffer.from(encodeBatchRequest([{ group: 'scores', key: 'b1' }]));
        const sent = Buffer.from(encodeBatchRequest([{ group: 'scores', key: 'b2' }]));
        return {
          method: 'POST',
          target: '/_geecache/',
          auth: signer.sign('POST', '/_geecache/', Date.now(), signed),
          headers: [`Content-Type: ${BATCH_TYPE}`],
          body: sent,
        };
      })(),
      status: 401,
      body: UNAUTHORIZED,
    },
    signedBatch('a signed batch that is not protobuf', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]), 400, /^bad batch request: /), // an item claiming 4 GB
    signedBatch(
      'a signed batch of 257 gets',
      Buffer.from(encodeBatchRequest(Array.from({ length: 257 }, (_, i) => ({ group: 'scores', key: `b${i}` })))),
      400,
      /over the limit of 256/,
    ),
    {
      name: 'an unsigned 5 MB batch (refused before its body is read)',
      request: { method: 'POST', target: '/_geecache/', auth: 'none', headers: [`Content-Type: ${BATCH_TYPE}`], body: FIVE_MB_BODY },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'a 5 MB batch with a well-formed signature (of another body): refused before its body is read',
      request: {
        method: 'POST',
        target: '/_geecache/',
        auth: () => signer.sign('POST', '/_geecache/'),
        headers: [`Content-Type: ${BATCH_TYPE}`],
        body: FIVE_MB_BODY,
      },
      status: 401,
      body: UNAUTHORIZED,
    },
    (() => {
      const signed = Buffer.from(encodeBatchRequest([{ group: 'scores', key: 'd1' }]));
      const sent = Buffer.from(encodeBatchRequest([{ group: 'scores', key: 'd2' }]));
      return {
        name: 'a signed batch whose body is not the one its digest names (same length)',
        request: {
          method: 'POST',
          target: '/_geecache/',
          auth: signer.sign('POST', '/_geecache/', Date.now(), signed),
          headers: [`Content-Type: ${BATCH_TYPE}`, `x-geecache-content-sha256: ${digestOf(signed)}`],
          body: sent,
        },
        status: 401,
        body: /^unauthorized: the body does not match its signed digest\n$/,
      };
    })(),
    {
      name: 'a chunked batch (no Content-Length to sign)',
      request: `POST /_geecache/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: ${BATCH_TYPE}\r\nTransfer-Encoding: chunked\r\nx-geecache-auth: ${signer.sign('POST', '/_geecache/')}\r\n\r\n4\r\nabcd\r\n0\r\n\r\n`,
      status: 401,
      body: UNAUTHORIZED,
    },

    // Valid gets in unusual spellings: served, and the getter sees exactly the decoded key.
    { name: 'a signed query string (ignored)', request: { target: `/_geecache/scores/${CACHED}?x=1&y` }, status: 200, served: 'cached' },
    { name: 'an empty query string', request: { target: `/_geecache/scores/${CACHED}?` }, status: 200, served: 'cached' },
    { name: 'an escaped letter in the group name (sc%6Fres)', request: { target: `/_geecache/sc%6Fres/${CACHED}` }, status: 200, served: 'cached' },
    {
      name: 'a GET with a body its signature does not cover',
      request: { target: `/_geecache/scores/${CACHED}`, body: 'hello' },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'HTTP/1.0 without Host',
      request: `GET /_geecache/scores/${CACHED} HTTP/1.0\r\nx-geecache-auth: ${signer.sign('GET', `/_geecache/scores/${CACHED}`)}\r\n\r\n`,
      status: 200,
      served: 'cached',
    },
    {
      name: 'a signature 20 s old (inside the window)',
      request: { target: `/_geecache/scores/${CACHED}`, auth: () => signer.sign('GET', `/_geecache/scores/${CACHED}`, ts(-20_000)) },
      status: 200,
      served: 'cached',
    },
    { name: "'.' as the key (a key, not a path step: nothing resolves it)", request: { target: '/_geecache/scores/.' }, status: 200, served: '.' },
    { name: "'..' spelled %2e%2e as the key", request: { target: '/_geecache/scores/%2e%2e' }, status: 200, served: '..' },
    { name: "a raw '#' in the key (no fragment in a request target)", request: { target: '/_geecache/scores/a#b' }, status: 200, served: 'a#b' },
    { name: 'an escaped NUL in the key', request: { target: '/_geecache/scores/nul%00key' }, status: 200, served: 'nul\0key' },
    {
      name: 'an escaped CRLF and header in the key',
      request: { target: '/_geecache/scores/a%0D%0AX-Injected:%201' },
      status: 200,
      served: 'a\r\nX-Injected: 1',
      check: (res) => expect(res.headers).not.to.have.property('x-injected'),
    },
    { name: "'+' is a space, as Go's url.QueryEscape sends it", request: { target: '/_geecache/scores/Jack+Sparrow' }, status: 200, served: 'Jack Sparrow' },

    // The GET route reads its headers in one pass over rawHeaders, lowercasing only names of the lengths it knows.
    {
      name: 'header names in upper case (X-GEECACHE-AUTH, X-GEECACHE-WAIT-MS)',
      request: {
        target: `/_geecache/scores/${CACHED}`,
        auth: 'none',
        headers: [`X-GEECACHE-AUTH: ${signer.sign('GET', `/_geecache/scores/${CACHED}`)}`, 'X-GEECACHE-WAIT-MS: 5000'],
      },
      status: 200,
      served: 'cached',
    },
    {
      // Its shape is checked before the signature: a membership digest is 16 hex digits.
      name: 'the signature in a header of the same name length (x-geecache-ring)',
      request: { target: k, auth: 'none', headers: [`x-geecache-ring: ${signer.sign('GET', k)}`] },
      status: 400,
      body: /^bad request: x-geecache-ring must be the 16 hex digits of a membership digest\n$/,
    },
    {
      name: 'the signature under a name that differs in one letter (x-geecache-autz)',
      request: { target: k, auth: 'none', headers: [`x-geecache-autz: ${signer.sign('GET', k)}`] },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'a peek header in mixed case: a miss is a 404 peek miss, never a load',
      request: { target: '/_geecache/scores/never-loaded', headers: ['X-Geecache-Peek: 1'] },
      status: 404,
      body: /^miss\n$/,
      check: (res) => expect(res.headers['x-geecache-error']).to.equal('miss'),
    },
  ];
  return cases;
}

type Peer = InProcessPeer & {
  /** Every key the getters were called with, as `group:key`. */
  calls: string[];
};

const connections = (server: http.Server) => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** An Express 5 app with geecache (and another peer that never answers) and one app route, on 127.0.0.1. */
async function startTargetPeer(extra: Partial<GeecacheOptions> = {}, serverOptions: http.ServerOptions = {}): Promise<Peer> {
  const other = `http://127.0.0.1:${await freePort()}`;
  const calls: string[] = [];
  const peer = await startInProcessPeer(
    (self) => ({
      self,
      peers: [self, other],
      secret: SECRET,
      groups: {
        scores: {
          maxBytes: 1 << 20,
          maxKeyLength: MAX_KEY,
          getter: (key) => {
            calls.push(`scores:${key}`);
            return `value:${key}`;
          },
        },
        posts: {
          maxBytes: 1 << 20,
          getter: (key) => {
            calls.push(`posts:${key}`);
            return `post:${key}`;
          },
        },
      },
      ...extra,
    }),
    {
      serverOptions,
      setup: ({ app }) =>
        app.get('/app/:key', async (req: Request, res: Response) => {
          res.send(`app says ${(await req.cache.get(String(req.params.key))).toString()}`);
        }),
    },
  );
  return { ...peer, calls };
}

/** A signed GET of `group`/`key` as a peer sends it; the decoded value on 200. */
async function peerGet(port: number, group: string, key: string): Promise<{ status: number; value?: string; res: RawResponse }> {
  const res = await sendRaw(port, build({ target: peerPath(group, key) }, originOf(port)));
  if (res.status !== 200) return { status: res.status, res };
  expect(res.headers['content-type']).to.equal('application/x-protobuf');
  return { status: 200, value: Buffer.from(decodeGetResponse(res.body)).toString(), res };
}

/** A key of the `scores` group that this peer owns, so the app route loads it here. */
function ownKey(peer: Peer, prefix: string): string {
  for (let i = 0; ; i++) if (peer.cache.pool.ownerOf(`${prefix}-${i}`) === peer.cache.pool.self) return `${prefix}-${i}`;
}

async function appGet(port: number, key: string): Promise<RawResponse> {
  return sendRaw(port, build({ target: `/app/${encodeURIComponent(key)}`, auth: 'none' }, originOf(port)));
}

for (const fastPath of [true, false]) {
  describe(`hostile peer requests (${fastPath ? 'fast path: answered before Express' : 'fastPath: false: through Express'})`, function () {
    this.timeout(60_000);
    let peer: Peer;
    /** The case names and shapes; each test builds its case afresh, signed for the peer. */
    const cases = corpus(originOf(0));
    const fresh = () => corpus(originOf(peer.port));

    before(async () => {
      peer = await startTargetPeer({ fastPath });
      // Warm up: the first app request installs the fast path; then cache one value.
      const warm = ownKey(peer, 'warm');
      expect((await appGet(peer.port, warm)).body.toString()).to.equal(`app says value:${warm}`);
      expect(await peerGet(peer.port, 'scores', CACHED)).to.include({ status: 200, value: `value:${CACHED}` });
      expect(peer.calls).to.deep.equal([`scores:${warm}`, `scores:${CACHED}`]);
    });
    after(() => peer.close());

    it('refuses at least 50 distinct hostile requests sent all at once, with the answers they get one by one, running no getter', async () => {
      const hostile = fresh().filter((c) => c.served === undefined);
      expect(new Set(hostile.map((c) => c.name)).size, 'distinct requests').to.equal(hostile.length);
      const callsBefore = peer.calls.length;
      const answers = await Promise.all(
        hostile.map((c) => sendRaw(peer.port, Buffer.isBuffer(c.request) || typeof c.request === 'string' ? c.request : build(c.request, originOf(peer.port)))),
      );
      const refused = answers.filter((res) => res.status === 0 || res.status >= 400);
      expect(refused.length, 'requests the peer refused (4xx or closed)').to.be.at.least(50);
      expect(answers.map((res, i) => `${hostile[i].name}: ${res.status}`)).to.deep.equal(hostile.map((c) => `${c.name}: ${c.status}`));
      expect(peer.calls.slice(callsBefore), 'getter calls').to.deep.equal([]);
    });

    cases.forEach(({ name, status }, i) => {
      it(`${status || 'closes'}: ${name}`, async () => {
        const c = fresh()[i];
        const scores = peer.cache.group('scores');
        const callsBefore = peer.calls.length;
        const hitsBefore = scores.stats.cacheHits;
        const res = await sendRaw(peer.port, Buffer.isBuffer(c.request) || typeof c.request === 'string' ? c.request : build(c.request, originOf(peer.port)));
        expect(res.status, `response:\n${res.text.slice(0, 500)}`).to.equal(c.status);
        if (c.body) expect(res.body.toString('utf8')).to.match(c.body);
        c.check?.(res);
        if (c.status === 0) expect(res.text).to.equal('');
        if (c.served === undefined) {
          expect(peer.calls.slice(callsBefore), 'getter calls').to.deep.equal([]);
        } else if (c.served === 'cached') {
          expect(peer.calls.slice(callsBefore), 'getter calls').to.deep.equal([]);
          expect(scores.stats.cacheHits).to.equal(hitsBefore + 1);
          expect(Buffer.from(decodeGetResponse(res.body)).toString()).to.equal(`value:${CACHED}`);
        } else {
          expect(peer.calls.slice(callsBefore), 'getter calls').to.deep.equal([`scores:${c.served}`]);
          expect(Buffer.from(decodeGetResponse(res.body)).toString()).to.equal(`value:${c.served}`);
        }
      });
    });

    it('still serves peers and the app afterwards, with the cached value still cached', async () => {
      const scores = peer.cache.group('scores');
      const calls = peer.calls.length;
      const hits = scores.stats.cacheHits;
      expect(await peerGet(peer.port, 'scores', CACHED)).to.include({ status: 200, value: `value:${CACHED}` });
      expect(scores.stats.cacheHits).to.equal(hits + 1);
      expect(peer.calls.length, 'the cached key ran no getter').to.equal(calls);

      expect(await peerGet(peer.port, 'posts', 'after')).to.include({ status: 200, value: 'post:after' });
      const fresh = ownKey(peer, 'after');
      expect((await appGet(peer.port, fresh)).body.toString()).to.equal(`app says value:${fresh}`);
      expect(peer.calls.slice(calls)).to.deep.equal(['posts:after', `scores:${fresh}`]);
      const refused = cases.filter((c) => c.served === undefined).length;
      expect(peer.calls.length, `${refused} refused requests ran no getter`).to.equal(2 + cases.filter((c) => c.served && c.served !== 'cached').length + 2);
    });

    it('answers pipelined requests in order, a bad one after a good one included', async () => {
      const good = `/_geecache/scores/${CACHED}`;
      const raw = Buffer.concat([
        Buffer.from(`GET ${good} HTTP/1.1\r\nHost: x\r\nx-geecache-auth: ${signerFor(originOf(peer.port)).sign('GET', good)}\r\n\r\n`),
        Buffer.from('GET /_geecache/scores/%zz HTTP/1.1\r\nHost: x\r\nx-geecache-auth: x\r\n\r\n'),
        Buffer.from(
          `GET /_geecache/scores/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-geecache-auth: ${signerFor(originOf(peer.port)).sign('GET', '/_geecache/scores/%zz')}\r\n\r\n`,
        ),
      ]);
      const res = await sendRaw(peer.port, raw);
      // One answer each, in order (the 401 starts right after the protobuf body, not on a new line).
      expect(res.text.match(/HTTP\/1\.1 \d{3} /g)).to.deep.equal(['HTTP/1.1 200 ', 'HTTP/1.1 401 ', 'HTTP/1.1 400 ']);
      expect(res.text).to.include(`value:${CACHED}`).and.include('unauthorized: ').and.include('bad request: malformed %-escape');
    });
  });
}

describe('slow and idle senders', function () {
  this.timeout(30_000);
  let peer: Peer;
  // The server's own limits, wide enough that a valid request sent once every slow connection is
  // open is answered before the first of them runs out, even on a loaded machine.
  const HEADERS_TIMEOUT_MS = 3_000;
  before(async () => {
    peer = await startTargetPeer({}, { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 2 * HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 50 });
  });
  after(() => peer.close());

  /** Opens a connection that writes one piece of `pieces` every `everyMs`, and reports when it is closed. */
  function trickle(pieces: (string | Buffer)[], everyMs: number) {
    const socket = net.connect(peer.port, '127.0.0.1');
    let received = '';
    let i = 0;
    const timer = setInterval(() => (i < pieces.length ? socket.write(pieces[i++]) : undefined), everyMs);
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    return new Promise<{ received: string }>((resolve) => {
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ received });
      });
    });
  }

  it('408s and closes slow headers, slow bodies and idle sockets, without holding up other requests', async () => {
    // Headers that never end (no blank line), a byte every 30 ms: past requestTimeout.
    const headerBytes = [...`GET /_geecache/scores/k HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(300)}`];
    const body = Buffer.from(encodeBatchRequest([{ group: 'scores', key: 'slow' }]));
    // Signed for a body 100 bytes longer than it sends: the server waits for the rest.
    const whole = Buffer.concat([body, Buffer.alloc(100)]);
    const batchHead = `POST /_geecache/ HTTP/1.1\r\nHost: x\r\nContent-Type: ${BATCH_TYPE}\r\nContent-Length: ${whole.length}\r\nx-geecache-content-sha256: ${digestOf(whole)}\r\nx-geecache-auth: ${signerFor(originOf(peer.port)).sign('POST', '/_geecache/', Date.now(), whole)}\r\n\r\n`;
    let closed = 0;
    const slow = [
      ...Array.from({ length: 10 }, () => trickle(headerBytes, 30)), // slowloris: headers never end
      trickle([batchHead, ...body.toString('latin1')], 30), // headers done, body trickles past requestTimeout
      trickle([], 30), // connects and says nothing
    ].map((p) => p.finally(() => closed++));
    // Once the server holds all 12 (a bounded poll: connecting takes what it takes on a loaded machine)...
    for (let i = 0; i < 500 && (await connections(peer.server)) < slow.length; i++) await sleep(10);
    expect(await connections(peer.server), 'slow connections open').to.equal(slow.length);
    // ...a valid request is answered while they hang on: before the server times out any of them.
    expect(await peerGet(peer.port, 'scores', 'while-slow')).to.include({ status: 200, value: 'value:while-slow' });
    expect(closed, 'slow connections the server had closed when the valid request was answered').to.equal(0);

    for (const { received } of await Promise.all(slow)) expect(received).to.match(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(peer.calls).to.deep.equal(['scores:while-slow']);
    expect(await peerGet(peer.port, 'scores', 'after-slow')).to.include({ status: 200, value: 'value:after-slow' });
  });
});

describe('the peer route without a secret', () => {
  let peer: Peer | undefined;
  afterEach(() => peer?.close());

  it('serves unsigned requests with secret: false', async () => {
    peer = await startTargetPeer({ secret: false });
    const res = await sendRaw(peer.port, build({ target: '/_geecache/scores/open', auth: 'none' }, ''));
    expect(res.status).to.equal(200);
    expect(Buffer.from(decodeGetResponse(res.body)).toString()).to.equal('value:open');
    // Any auth header is ignored rather than checked.
    expect((await sendRaw(peer.port, build({ target: '/_geecache/scores/open', auth: 'junk' }, ''))).status).to.equal(200);
    // Everything else is still refused.
    expect((await sendRaw(peer.port, build({ target: '/_geecache/scores/%zz', auth: 'none' }, ''))).status).to.equal(400);
    expect((await sendRaw(peer.port, build({ method: 'PATCH', target: '/_geecache/scores/open', auth: 'none' }, ''))).status).to.equal(405);
    // With secret: false anyone who reaches the route may write: a PUT is read as a set (README, Security).
    expect((await sendRaw(peer.port, build({ method: 'PUT', target: '/_geecache/scores/open', auth: 'none' }, ''))).status).to.equal(415);
    expect(peer.calls).to.deep.equal(['scores:open']);
  });

  it('answers 403 and runs no getter when there is one peer and no secret', async () => {
    peer = await startTargetPeer({ peers: undefined, secret: undefined });
    const { calls } = peer;
    for (const spec of [
      { target: '/_geecache/scores/k', auth: 'none' },
      { target: '/_geecache/scores/k' },
      { target: '/_geecache/nope/k' },
      { method: 'POST', target: '/_geecache/scores/k' },
    ]) {
      const res = await sendRaw(peer.port, build(spec, originOf(peer.port)));
      expect(res.status, spec.target).to.equal(403);
      expect(res.body.toString()).to.equal('peer route disabled: this peer has no other peers and no secret\n');
    }
    expect(calls).to.deep.equal([]);
    // The app and its cache work as usual.
    expect((await appGet(peer.port, 'k')).body.toString()).to.equal('app says value:k');
    expect(calls).to.deep.equal(['scores:k']);
  });
});
