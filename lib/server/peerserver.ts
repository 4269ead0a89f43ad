import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { ByteView } from '../cache/byteview.js';
import type { GroupRegistry } from '../cache/registry.js';
import type { Drain } from '../cluster/drain.js';
import { BadKeyError, errorFacts, LoadTimeoutError, messageOf, NotFoundError } from '../common/errors.js';
import { digestOf, type RequestSigner } from '../protocol/auth.js';
import {
  AUTH_HEADER,
  BATCH_CONTENT_TYPE,
  BATCH_STREAM_TYPE,
  DIGEST_HEADER,
  decodeBatchRequest,
  decodeSegment,
  decodeSetRequest,
  ERROR_HEADER,
  ERROR_NAME_HEADER,
  ERROR_STATUS_HEADER,
  encodeBatchResponse,
  GET_RESPONSE_TYPE,
  GETTER_FAILED,
  type GetRequest,
  getResponsePrefix,
  getResponseSuffix,
  LEAVING_HEADER,
  MAX_BATCH,
  MAX_BATCH_REQUEST_BYTES,
  MAX_BODY_BYTES_IN_FLIGHT,
  MAX_ERROR_TEXT,
  MAX_SET_REQUEST_BYTES,
  NOT_FOUND,
  PEEK_HEADER,
  PEEK_MISS,
  type PeerFailure,
  type PeerResult,
  RING_HEADER,
  resultFramePrefix,
  SET_CONTENT_TYPE,
  STATS_PATH,
  WAIT_HEADER,
} from '../protocol/wire.js';
import { AppQueue } from './appqueue.js';
import { SelfOrigin } from './selforigin.js';

/** A plain GET from a geecache asker still loading after this long is sent `102 Processing`. */
const PROCESSING_AFTER_MS = 100;
/** Most GetResponse prefixes kept (one per value length: see PeerServer#prefixes). */
const MAX_PREFIXES = 1024;

const UNAUTHORIZED = 'unauthorized: missing or invalid peer signature (do all peers share the same secret?)';
/**
 * Headers of a 401: the Date is the clock the signature check used, so the client can tell
 * skewed clocks from a wrong secret (Node's own Date header comes from another clock source).
 */
const unauthorizedHeaders = (extra: Record<string, string> = {}) => ({ date: new Date(Date.now()).toUTCString(), ...extra });

/** What a {@link PeerServer} needs of the configuration. */
export interface PeerServerOptions {
  readonly basePath: string;
  /** Checks signatures; undefined with `secret: false`. */
  readonly signer: RequestSigner | undefined;
  /** False for a lone peer with no secret: its route then answers 403 to everything. */
  readonly enabled: boolean;
  /** This peer's base URL as the others reach it: signatures name their target peer's origin. */
  readonly self: string;
  /** A batch body not received within this long is cut off (408, connection closed). */
  readonly timeoutMs: number;
  /** This peer's figures for `GET {basePath}_stats` (dashboards, health checks); none: 404. */
  readonly stats?: () => unknown;
  /** Counts requests in flight; once leaving, gets are answered 503 + LEAVING_HEADER (peeks still served). */
  readonly drain?: Drain;
  /** Compares each asker's membership digest (RING_HEADER) with ours. */
  readonly agreement?: { check(theirs: string | undefined): void };
}

/**
 * The server side of the peer protocol: answers `GET {basePath}{group}/{key}` (golang/groupcache's
 * route, byte for byte) and geecache's batch `POST {basePath}` from this process's groups.
 */
export class PeerServer {
  readonly #registry: GroupRegistry;
  readonly #options: PeerServerOptions;
  readonly #attached = new WeakSet<Server>();
  /** Scratch writer for response prefixes; finish() leaves it empty for the next one. */
  readonly #writer = new BinaryWriter();
  /** Which origins name this peer: signatures must be made for it. */
  readonly #self: SelfOrigin;
  /**
   * GetResponse prefixes (tag + length) by value length as latin1 strings (one character per
   * byte), made once: values of one length repeat (hot keys, fixed-size records). A string, so
   * that Node joins it to the response's header block (it does so for a first write that is a
   * latin1 string): the socket then gets two pieces, headers + prefix and the value, as a bare
   * server's `end(body)` gives it, not three. At most {@link MAX_PREFIXES}, then it starts over.
   */
  readonly #prefixes = new Map<number, string>();
  /** Body bytes being read right now, over all connections, by route (see #readBody). */
  readonly #bodyBytes = { batch: 0, set: 0 };
  #closed = false;

  constructor(registry: GroupRegistry, options: PeerServerOptions) {
    this.#registry = registry;
    this.#options = options;
    this.#self = new SelfOrigin(options.self);
  }

  /**
   * Answers `req` if it is a peer request (its path starts with `basePath`) and returns true;
   * returns false, touching nothing, for any other request.
   */
  handle(req: IncomingMessage, res: ServerResponse, url = req.url ?? '/'): boolean {
    if (this.#closed || !url.startsWith(this.#options.basePath)) return false;
    if (req.method === 'GET') {
      try {
        this.#serveGet(req, res, url);
      } catch (err) {
        reply(res, 500, `internal error: ${messageOf(err)}`);
      }
      return true;
    }
    // #serve answers every expected failure itself; this catches the unexpected (a client that
    // vanished mid-body), so that one bad request can never take the process down.
    const drain = this.#options.drain;
    drain?.enter();
    const served = this.#serve(req, res, url).catch((err) => reply(res, 500, `internal error: ${messageOf(err)}`));
    if (drain) served.finally(() => drain.leave());
    return true;
  }

  /**
   * Serves peer requests on `server` before its other 'request' listeners (Express) see them,
   * so peer traffic skips Express's per-request work. Idempotent.
   */
  attach(server: Server): void {
    if (this.#attached.has(server)) return;
    this.#attached.add(server);
    const others = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    // Peer requests are answered as they are read; app requests of a burst wait their turn behind them (see AppQueue).
    const app = new AppQueue((req, res) => {
      for (const listener of others) listener.call(server, req, res);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.handle(req, res)) app.admit(req, res);
    });
  }

  /** Stops answering: peer requests then go on to the app like any other request. */
  close(): void {
    this.#closed = true;
  }

  /**
   * `GET {basePath}{group}/{key}` (and `{basePath}_stats`): golang/groupcache's route, which every
   * get from another peer takes. It does little more than a bare node:http server around it
   * (BENCHMARKS.md, peer-serve): no async function, no header object (Node builds `req.headers`
   * only when read: the headers acted on come from one pass over rawHeaders), no URL parsing but
   * the path split, and a cached value is written at once (Group.cachedForPeer), without the
   * promise, the drain's count or the wait-ms timers that only a load needs.
   */
  #serveGet(req: IncomingMessage, res: ServerResponse, url: string) {
    const { basePath, signer, enabled } = this.#options;
    if (!enabled) return reply(res, 403, 'peer route disabled: this peer has no other peers and no secret');
    const h = new GetHeaders(req.rawHeaders);
    // A GET may carry a body (nothing reads it): then its length and digest are signed like a POST's.
    const length = h.length ?? (h.chunked ? 'chunked' : '');
    const digest = h.digest ?? '';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (signer) {
      const origin = this.#self.of(h.host);
      const signed =
        length === '' && digest === ''
          ? signer.verifyBodyless('GET', origin, url, h.auth)
          : signer.verify({ method: 'GET', url: origin + url, length, digest }, h.auth);
      if (!signed) return length === '' ? reply(res, 401, UNAUTHORIZED, unauthorizedHeaders()) : refuse(req, res, 401, UNAUTHORIZED, unauthorizedHeaders());
    }
    if (h.ring !== undefined) this.#options.agreement?.check(h.ring);
    const peek = h.peek !== undefined;
    if (this.#options.drain?.leaving && !peek) {
      const text = 'leaving: this peer is shutting down; ask the next owner or load locally';
      return length === '' ? reply(res, 503, text, { [LEAVING_HEADER]: '1' }) : refuse(req, res, 503, text, { [LEAVING_HEADER]: '1' });
    }
    if (path.length === basePath.length + STATS_PATH.length && path.endsWith(STATS_PATH)) return this.#serveStats(res);
    const slash = path.indexOf('/', basePath.length);
    if (slash <= basePath.length) return reply(res, 400, `bad request: expected ${basePath}<group>/<key>`);
    if (path.indexOf('/', slash + 1) >= 0) return reply(res, 400, "bad request: the key must be one path segment (escape '/' as %2F)");
    const group = decodePlain(path.slice(basePath.length, slash));
    const key = decodePlain(path.slice(slash + 1));
    if (group === undefined || key === undefined) return reply(res, 400, 'bad request: malformed %-escape or bytes that are not UTF-8');
    if (peek) return this.#writeGet(res, this.#peek({ group, key }));
    const found = this.#registry.getGroup(group);
    if (!found) return reply(res, 404, `no such group: ${group}`);
    const cached = found.cachedForPeer(key);
    if (cached) return this.#writeView(res, cached);
    this.#answerGet(res, found.getForPeer(key), { group, key }, h.wait);
  }

  /**
   * Writes the answer of a plain GET once `pending` settles (a cached value: in the next
   * microtask). Only a get still loading after that arms the asker's wait (WAIT_HEADER): its
   * deadline and the `102 Processing` after {@link PROCESSING_AFTER_MS} (see #answer), so a hit
   * sets no timer. Counted in flight for the drain until answered.
   */
  #answerGet(res: ServerResponse, pending: Promise<ByteView>, request: GetRequest, wait: string | undefined): void {
    const drain = this.#options.drain;
    drain?.enter();
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const answer = (result: PeerResult | ByteView) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      drain?.leave();
      if (result instanceof ByteView) this.#writeView(res, result);
      else this.#writeGet(res, result);
    };
    pending.then(answer, (err) => answer(failure(err)));
    if (wait === undefined) return; // golang/groupcache askers send none: they wait for the load
    // Runs after the reaction above when `pending` was already settled (a reaction job queued first runs first).
    queueMicrotask(() => {
      const waitMs = answered ? undefined : waitOf(wait);
      if (waitMs === undefined) return;
      const expire = () => answer(failure(waitedOut(request, waitMs)));
      if (waitMs <= PROCESSING_AFTER_MS) timer = setTimeout(expire, waitMs);
      else
        timer = setTimeout(() => {
          if (!res.headersSent && !res.destroyed) res.writeProcessing();
          timer = setTimeout(expire, waitMs - PROCESSING_AFTER_MS);
        }, PROCESSING_AFTER_MS);
    });
  }

  /**
   * Ends a plain GET with its result, unless the client is gone (the load still filled the cache):
   * a 200 with the GetResponse as its prefix (tag and length), the value as cached (never copied)
   * and the expiry, corked into one write; or the failure as Go's http.Error, marked.
   */
  #writeGet(res: ServerResponse, result: PeerResult) {
    if (!result.ok) return reply(res, result.status, result.error, failureHeaders(result));
    if (res.destroyed) return;
    const { value } = result;
    const prefix = this.#prefixOf(value.length);
    const suffix = getResponseSuffix(result.expiresAt);
    // An array of headers: Node's writeHead walks it without the for-in an object takes.
    res.writeHead(200, ['content-type', GET_RESPONSE_TYPE, 'content-length', String(prefix.length + value.length + (suffix?.length ?? 0))]);
    res.cork();
    res.write(prefix, 'latin1');
    if (suffix) res.write(value);
    res.end(suffix ?? value);
  }

  /**
   * #writeGet for a value as the cache holds it. ByteView keeps values up to 16 KiB as strings
   * (byteview.ts); ByteView.unwrap would encode one into a new Buffer for every request. A
   * string one byte per character (bytes kept as latin1, or ASCII text) is written as it is
   * instead, after the prefix in the same string, which Node joins to the header block: one
   * piece, one copy into the socket (Node's own, as for any string). Other text goes as UTF-8.
   */
  #writeView(res: ServerResponse, view: ByteView) {
    const held = ByteView.held(view);
    if (typeof held !== 'string') return this.#writeGet(res, resultOf(view));
    if (res.destroyed) return;
    const prefix = this.#prefixOf(view.length);
    const suffix = getResponseSuffix(view.expiresAt);
    res.writeHead(200, ['content-type', GET_RESPONSE_TYPE, 'content-length', String(prefix.length + view.length + (suffix?.length ?? 0))]);
    // Its UTF-8 length is its length only when every character is one byte: then latin1 writes exactly those bytes.
    const latin1 = held.length === view.length;
    if (latin1 && !suffix) return void res.end(prefix + held, 'latin1');
    res.cork();
    if (latin1) res.write(prefix + held, 'latin1');
    else {
      res.write(prefix, 'latin1');
      res.write(held, 'utf8');
    }
    res.end(suffix);
  }

  /** The GetResponse prefix for a value of `length` bytes (see #prefixes). */
  #prefixOf(length: number): string {
    let prefix = this.#prefixes.get(length);
    if (prefix === undefined) {
      if (this.#prefixes.size >= MAX_PREFIXES) this.#prefixes.clear();
      prefix = getResponsePrefix(length).toString('latin1');
      this.#prefixes.set(length, prefix);
    }
    return prefix;
  }

  /** Every other method (batch POST, DELETE, PUT; 405 for the rest): check, parse, answer. */
  async #serve(req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const { basePath, signer, enabled } = this.#options;
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (!enabled) return reply(res, 403, 'peer route disabled: this peer has no other peers and no secret');
    // The signature covers this peer's origin, the whole request line and the body's length and
    // digest, so it is checked from the headers alone, before a byte of any body is read: an
    // unsigned client gets its 401 and a closed connection, and leaves nothing buffered here.
    const length = header(req, 'content-length') ?? (header(req, 'transfer-encoding') === undefined ? '' : 'chunked');
    const digest = header(req, DIGEST_HEADER) ?? '';
    if (signer && !signer.verify({ method: req.method ?? '', url: this.#self.of(header(req, 'host')) + url, length, digest }, header(req, AUTH_HEADER)))
      return length === '' ? reply(res, 401, UNAUTHORIZED, unauthorizedHeaders()) : refuse(req, res, 401, UNAUTHORIZED, unauthorizedHeaders());
    this.#options.agreement?.check(header(req, RING_HEADER));
    const peek = header(req, PEEK_HEADER) !== undefined;
    // Leaving: gets go elsewhere; peeks (handoff from this peer's cache) and removes are still served.
    if (this.#options.drain?.leaving && !peek && (req.method === 'GET' || req.method === 'POST')) {
      const text = 'leaving: this peer is shutting down; ask the next owner or load locally';
      return length === '' ? reply(res, 503, text, { [LEAVING_HEADER]: '1' }) : refuse(req, res, 503, text, { [LEAVING_HEADER]: '1' });
    }
    if (req.method === 'POST' && path === basePath && header(req, 'content-type') === BATCH_CONTENT_TYPE) return this.#serveBatch(req, res, length, digest);
    if (req.method === 'PUT') return this.#serveSet(req, res, length, digest);
    if (req.method !== 'DELETE') return reply(res, 405, `method ${req.method} not allowed: peers use GET, DELETE and PUT`, { allow: 'GET, DELETE, PUT' });
    const rest = path.slice(basePath.length);
    const slash = rest.indexOf('/');
    if (req.method === 'DELETE' && slash < 0) return this.#serveClear(res, rest);
    if (slash <= 0) return reply(res, 400, `bad request: expected ${basePath}<group>/<key>`);
    const keyRaw = rest.slice(slash + 1);
    if (keyRaw.includes('/')) return reply(res, 400, "bad request: the key must be one path segment (escape '/' as %2F)");
    const group = decodeSegment(rest.slice(0, slash));
    const key = decodeSegment(keyRaw);
    if (group === undefined || key === undefined) return reply(res, 400, 'bad request: malformed %-escape or bytes that are not UTF-8');
    return this.#serveRemove(res, group, key);
  }

  /** `DELETE {basePath}{group}/{key}` (mailgun/groupcache's route): drop the key here, owner or not. */
  #serveRemove(res: ServerResponse, name: string, key: string): void {
    const group = this.#registry.getGroup(name);
    if (!group) reply(res, 404, `no such group: ${name}`);
    else {
      group.forget(key);
      reply(res, 200, 'removed');
    }
  }

  /** `DELETE {basePath}{group}`: drop the whole group here (a step of group.clear()). */
  #serveClear(res: ServerResponse, raw: string): void {
    const name = decodeSegment(raw);
    const group = name === undefined ? undefined : this.#registry.getGroup(name);
    if (!group) reply(res, 404, `no such group: ${name ?? raw}`);
    else {
      group.forgetAll();
      reply(res, 200, 'cleared');
    }
  }

  /** `PUT {basePath}{group}/{key}` with a SetRequest: store the value here, as the key's owner. */
  async #serveSet(req: IncomingMessage, res: ServerResponse, length: string, digest: string): Promise<void> {
    if (header(req, 'content-type') !== SET_CONTENT_TYPE) return refuse(req, res, 415, `a set needs content-type ${SET_CONTENT_TYPE} and a SetRequest body`);
    const body = await this.#readBody(req, res, length, digest, 'set', MAX_SET_REQUEST_BYTES);
    if (body === undefined) return;
    let request: ReturnType<typeof decodeSetRequest>;
    try {
      request = decodeSetRequest(body);
    } catch (err) {
      return reply(res, 400, `bad set request: ${messageOf(err)}`);
    }
    const group = this.#registry.getGroup(request.group);
    if (!group) return reply(res, 404, `no such group: ${request.group}`);
    try {
      if (!group.setLocally(request.key, new ByteView(request.value, true, request.expiresAt)))
        return reply(res, 413, `value for key ${JSON.stringify(request.key)} is larger than group "${request.group}" caches per process (maxBytes)`);
    } catch (err) {
      return reply(res, 400, messageOf(err));
    }
    reply(res, 200, 'stored');
  }

  /**
   * The body of a signed request (the signature, already checked, covers its length and digest),
   * or undefined once the request is answered: it needs a Content-Length (chunked: 411) within
   * `limit` (413); bodies being read are capped server-wide (503: batches MAX_BODY_BYTES_IN_FLIGHT,
   * sets one of MAX_SET_REQUEST_BYTES), so replays of a captured request on many connections
   * cannot make this peer buffer more; a body not all there within timeoutMs is cut off (408);
   * then it must match its digest (401).
   */
  async #readBody(
    req: IncomingMessage,
    res: ServerResponse,
    length: string,
    digest: string,
    kind: 'batch' | 'set',
    limit: number,
  ): Promise<Buffer | undefined> {
    if (length === '' || length === 'chunked') return void refuse(req, res, 411, `a ${kind} request needs a Content-Length (chunked bodies are refused)`);
    const size = Number(length);
    if (!(size <= limit)) return void refuse(req, res, 413, `${kind} request over ${limit} bytes`);
    const cap = kind === 'batch' ? MAX_BODY_BYTES_IN_FLIGHT : MAX_SET_REQUEST_BYTES;
    if (this.#bodyBytes[kind] + size > cap)
      return void refuse(req, res, 503, `busy: ${cap} bytes of ${kind} bodies already being read; retry`, { 'retry-after': '1' });
    this.#bodyBytes[kind] += size;
    let body: Buffer | undefined;
    try {
      body = await readBody(req, size, this.#options.timeoutMs);
    } finally {
      this.#bodyBytes[kind] -= size;
    }
    if (body === undefined) return void refuse(req, res, 408, `${kind} body not received in full within timeoutMs (${this.#options.timeoutMs} ms)`);
    if (this.#options.signer && digestOf(body) !== digest)
      return void reply(res, 401, 'unauthorized: the body does not match its signed digest', unauthorizedHeaders());
    return body;
  }

  /** `GET {basePath}_stats`, signed like every peer request: no secret, no stats. */
  #serveStats(res: ServerResponse): void {
    const stats = this.#options.stats;
    if (!this.#options.signer || !stats) {
      reply(res, stats ? 403 : 404, stats ? 'stats are served only to signed requests: this peer has secret: false' : 'no stats here');
      return;
    }
    const body = Buffer.from(JSON.stringify(stats()));
    if (res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
  }

  /** `POST {basePath}`: many gets in one request (geecache peers only; see HttpGetter). */
  async #serveBatch(req: IncomingMessage, res: ServerResponse, length: string, digest: string): Promise<void> {
    const body = await this.#readBody(req, res, length, digest, 'batch', MAX_BATCH_REQUEST_BYTES);
    if (body === undefined) return;
    let requests: GetRequest[];
    try {
      requests = decodeBatchRequest(body);
    } catch (err) {
      return reply(res, 400, `bad batch request: ${messageOf(err)}`);
    }
    if (requests.length > MAX_BATCH) return reply(res, 400, `bad batch request: ${requests.length} gets, over the limit of ${MAX_BATCH}`);
    const waitMs = waitOf(header(req, WAIT_HEADER));
    if (header(req, 'accept')?.includes(BATCH_STREAM_TYPE)) return this.#stream(res, requests, waitMs);
    // An older geecache client: the whole answer at once, in order.
    const results = await Promise.all(requests.map((request) => this.#answer(request, waitMs)));
    send(res, BATCH_CONTENT_TYPE, encodeBatchResponse(results));
  }

  /**
   * A batch answered as a stream: the headers at once (the asker sees this peer is working), then
   * each get's Result frame as soon as it is ready, so one slow key never holds the fast ones.
   * Frames ready in the same turn go out in one write. Gets still loading when the asker's wait
   * runs out are answered with a LoadTimeoutError (their loads go on and fill the cache).
   */
  #stream(res: ServerResponse, requests: GetRequest[], waitMs: number | undefined): void {
    res.writeHead(200, { 'content-type': BATCH_STREAM_TYPE });
    let open = requests.length;
    let corked = true;
    const uncork = () => {
      if (!corked) return;
      corked = false;
      // end() uncorks fully; after it the socket may already serve the next request.
      if (!res.writableEnded) res.uncork();
    };
    res.cork();
    setImmediate(() => {
      if (!res.headersSent && !res.destroyed && !res.writableEnded) res.flushHeaders();
      uncork();
    });
    const answered = new Uint8Array(requests.length);
    const write = (index: number, result: PeerResult) => {
      if (answered[index] || open === 0) return;
      answered[index] = 1;
      open--;
      if (res.destroyed) return; // the asker is gone; the loads still fill the cache
      if (!corked) {
        res.cork();
        corked = true;
        process.nextTick(uncork);
      }
      res.write(resultFramePrefix(index, result, this.#writer));
      if (result.ok && result.value.length > 0) res.write(result.value);
      if (open === 0) {
        clearTimeout(timer);
        res.end();
      }
    };
    const timer =
      waitMs === undefined
        ? undefined
        : setTimeout(() => {
            for (let i = 0; i < requests.length; i++) if (!answered[i]) write(i, failure(waitedOut(requests[i], waitMs)));
          }, waitMs);
    timer?.unref();
    for (let i = 0; i < requests.length; i++) this.#answer(requests[i]).then((result) => write(i, result));
  }

  /** A peek: the cached value, never a load (warm handoff; see PEEK_HEADER). */
  #peek({ group: name, key }: GetRequest): PeerResult {
    const group = this.#registry.getGroup(name);
    if (!group) return { ok: false, status: 404, error: `no such group: ${name}` };
    try {
      const value = group.peek(key);
      if (!value) return { ok: false, status: 404, error: PEEK_MISS, kind: PEEK_MISS };
      return resultOf(value);
    } catch (err) {
      return failure(err);
    }
  }

  /** One get of a batch, as the result a single request would answer: by `waitMs` at the latest, when given. */
  #answer(request: GetRequest, waitMs?: number): Promise<PeerResult> {
    const group = this.#registry.getGroup(request.group);
    if (!group) return Promise.resolve({ ok: false, status: 404, error: `no such group: ${request.group}` });
    const result = group.getForPeer(request.key).then(resultOf, failure);
    if (waitMs === undefined) return result;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<PeerResult>((resolve) => {
      timer = setTimeout(() => resolve(failure(waitedOut(request, waitMs))), waitMs);
    });
    return Promise.race([result, deadline]).finally(() => clearTimeout(timer));
  }
}

/** A cached or loaded value as the result a peer is sent. */
function resultOf(value: ByteView): PeerResult {
  return value.expiresAt === undefined ? { ok: true, value: ByteView.unwrap(value) } : { ok: true, value: ByteView.unwrap(value), expiresAt: value.expiresAt };
}

/**
 * How long the asker waits for a load ({@link WAIT_HEADER}, its loadTimeoutMs), or undefined
 * without a valid one (golang/groupcache clients send none: their requests wait for the load).
 */
function waitOf(raw: string | undefined): number | undefined {
  const ms = raw === undefined ? Number.NaN : Number(raw);
  return Number.isSafeInteger(ms) && ms > 0 && ms < 2 ** 31 ? ms : undefined;
}

/** The error a get still loading when the asker's wait ran out answers with (the load itself goes on). */
function waitedOut({ group, key }: GetRequest, waitMs: number): LoadTimeoutError {
  return new LoadTimeoutError(
    `the load of key ${JSON.stringify(key)} in group "${group}" on the owner is still running after the asker's wait (its loadTimeoutMs, ${waitMs} ms); it goes on there and will be cached`,
  );
}

/**
 * A failed get as a result: a bad key is the asker's fault (400), a NotFoundError 404 (marked, so
 * the asker raises it too), anything else the getter's (500, marked so the asker does not run its
 * getter again). Whatever was thrown — a Proxy whose traps throw, `Object.create(null)`,
 * undefined — is read without throwing (errorFacts).
 */
function failure(err: unknown): PeerResult {
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
function failureHeaders(result: PeerFailure): Record<string, string> {
  const headers: Record<string, string> = {};
  if (result.kind) headers[ERROR_HEADER] = result.kind;
  if (result.name) headers[ERROR_NAME_HEADER] = result.name;
  if (result.errorStatus) headers[ERROR_STATUS_HEADER] = String(result.errorStatus);
  return headers;
}

/**
 * A request header (`name` in lower case), read from rawHeaders: touching `req.headers` makes
 * Node build the whole header object, a measurable share of serving a hot key. Repeats are
 * joined with ", " as `req.headers` joins them.
 */
function header(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === name.length && raw[i].toLowerCase() === name) value = value === undefined ? raw[i + 1] : `${value}, ${raw[i + 1]}`;
  }
  return value;
}

/**
 * The headers a GET acts on, read in one pass over rawHeaders (see header(): repeats are joined
 * the same way). Names are lowercased only when their length matches one of these.
 */
class GetHeaders {
  host: string | undefined;
  auth: string | undefined;
  ring: string | undefined;
  peek: string | undefined;
  wait: string | undefined;
  length: string | undefined;
  chunked = false;
  digest: string | undefined;

  constructor(raw: string[]) {
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i].length;
      if (n !== 4 && n !== 14 && n !== 15 && n !== 17 && n !== 18 && n !== 25) continue;
      const name = raw[i].toLowerCase();
      const value = raw[i + 1];
      if (name === 'host') this.host = join(this.host, value);
      else if (name === AUTH_HEADER) this.auth = join(this.auth, value);
      else if (name === RING_HEADER) this.ring = join(this.ring, value);
      else if (name === PEEK_HEADER) this.peek = join(this.peek, value);
      else if (name === WAIT_HEADER) this.wait = join(this.wait, value);
      else if (name === 'content-length') this.length = join(this.length, value);
      else if (name === 'transfer-encoding') this.chunked = true;
      else if (name === DIGEST_HEADER) this.digest = join(this.digest, value);
    }
  }
}

const join = (seen: string | undefined, value: string) => (seen === undefined ? value : `${seen}, ${value}`);

/** A path segment decoded, or the same string when it has nothing to decode (the common case: no decodeURIComponent call). */
function decodePlain(raw: string): string | undefined {
  return raw.indexOf('%') < 0 && raw.indexOf('+') < 0 ? raw : decodeSegment(raw);
}

/** Ends `res` with a 200 and `body`, unless the client is gone (the load still filled the cache). */
function send(res: ServerResponse, type: string, body: Uint8Array): void {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': type, 'content-length': body.length });
  res.end(body);
}

/**
 * The request body of `size` bytes (its Content-Length, already checked), read into one buffer;
 * undefined when it is not all there within `timeoutMs` (a dripped body) or the client left.
 */
function readBody(req: IncomingMessage, size: number, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const body = Buffer.allocUnsafe(size);
    let at = 0;
    const done = (value: Buffer | undefined) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onFail);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      if (at + chunk.length > size) return done(undefined); // Node enforces Content-Length; never trust it
      chunk.copy(body, at);
      at += chunk.length;
    };
    const onEnd = () => done(at === size ? body : undefined);
    const onFail = () => done(undefined);
    const timer = setTimeout(onFail, timeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', onFail).on('close', onFail);
  });
}

/**
 * Answers a request whose body is left unread, and closes its connection: stops reading the
 * socket at once (Node would otherwise read the rest of the body to discard it) and destroys it
 * once the answer is out. The client may see a reset instead of the answer if it is still sending.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const socket = req.socket;
  socket.pause();
  reply(res, status, text, { ...headers, connection: 'close' });
  if (res.writableFinished || !res.headersSent) socket.destroy();
  else res.once('finish', () => socket.destroy());
}

/** Ends `res` with a plain-text status, as Go's http.Error does. */
function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
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
