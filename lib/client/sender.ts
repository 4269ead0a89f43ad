// Signing and sending the requests of one peer client through its Transport, reading whole answers,
// and turning a failed exchange into the error its caller rejects with (told to the PeerMonitor).
import { type PeerTrace, traceContextOf } from '../common/diagnostics.js';
import { messageOf } from '../common/errors.js';
import { digestOf, type RequestSigner } from '../protocol/auth.js';
import {
  AUTH_HEADER,
  BATCH_CONTENT_TYPE,
  BATCH_STREAM_TYPE,
  DIGEST_HEADER,
  ERROR_HEADER,
  ERROR_NAME_HEADER,
  ERROR_STATUS_HEADER,
  GETTER_FAILED,
  LEAVING_HEADER,
  NOT_FOUND,
  PEEK_HEADER,
  PEEK_MISS,
  RING_HEADER,
  WAIT_HEADER,
} from '../protocol/headers.js';
import { NEWER_HEADER, readNewer, WRITE_HEADER, writeHeader } from '../protocol/writeheader.js';
import { type BodyReading, readBody } from './body.js';
import type { ByteBudget } from './bodybudget.js';
import { type Exchange, isDownError, Liveness } from './liveness.js';
import type { PeerMonitor } from './peermonitor.js';
import { NodeFetchTransport, type PeerTls, type Transport, type TransportName, type TransportResponse } from './transport.js';
import { loadUndici, UndiciTransport } from './undici.js';

/** What a {@link PeerSender} needs of the configuration (see GeecacheOptions for each). */
export interface SenderOptions {
  readonly basePath: string;
  /** Signs requests, or undefined to send none (golang/groupcache peers, `secret: false`). */
  readonly signer: RequestSigner | undefined;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly backoffMs: number;
  readonly maxSockets: number;
  /** The asker's membership digest, sent on every request (see RingAgreement). */
  readonly ringHash?: () => string;
  /** The HTTP client (lib/client/transport.ts): node-fetch (default) or undici. */
  readonly transport?: TransportName;
  /** CAs, client certificate and name for https peers (the `tls` option's client half); none: Node's defaults. */
  readonly tls?: PeerTls;
}

/**
 * A request as {@link PeerSender.send} takes it. `peek` adds PEEK_HEADER; `waitMs` WAIT_HEADER;
 * `trace` (a traced request's, see PEER_TRACE) its traceparent and tracestate, and is told the
 * method and the answer's status.
 */
export interface Outgoing {
  waitMs?: number;
  body?: Uint8Array;
  contentType?: string;
  peek?: boolean;
  /** A write's version (cache/writeorder.ts): every PUT and DELETE carries it, with a new nonce, in WRITE_HEADER (none: 0, unordered). */
  version?: number;
  /** A write's nonce (a sequenced one, protocol/writeheader.ts); default a new random UUID. */
  nonce?: string;
  trace?: PeerTrace;
}

/** A peer's answer, read in full. */
export interface Answer {
  status: number;
  type: string | null;
  errorKind: string | null;
  /** A getter failure's error name and HTTP status (headers; see PeerFailure). */
  errorName: string | null;
  errorStatus: string | null;
  /** The peer answered 503 with LEAVING_HEADER: it is draining. */
  leaving: boolean;
  /** On a 409 to a write: the newer version the peer applied (NEWER_HEADER). */
  newer: number | undefined;
  body: Buffer;
}

/**
 * Sends one peer's requests: each signed for the peer's origin and its whole request line (with
 * the body's length and digest), over the transport's keep-alive connections, judged by the
 * peer's {@link Liveness} (which probes over a second, one-connection transport of the same kind).
 */
export class PeerSender {
  readonly peer: string;
  /** Busy or down: the watchdog of this peer's exchanges. */
  readonly liveness: Liveness;
  /** The peer route's path on the peer, e.g. `/_geecache/`. */
  readonly basePath: string;
  readonly #origin: string;
  readonly #options: SenderOptions;
  readonly #monitor: PeerMonitor;
  readonly #budget: ByteBudget;
  readonly #transport: Transport;
  /** The same kind of transport with one keep-alive connection of its own, for liveness probes. */
  readonly #probes: Transport;

  constructor(peer: string, options: SenderOptions, monitor: PeerMonitor, budget: ByteBudget) {
    const url = new URL(options.basePath, peer);
    this.peer = peer;
    this.basePath = url.pathname;
    this.#origin = url.origin;
    this.#options = options;
    this.#monitor = monitor;
    this.#budget = budget;
    this.#transport = openTransport(options.transport, url.origin, options.maxSockets, options.tls);
    this.#probes = openTransport(options.transport, url.origin, 1, options.tls);
    this.liveness = new Liveness({ timeoutMs: options.timeoutMs, backoffMs: options.backoffMs, probe: (signal) => this.#probe(signal) });
  }

  /** A request whose answer is read in full (a get, a peek, a remove, a set). */
  async whole(method: string, path: string, outgoing: Outgoing): Promise<Answer> {
    const ex = this.liveness.begin(outgoing.waitMs ?? 0);
    try {
      return await this.answer(ex, method, path, await this.send(ex, method, path, outgoing), outgoing.peek);
    } catch (err) {
      throw this.failed(ex, method, path, err);
    } finally {
      this.liveness.end(ex);
    }
  }

  /** Signs and sends the request; resolves with the response once its headers are in. */
  async send(ex: Exchange, method: string, path: string, { waitMs, body, contentType, peek, trace, version, nonce }: Outgoing): Promise<TransportResponse> {
    const signer = this.#options.signer;
    const url = this.#origin + path;
    // The membership digest is signed with the rest: a server acts on it and may log it.
    const ring = this.#options.ringHash?.() ?? '';
    // A write is signed with its version and a nonce of its own: a peer takes it at most once.
    const write = method === 'PUT' || method === 'DELETE' ? writeHeader(version, nonce) : undefined;
    // A body is hashed once, for the signature and the digest header both.
    const signed = signer && body ? { length: body.length, digest: digestOf(body) } : undefined;
    const auth = !signer
      ? undefined
      : body || write
        ? signer.sign(method, url, Date.now(), signed, { ring, write })
        : signer.signFor(method, url, Date.now(), ring);
    const headers: Record<string, string> = !body
      ? {}
      : contentType
        ? { 'content-type': contentType }
        : { 'content-type': BATCH_CONTENT_TYPE, accept: BATCH_STREAM_TYPE };
    if (auth) headers[AUTH_HEADER] = auth;
    if (auth && signed) headers[DIGEST_HEADER] = signed.digest;
    // Whole milliseconds: the server refuses anything but digits (loadTimeoutMs may have a fraction).
    if (waitMs) headers[WAIT_HEADER] = String(Math.ceil(waitMs));
    if (peek) headers[PEEK_HEADER] = '1';
    if (ring) headers[RING_HEADER] = ring;
    if (write) headers[WRITE_HEADER] = write;
    if (trace) sendTrace(headers, method, trace);
    const res = await this.#transport.request({
      method,
      path,
      headers,
      body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined,
      // One signal per exchange; the watchdog (Liveness) is its only timer.
      signal: ex.controller.signal,
      // `102 Processing`: the owner is still loading this get. Heard from, it is waited for (up to the load's limit), never cut as down.
      onInformation: () => this.liveness.heard(ex),
    });
    this.liveness.heard(ex);
    if (trace) trace.status = res.status;
    return res;
  }

  /** Reads a whole answer and tells the monitor about it. */
  async answer(ex: Exchange, method: string, path: string, res: TransportResponse, peek = false): Promise<Answer> {
    const body = await readBody(res, this.reading(ex));
    const errorKind = res.header(ERROR_HEADER);
    const leaving = res.status === 503 && res.header(LEAVING_HEADER) !== null;
    const answer = {
      status: res.status,
      type: res.header('content-type'),
      errorKind,
      errorName: res.header(ERROR_NAME_HEADER),
      errorStatus: res.header(ERROR_STATUS_HEADER),
      leaving,
      newer: res.status === 409 ? readNewer(res.header(NEWER_HEADER)) : undefined,
      body,
    };
    const bodyStart = answer.status === 200 ? '' : body.subarray(0, 200).toString('utf8');
    // A not-found is an answer like a getter failure, not a sign of a misrouted peer route.
    const ownerAnswered = answer.errorKind === GETTER_FAILED || answer.errorKind === NOT_FOUND;
    // A peer leaving and a peek that found nothing are the protocol working, not the peer failing.
    // So is a write refused because the peer applied a newer one of its key (409 with NEWER_HEADER).
    const expected = leaving || (peek && res.status === 404 && errorKind === PEEK_MISS) || answer.newer !== undefined;
    this.#monitor.answered(method, path, answer.status, ex.startedAt, res.header('date'), ownerAnswered, bodyStart, expected);
    return answer;
  }

  /** How a body of `ex` is read: at most `maxBytes` (default maxResponseBytes), on the shared budget. */
  reading(ex: Exchange, maxBytes = this.#options.maxResponseBytes): BodyReading {
    return { peer: this.peer, maxBytes, budget: this.#budget, liveness: this.liveness, ex };
  }

  /** The error an exchange rejects with, after telling the monitor (unless `counted` is false) and marking the peer down on a refused connection. */
  failed(ex: Exchange, method: string, path: string, err: unknown, counted = true): Error {
    const { timeoutMs } = this.#options;
    let reason = err;
    if (ex.cut === 'down')
      reason = Object.assign(new Error(`no answer within timeoutMs (${timeoutMs} ms) to this request nor to a liveness probe`), { code: 'ETIMEDOUT' });
    else if (ex.cut === 'stuck') reason = Object.assign(new Error(`an answer stalled for timeoutMs (${timeoutMs} ms)`), { code: 'ETIMEDOUT' });
    else if (ex.cut === 'wait')
      reason = new Error(`no answer within the load's wait of ${Math.round(ex.giveUpAt - ex.startedAt)} ms, though the peer is alive`);
    else if (ex.cut === 'closed') return this.closed('', err);
    // Cut for its size: the peer answered; the abort that cut it must not read as a timeout.
    else if (ex.cut === 'size' || ex.cut === 'budget') reason = Object.assign(new Error(messageOf(err)), { code: ex.cut === 'size' ? 'ETOOLARGE' : 'EBUDGET' });
    else if (!ex.cut && isDownError(err)) this.liveness.markDown();
    // A reset is not enough to skip the peer — a healthy peer resets an idle keep-alive socket now and then — it fails this get.
    if (counted) this.#monitor.failed(method, path, ex.startedAt, reason);
    return new Error(`peer ${this.peer} failed: ${messageOf(reason)}`, { cause: reason });
  }

  /** The error of a request not sent (or cut) because the client was closed; `then` ends the sentence. */
  closed(then = '', cause?: unknown): Error {
    return new Error(`not asking peer ${this.peer}: geecache was closed${then}`, cause === undefined ? undefined : { cause });
  }

  /** Cuts the exchanges in flight, stops probing, closes the connections. */
  close(): void {
    this.liveness.close();
    this.#transport.close();
    this.#probes.close();
  }

  /**
   * The liveness probe: `GET {basePath}`, which geecache and Go answer at once without loading
   * anything, on the probes' own connection (the pooled ones may all be waiting on slow loads).
   * Any answer will do; its body is thrown away.
   */
  async #probe(signal: AbortSignal): Promise<void> {
    const signer = this.#options.signer;
    const headers: Record<string, string> = signer ? { [AUTH_HEADER]: signer.signFor('GET', this.#origin + this.basePath) } : {};
    const res = await this.#probes.request({ method: 'GET', path: this.basePath, headers, signal });
    res.body.on('error', () => {}).resume();
  }
}

/**
 * The headers of a traced request: the trace context its start subscriber set, when well-formed
 * (not signed: see docs/operations.md, "Tracing").
 */
function sendTrace(headers: Record<string, string>, method: string, trace: PeerTrace): void {
  trace.method = method;
  const { traceparent, tracestate } = traceContextOf(trace.traceparent, trace.tracestate);
  if (traceparent) headers.traceparent = traceparent;
  if (tracestate) headers.tracestate = tracestate;
}

/** The transport the `transport` option names, to `origin` over at most `maxSockets` connections (with `tls`, when it is https). */
function openTransport(name: TransportName | undefined, origin: string, maxSockets: number, tls: PeerTls | undefined): Transport {
  return name === 'undici' ? new UndiciTransport(loadUndici(), origin, maxSockets, tls) : new NodeFetchTransport(origin, maxSockets, tls);
}
