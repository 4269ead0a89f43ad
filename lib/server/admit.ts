/**
 * Admission to the peer route: every check a peer request passes before a handler acts on it, in
 * one place. On the headers (admit): the route is on (403), the geecache headers it acts on have
 * their exact shape (400), the signature was made for this peer (401), the asker's membership
 * digest is compared with ours, a write is new (409 for a replay, see nonces.ts) and its writer
 * dropped none meant for this peer before it (sequences.ts), a leaving peer
 * sends gets elsewhere (503). On a body (body): its
 * length is bounded (411, 413), the bodies being read share a byte budget (503 for what does
 * not fit), a withheld or dripped one is cut off (408) and holds none of it until its first
 * byte, and it must match its signed digest (401).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { MAX_TIMER_MS } from '../common/checks.js';
import { digestOf, type RequestSigner } from '../protocol/auth.js';
import {
  AUTH_HEADER,
  CLIENT_CERT_REFUSED,
  DIGEST_HEADER,
  LEAVING_HEADER,
  MAX_BODY_BYTES_IN_FLIGHT,
  MAX_SET_REQUEST_BYTES,
  PEEK_HEADER,
  RING_HEADER,
  WAIT_HEADER,
} from '../protocol/headers.js';
import { readSequence, readWriteHeader, WRITE_HEADER } from '../protocol/writeheader.js';
import { MAX_NONCES, NonceLog } from './nonces.js';
import { refuse, reply } from './reply.js';
import { SelfOrigin } from './selforigin.js';
import { SequenceLog } from './sequences.js';

/** Told the membership digest (RING_HEADER) of each asker that sends one: notices peers whose membership differs from ours. */
export interface RingCheck {
  check(theirs: string): void;
}

/** Counts peer requests in flight and says when this peer is leaving the cluster (a Drain). */
export interface InFlight {
  /** True once leaving: new gets are answered 503 + LEAVING_HEADER (peeks and writes still served). */
  readonly leaving: boolean;
  /** A peer request started; call {@link leave} once it is answered. */
  enter(): void;
  leave(): void;
}

/** What admission needs of the configuration. */
export interface AdmissionOptions {
  /** Checks signatures; undefined with `secret: false`. */
  readonly signer: RequestSigner | undefined;
  /** False for a lone peer with no secret: its route then answers 403 to everything. */
  readonly enabled: boolean;
  /** This peer's base URL as the others reach it: signatures name their target peer's origin. */
  readonly self: string;
  /** A body not received within this long is cut off (408, connection closed). */
  readonly timeoutMs: number;
  /** Counts requests in flight; once leaving, gets are refused (see InFlight). */
  readonly drain?: InFlight;
  /** Compares each asker's membership digest with ours. */
  readonly agreement?: RingCheck;
  /**
   * Refuse requests (401) whose connection did not present a client certificate that the app's
   * HTTPS server verified (`tls.requireClientCert`: mutual TLS between peers).
   */
  readonly requireClientCert?: boolean;
  /**
   * Called when a signed write's sequence number jumps (sequences.ts): its writer dropped writes
   * meant for this peer. Before the write is handled.
   */
  readonly onWriteGap?: () => void;
}

/** A body's kind, for its bounds and messages. */
export type BodyKind = 'batch' | 'set';

/**
 * Bytes of set bodies being read at once, over all connections: room for two of the largest
 * (MAX_SET_REQUEST_BYTES) or many smaller ones, so one slow writer does not shut out the others.
 */
export const MAX_SET_BYTES_IN_FLIGHT = 2 * MAX_SET_REQUEST_BYTES;

const UNAUTHORIZED = 'unauthorized: missing or invalid peer signature (do all peers share the same secret?)';

/** A membership digest as peers send it (cluster/agreement.ts membershipHash): 16 hex digits. */
const RING_SHAPE = /^[0-9a-f]{16}$/;
/** A wait as peers send it: whole milliseconds, at most MAX_TIMER_MS (checked apart). */
const WAIT_SHAPE = /^[1-9][0-9]{0,9}$/;
/** How far ahead of this clock a write's version may be (ms): its writer's clock, at most 30 s off, and what it saw of others. */
const MAX_VERSION_AHEAD_MS = 60_000;
/** Versions per millisecond (cache/writeorder.ts). */
const VERSION_STEPS_PER_MS = 1000;
/**
 * The methods that change a peer's state: the writes (set, remove, clear). Each carries a nonce
 * and a version checked here. A route that changes state must use one of them (or be added here),
 * never GET or the batch POST.
 */
const WRITE_METHODS = new Set(['PUT', 'DELETE']);
const REPLAYED = `replayed write: this peer already took a write with this ${WRITE_HEADER} nonce; a write is applied at most once`;
const LEAVING = 'leaving: this peer is shutting down; ask the next owner or load locally';

/**
 * Headers of a 401: the Date is the clock the signature check used, so the client can tell
 * skewed clocks from a wrong secret (Node's own Date header comes from another clock source).
 */
const unauthorizedHeaders = () => ({ date: new Date(Date.now()).toUTCString() });

/**
 * A peer request as admission read it: the request line, and the headers acted on, read in one
 * pass over rawHeaders (Node builds `req.headers` only when it is read, a measurable share of
 * serving a hot key). Repeats are joined with ", " as `req.headers` joins them; names are
 * lowercased only when their length matches one of these.
 */
export class PeerRequest {
  /** The request target as sent, query included (what the signature covers). */
  readonly url: string;
  /** The target without its query. */
  readonly path: string;
  readonly method: string;
  host: string | undefined;
  auth: string | undefined;
  ring: string | undefined;
  peek: string | undefined;
  wait: string | undefined;
  /** WRITE_HEADER as sent (a write's version and nonce). */
  write: string | undefined;
  /** A write's version, once admitted (undefined: not a write, or an unsigned write without one). */
  version: number | undefined;
  /** The Content-Length as signed: '' without one, 'chunked' for a chunked body. */
  length = '';
  /** The body's digest as signed ('' without one). */
  digest = '';
  readonly #raw: string[];

  constructor(req: IncomingMessage, url: string) {
    this.url = url;
    const query = url.indexOf('?');
    this.path = query < 0 ? url : url.slice(0, query);
    this.method = req.method ?? '';
    const raw = req.rawHeaders;
    this.#raw = raw;
    let length: string | undefined;
    let chunked = false;
    let digest: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i].length;
      if (n !== 4 && n !== 14 && n !== 15 && n !== 16 && n !== 17 && n !== 18 && n !== 25) continue;
      const name = raw[i].toLowerCase();
      const value = raw[i + 1];
      if (name === 'host') this.host = join(this.host, value);
      else if (name === AUTH_HEADER) this.auth = join(this.auth, value);
      else if (name === RING_HEADER) this.ring = join(this.ring, value);
      else if (name === PEEK_HEADER) this.peek = join(this.peek, value);
      else if (name === WAIT_HEADER) this.wait = join(this.wait, value);
      else if (name === WRITE_HEADER) this.write = join(this.write, value);
      else if (name === 'content-length') length = join(length, value);
      else if (name === 'transfer-encoding') chunked = true;
      else if (name === DIGEST_HEADER) digest = join(digest, value);
    }
    // A GET may carry a body (nothing reads it): then its length and digest are signed like a POST's.
    if (length !== undefined) this.length = length;
    else if (chunked) this.length = 'chunked';
    if (digest !== undefined) this.digest = digest;
  }

  /** Any other header (`name` in lower case), read from rawHeaders the same way. */
  header(name: string): string | undefined {
    const raw = this.#raw;
    let value: string | undefined;
    for (let i = 0; i < raw.length; i += 2) if (raw[i].length === name.length && raw[i].toLowerCase() === name) value = join(value, raw[i + 1]);
    return value;
  }
}

/** Whether a write's version is further ahead of this clock (`now`) than any writer's can be. */
export const versionAhead = (version: number, now: number): boolean => version > (now + MAX_VERSION_AHEAD_MS) * VERSION_STEPS_PER_MS;

const join = (seen: string | undefined, value: string) => (seen === undefined ? value : `${seen}, ${value}`);

/** The checks of {@link PeerRequest}s and their bodies, for one peer server. */
export class Admission {
  readonly #options: AdmissionOptions;
  /** Which origins name this peer: signatures must be made for it. */
  readonly #self: SelfOrigin;
  /**
   * The last membership digest and wait found well-formed: each asker sends the same ones again
   * and again, so a hot GET compares two short strings instead of running two regular expressions.
   */
  #goodRing = '';
  #goodWait = '';
  /** The nonces of the writes taken while their signatures are valid. */
  readonly #nonces = new NonceLog();
  /** The last sequence number of each writer's stream of writes to this peer. */
  readonly #sequences = new SequenceLog();
  /** Body bytes being read right now, over all connections, by kind (see body). */
  readonly #bodyBytes = { batch: 0, set: 0 };

  constructor(options: AdmissionOptions) {
    this.#options = options;
    this.#self = new SelfOrigin(options.self);
  }

  /**
   * The request, checked from its headers alone, or undefined once it is answered. The signature
   * covers this peer's origin, the whole request line and the body's length and digest, so an
   * unsigned client gets its 401 before a byte of any body is read (and a closed connection, when
   * it sent one), and leaves nothing buffered here.
   */
  admit(req: IncomingMessage, res: ServerResponse, url: string): PeerRequest | undefined {
    const { signer, enabled, agreement, drain } = this.#options;
    if (!enabled) return void reply(res, 403, 'peer route disabled: this peer has no other peers and no secret');
    // Mutual TLS: before anything of the request is read; the connection is closed (a body is left unread).
    const missing = this.#options.requireClientCert ? missingClientCert(req.socket) : undefined;
    if (missing !== undefined) return void refuse(req, res, 401, `${CLIENT_CERT_REFUSED} signed by a CA its HTTPS server trusts: ${missing}`);
    const request = new PeerRequest(req, url);
    const malformed = this.#malformed(request);
    if (malformed !== undefined) return void refuseEarly(req, res, request, 400, `bad request: ${malformed}`, {});
    if (signer && !this.#signed(signer, request)) return void refuseEarly(req, res, request, 401, UNAUTHORIZED, unauthorizedHeaders());
    // Before any body is read: a replayed write's body is never waited for.
    if (WRITE_METHODS.has(request.method) && !this.#newWrite(req, res, request, signer !== undefined)) return;
    if (request.ring !== undefined) agreement?.check(request.ring);
    // Leaving: gets and batches go elsewhere; peeks (handoff from this peer's cache) and writes are still served.
    if (drain?.leaving && request.peek === undefined && (request.method === 'GET' || request.method === 'POST'))
      return void refuseEarly(req, res, request, 503, LEAVING, { [LEAVING_HEADER]: '1' });
    return request;
  }

  /**
   * The body of an admitted request, or undefined once the request is answered: it needs a
   * Content-Length (chunked: 411) within `limit` (413). Bodies being read share a budget per kind
   * (batches MAX_BODY_BYTES_IN_FLIGHT, sets MAX_SET_BYTES_IN_FLIGHT): a body takes its whole
   * Content-Length from it when its first byte arrives, and one that does not fit is refused (503
   * + Retry-After), so many connections cannot make this peer buffer more. A body takes nothing
   * while it is withheld, and one not all there within timeoutMs of its headers is cut off (408):
   * headers sent without their body hold no writer out. Then it must match its signed digest (401).
   */
  async body(req: IncomingMessage, res: ServerResponse, request: PeerRequest, kind: BodyKind, limit: number): Promise<Buffer | undefined> {
    const { length, digest } = request;
    if (length === '' || length === 'chunked') return void refuse(req, res, 411, `a ${kind} request needs a Content-Length (chunked bodies are refused)`);
    const size = Number(length);
    if (!(size <= limit)) return void refuse(req, res, 413, `${kind} request over ${limit} bytes`);
    const cap = kind === 'batch' ? MAX_BODY_BYTES_IN_FLIGHT : MAX_SET_BYTES_IN_FLIGHT;
    let reserved = false;
    const reserve = () => {
      if (this.#bodyBytes[kind] + size > cap) return false;
      this.#bodyBytes[kind] += size;
      reserved = true;
      return true;
    };
    let body: Buffer | 'busy' | undefined;
    try {
      body = await readBody(req, size, this.#options.timeoutMs, reserve);
    } finally {
      if (reserved) this.#bodyBytes[kind] -= size;
    }
    if (body === 'busy') {
      const text = `busy: ${kind} bodies of ${this.#bodyBytes[kind]} bytes are being read, and ${size} more would pass the ${cap} this peer reads at once; retry`;
      return void refuse(req, res, 503, text, { 'retry-after': '1' });
    }
    if (body === undefined)
      return void refuse(req, res, 408, `${kind} body not received in full within timeoutMs (${this.#options.timeoutMs} ms) of its headers`);
    if (this.#options.signer && digestOf(body) !== digest)
      return void reply(res, 401, 'unauthorized: the body does not match its signed digest', unauthorizedHeaders());
    return body;
  }

  /**
   * What is wrong with the geecache headers the route acts on, if anything. Each is signed too
   * (the membership digest) or only steers this request (peek, wait), and each must have its exact
   * shape, so no request makes this peer keep, compare or log text of the asker's choosing.
   */
  #malformed({ ring, peek, wait, write }: PeerRequest): string | undefined {
    if (write !== undefined && !readWriteHeader(write)) return `${WRITE_HEADER} must be <version>.<nonce>: a decimal version and a lower-case UUID`;
    if (ring !== undefined && ring !== this.#goodRing) {
      if (!RING_SHAPE.test(ring)) return `${RING_HEADER} must be the 16 hex digits of a membership digest`;
      this.#goodRing = ring;
    }
    if (peek !== undefined && peek !== '1') return `${PEEK_HEADER} must be 1`;
    if (wait !== undefined && wait !== this.#goodWait) {
      if (!WAIT_SHAPE.test(wait) || Number(wait) > MAX_TIMER_MS) return `${WAIT_HEADER} must be whole milliseconds, 1 to ${MAX_TIMER_MS}`;
      this.#goodWait = wait;
    }
    return undefined;
  }

  /**
   * Whether a write (PUT, DELETE) is one this peer has not taken yet, else answered: a signed
   * write must carry WRITE_HEADER (400), whose nonce must be new (409: a replay) and whose version
   * not far ahead of this clock (400). Sets `request.version`.
   */
  #newWrite(req: IncomingMessage, res: ServerResponse, request: PeerRequest, signed: boolean): boolean {
    const write = request.write === undefined ? undefined : readWriteHeader(request.write);
    if (!write) {
      // An unsigned mailgun/groupcache write: applied as it comes (docs/security.md: secret: false).
      if (!signed) return true;
      refuseEarly(req, res, request, 400, `bad request: a signed write needs ${WRITE_HEADER} (its version and nonce)`, {});
      return false;
    }
    const now = Date.now();
    if (write.version !== undefined && versionAhead(write.version, now)) {
      refuseEarly(req, res, request, 400, `bad request: the ${WRITE_HEADER} version is over ${MAX_VERSION_AHEAD_MS / 1000} s ahead of this peer's clock`, {});
      return false;
    }
    const auth = request.auth;
    const signedAt = signed && auth ? Number(auth.slice(0, auth.indexOf('.'))) : now;
    const seen = this.#nonces.see(write.nonce, signedAt, now);
    if (seen === 'repeat') refuseEarly(req, res, request, 409, REPLAYED, {});
    else if (seen === 'full')
      refuseEarly(req, res, request, 503, `busy: ${MAX_NONCES} writes of the last 30 s are remembered against replays, the most this peer keeps; retry`, {
        'retry-after': '1',
      });
    else request.version = write.version;
    // Only a signed number is trusted: without a secret any client could make this peer drop its caches.
    const sequence = seen === 'new' && signed ? readSequence(write.nonce) : undefined;
    if (sequence && this.#sequences.see(sequence.stream, sequence.seq) === 'gap') this.#options.onWriteGap?.();
    return seen === 'new';
  }

  /** Whether the signature is valid, fresh, and made for this peer (a remembered body-less one costs no HMAC). */
  #signed(signer: RequestSigner, { method, url, host, auth, length, digest, ring = '', write }: PeerRequest): boolean {
    const origin = this.#self.of(host);
    return length === '' && digest === '' && write === undefined
      ? signer.verifyBodyless(method, origin, url, auth, Date.now(), ring)
      : signer.verify({ method, url: origin + url, length, digest, ring, write }, auth);
  }
}

/**
 * Why `socket` has no client certificate its server verified, or undefined when it has one (its
 * `authorized`, set by an HTTPS server created with `requestCert: true`). OpenSSL's reason is a
 * code such as DEPTH_ZERO_SELF_SIGNED_CERT; the certificate's own text is never quoted.
 */
function missingClientCert(socket: IncomingMessage['socket']): string | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (tls.authorized === true) return undefined;
  if (tls.encrypted !== true) return 'this request came over plain HTTP';
  const reason = tls.authorizationError as { code?: unknown } | string | undefined | null;
  const code = String((typeof reason === 'object' && reason !== null ? reason.code : reason) ?? 'none')
    .replace(/[^A-Za-z0-9_]/g, '')
    .slice(0, 64);
  const presented = typeof tls.getPeerCertificate === 'function' && Object.keys(tls.getPeerCertificate() ?? {}).length > 0;
  return presented ? `the one presented was refused (${code})` : 'none was presented (or that server does not ask for one: requestCert: true)';
}

/** A refusal from the headers alone: a request without a body keeps its connection; one with a body left unread closes it. */
function refuseEarly(req: IncomingMessage, res: ServerResponse, request: PeerRequest, status: number, text: string, headers: Record<string, string>): void {
  if (request.length === '') reply(res, status, text, headers);
  else refuse(req, res, status, text, headers);
}

/**
 * The request body of `size` bytes (its Content-Length, already checked), read into one buffer
 * allocated when its first byte arrives, once `reserve` granted the room ('busy' when it did
 * not); undefined when it is not all there within `timeoutMs` (withheld or dripped) or the
 * client left.
 */
function readBody(req: IncomingMessage, size: number, timeoutMs: number, reserve: () => boolean): Promise<Buffer | 'busy' | undefined> {
  return new Promise((resolve) => {
    let body: Buffer | undefined;
    let at = 0;
    const done = (value: Buffer | 'busy' | undefined) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onFail);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      if (at + chunk.length > size) return done(undefined); // Node enforces Content-Length; never trust it
      if (body === undefined) {
        if (!reserve()) return done('busy');
        body = Buffer.allocUnsafe(size);
      }
      chunk.copy(body, at);
      at += chunk.length;
    };
    const onEnd = () => done(at === size ? (body ?? Buffer.alloc(0)) : undefined);
    const onFail = () => done(undefined);
    const timer = setTimeout(onFail, timeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', onFail).on('close', onFail);
  });
}
