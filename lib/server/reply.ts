/**
 * How the peer route answers: plain-text statuses as Go's http.Error writes them, refusals that
 * close a connection whose body is left unread, and a get's outcome as the result a peer is sent
 * (with the headers that mark a failure's kind).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ByteView } from '../cache/byteview.js';
import type { GetRequest } from '../cache/peers.js';
import { wireTags } from '../cache/tags.js';
import { MAX_TIMER_MS } from '../common/checks.js';
import { BadKeyError, errorFacts, LoadTimeoutError, NotFoundError } from '../common/errors.js';
import { ERROR_HEADER, ERROR_NAME_HEADER, ERROR_STATUS_HEADER, GETTER_FAILED, MAX_ERROR_TEXT, NOT_FOUND } from '../protocol/headers.js';
import type { PeerFailure, PeerResult } from '../protocol/wire.js';

/** Ends `res` with a plain-text status, as Go's http.Error does. */
export function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  const body = `${text.slice(0, MAX_ERROR_TEXT)}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Answers a request whose body is left unread, and closes its connection: stops reading the
 * socket at once (Node would otherwise read the rest of the body to discard it) and destroys it
 * once the answer is out. The client may see a reset instead of the answer if it is still sending.
 */
export function refuse(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const socket = req.socket;
  socket.pause();
  reply(res, status, text, { ...headers, connection: 'close' });
  if (res.writableFinished || !res.headersSent) socket.destroy();
  else res.once('finish', () => socket.destroy());
}

/** Ends `res` with a 200 and `body`, unless the client is gone (the load still filled the cache). */
export function send(res: ServerResponse, type: string, body: Uint8Array): void {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': type, 'content-length': body.length });
  res.end(body);
}

/** A cached or loaded value as the result a peer is sent (with its tags, when it has some). */
export function resultOf(value: ByteView): PeerResult {
  const { tagged } = value;
  if (tagged !== undefined) return { ok: true, value: ByteView.unwrap(value), expiresAt: value.expiresAt, ...wireTags(tagged) };
  return value.expiresAt === undefined ? { ok: true, value: ByteView.unwrap(value) } : { ok: true, value: ByteView.unwrap(value), expiresAt: value.expiresAt };
}

/**
 * A failed get as a result: a bad key is the asker's fault (400), a NotFoundError 404 (marked, so
 * the asker raises it too), anything else the getter's (500, marked so the asker does not run its
 * getter again). Whatever was thrown — a Proxy whose traps throw, `Object.create(null)`,
 * undefined — is read without throwing (errorFacts).
 */
export function failure(err: unknown): PeerResult {
  const facts = errorFacts(err);
  let badKey = false;
  let notFound = false;
  try {
    badKey = err instanceof BadKeyError;
    notFound = err instanceof NotFoundError;
  } catch {} // a Proxy's getPrototypeOf trap may throw: then it is not ours
  const error = facts.message.slice(0, MAX_ERROR_TEXT);
  if (badKey) return { ok: false, status: 400, error };
  if (notFound) return { ok: false, status: 404, error, kind: NOT_FOUND };
  const out: PeerResult = { ok: false, status: 500, error, kind: GETTER_FAILED, name: facts.name };
  if (facts.status !== undefined) out.errorStatus = facts.status;
  return out;
}

/** The headers of a plain GET's failure: its kind, and a getter error's name and HTTP status. */
export function failureHeaders(result: PeerFailure): Record<string, string> {
  const headers: Record<string, string> = {};
  if (result.kind) headers[ERROR_HEADER] = result.kind;
  if (result.name) headers[ERROR_NAME_HEADER] = result.name;
  if (result.errorStatus) headers[ERROR_STATUS_HEADER] = String(result.errorStatus);
  return headers;
}

/**
 * How long the asker waits for a load (WAIT_HEADER, its loadTimeoutMs), or undefined without a
 * valid one (golang/groupcache clients send none: their requests wait for the load).
 */
export function waitOf(raw: string | undefined): number | undefined {
  const ms = raw === undefined ? Number.NaN : Number(raw);
  return Number.isSafeInteger(ms) && ms > 0 && ms <= MAX_TIMER_MS ? ms : undefined;
}

/** The failure a get still loading when the asker's wait ran out answers with (the load itself goes on). */
export function waitedOut({ group, key }: GetRequest, waitMs: number): PeerResult {
  return failure(
    new LoadTimeoutError(
      `the load of key ${JSON.stringify(key)} in group "${group}" on the owner is still running after the asker's wait (its loadTimeoutMs, ${waitMs} ms); it goes on there and will be cached`,
    ),
  );
}
