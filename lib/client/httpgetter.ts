import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { PeerGetter } from '../cache/peers.js';
import { messageOf, NotFoundError, OwnerLoadError, PeerLeavingError } from '../common/errors.js';
import { type FullLogger, SILENT } from '../common/logger.js';
import { digestOf, type RequestSigner } from '../protocol/auth.js';
import {
  AUTH_HEADER,
  BATCH_CONTENT_TYPE,
  BATCH_STREAM_TYPE,
  DIGEST_HEADER,
  decodeResult,
  ERROR_HEADER,
  ERROR_NAME,
  ERROR_NAME_HEADER,
  ERROR_STATUS_HEADER,
  encodeBatchRequest,
  encodeSegment,
  encodeSetRequest,
  GET_RESPONSE_TYPE,
  GETTER_FAILED,
  type GetRequest,
  type GetResponse,
  httpErrorStatus,
  LEAVING_HEADER,
  MAX_BATCH,
  NOT_FOUND,
  PEEK_HEADER,
  PEEK_MISS,
  type PeerResult,
  type RemoveRequest,
  RING_HEADER,
  readGetResponse,
  SET_CONTENT_TYPE,
  type SetRequest,
  WAIT_HEADER,
} from '../protocol/wire.js';
import { ByteBudget } from './bodybudget.js';
import { Coalescer } from './coalescer.js';
import { PeerMonitor } from './peermonitor.js';
import { NodeFetchTransport, type Transport, type TransportName, type TransportResponse } from './transport.js';
import { loadUndici, UndiciTransport } from './undici.js';

const LONE_SURROGATE = /\p{Cs}/u;
/** Connection errors that say the peer is gone, rather than that this one exchange went wrong. */
const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);
const isDotSegment = (segment: string) => segment === '.' || segment === '..';
/** What the owner said of its getter's error, kept only if well-formed (a peer's answer is checked, not trusted). */
const original = (name: string | null | undefined, status: number | undefined) => ({
  name: name && ERROR_NAME.test(name) ? name : undefined,
  status: httpErrorStatus(status),
});
/** Least time between two liveness probes of one peer (also how soon a recovered peer is seen). */
const PROBE_INTERVAL_MS = 250;
/**
 * How long renewals of hot copies (GetRequest.renew) are gathered before their batch leaves,
 * unless MAX_BATCH of them come first: nobody waits for them, and a renewal has half a copy's
 * life (15 s by default) before the copy runs out, so they travel in few, full batches.
 */
export const RENEW_BATCH_MS = 100;

/** What an {@link HttpGetter} needs of the configuration (see GeecacheOptions for each). */
export interface HttpGetterOptions {
  readonly basePath: string;
  /** Signs requests, or undefined to send none (golang/groupcache peers, `secret: false`). */
  readonly signer: RequestSigner | undefined;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly backoffMs: number;
  readonly maxSockets: number;
  readonly batch: boolean;
  /** Where warnings naming the fix go (see PeerMonitor). Default: nowhere. */
  readonly logger?: FullLogger;
  /** Bytes of responses in flight, shared by all the getters of one pool. Default: this getter's own, of 2 × maxResponseBytes. */
  readonly budget?: ByteBudget;
  /** The asker's membership digest, sent on every request (see RingAgreement). */
  readonly ringHash?: () => string;
  /** The HTTP client (lib/client/transport.ts): node-fetch (default) or undici. */
  readonly transport?: TransportName;
}

/** A peer's answer, read in full. */
interface Answer {
  status: number;
  type: string | null;
  errorKind: string | null;
  /** A getter failure's error name and HTTP status (headers; see PeerFailure). */
  errorName: string | null;
  errorStatus: string | null;
  /** The peer answered 503 with LEAVING_HEADER: it is draining. */
  leaving: boolean;
  body: Buffer;
}

/** Why this side cut an exchange short. */
type Cut = 'down' | 'stuck' | 'wait' | 'size' | 'budget' | 'closed';

/**
 * One request in flight, as the watchdog judges it. Two clocks: a peer that has not sent a byte
 * (on any connection, or to a probe) for timeoutMs is down; a peer that is heard from is busy and
 * is waited for until `giveUpAt` (the load's own limit, plus timeoutMs).
 */
interface Exchange {
  readonly controller: AbortController;
  readonly startedAt: number;
  readonly giveUpAt: number;
  /** performance.now() of the last byte of this exchange (its start before the first). */
  lastByteAt: number;
  /** A body or frame that has started must be complete by then: the peer has it ready. Infinity while a load is awaited. */
  finishBy: number;
  cut: Cut | undefined;
}

/** One get of a batch: settled as its frame arrives. */
interface Slot {
  resolve: (response: GetResponse | Promise<GetResponse>) => void;
  reject: (err: unknown) => void;
  settled: boolean;
}

/**
 * The client of one peer: fetches `GET {peer}{basePath}{group}/{key}` with node-fetch over a
 * keep-alive agent and decodes golang/groupcache's protobuf answer. Concurrent gets are sent as
 * one batch request when the peer understands them (geecache peers do, and stream each get's
 * result as it is ready; a Go peer refuses the first batch, and from then on gets go one by one).
 *
 * "Busy" is not "down": a peer is given up on (and skipped) only when it refuses the connection,
 * or when a request has heard nothing for a while and a liveness probe then gets no answer within
 * timeoutMs. A peer that answers the probe is busy loading, and is waited for up to the load's
 * own limit (the asker's loadTimeoutMs, which the owner is told) plus timeoutMs. While skipped,
 * a peer is probed every {@link PROBE_INTERVAL_MS} and used again as soon as it answers
 * (half-open), or tried again after backoffMs.
 */
export class HttpGetter implements PeerGetter {
  /** The peer's base URL, e.g. `http://10.0.0.2:3000`. */
  readonly peer: string;
  /** Requests, errors by cause and latency of this peer; warns once per cause. */
  readonly monitor: PeerMonitor;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #options: HttpGetterOptions;
  readonly #agent: http.Agent;
  /** Sends the requests (lib/client/transport.ts): node-fetch over #agent, or undici. */
  readonly #transport: Transport;
  /** One keep-alive socket for liveness probes, apart from the pool. */
  readonly #probeAgent: http.Agent;
  readonly #request: typeof http.request;
  readonly #budget: ByteBudget;
  readonly #batches: Coalescer<GetRequest, GetResponse> | undefined;
  /** The slow lane: renewals of hot copies, gathered for {@link RENEW_BATCH_MS} (their own batches, so they never delay a get). */
  readonly #renewals: Coalescer<GetRequest, GetResponse> | undefined;
  readonly #inflight = new Set<Exchange>();
  /** Plain GETs in flight by path, for the owner's `102 Processing`. */
  readonly #waiting = new Map<string, Exchange>();
  #batchRefused = false;
  #downUntil = 0;
  #closed = false;
  /** performance.now() of the last byte heard from the peer, on any exchange or probe. */
  #lastHeardAt = Number.NEGATIVE_INFINITY;
  #probing = false;
  #probeAt = Number.NEGATIVE_INFINITY;
  #ticker: NodeJS.Timeout | undefined;

  constructor(peer: string, options: HttpGetterOptions) {
    const url = new URL(options.basePath, peer);
    this.peer = peer;
    this.#origin = url.origin;
    this.#basePath = url.pathname;
    this.#options = options;
    this.#budget = options.budget ?? new ByteBudget(2 * options.maxResponseBytes);
    this.monitor = new PeerMonitor(peer, { ...options, logger: options.logger ?? SILENT });
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
    const secure = url.protocol === 'https:';
    this.#agent = secure ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    // A geecache owner sends `102 Processing` on a plain GET whose load is taking a while: node-fetch
    // does not show 1xx answers, so they are caught on each request as the agent takes it.
    const addRequest = (this.#agent as unknown as AgentInternals).addRequest;
    (this.#agent as unknown as AgentInternals).addRequest = (req, options) => {
      req.once('information', () => this.#heard(this.#waiting.get(req.path)));
      return addRequest.call(this.#agent, req, options);
    };
    const probeOptions = { keepAlive: true, maxSockets: 1, maxFreeSockets: 1 };
    this.#probeAgent = secure ? new https.Agent(probeOptions) : new http.Agent(probeOptions);
    this.#request = secure ? https.request : http.request;
    this.#transport =
      options.transport === 'undici' ? new UndiciTransport(loadUndici(), url.origin, options.maxSockets) : new NodeFetchTransport(url.origin, this.#agent);
    if (options.batch) {
      this.#batches = new Coalescer((requests) => this.#send(requests), MAX_BATCH);
      this.#renewals = new Coalescer((requests) => this.#send(requests), MAX_BATCH, RENEW_BATCH_MS);
    }
  }

  /** True while the peer is skipped after it went silent or refused a connection. */
  get isDown(): boolean {
    return Date.now() < this.#downUntil;
  }

  async get(request: GetRequest): Promise<GetResponse> {
    if (this.#closed) throw new Error(`not asking peer ${this.peer}: geecache was closed; loading locally`);
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; probing it every ${PROBE_INTERVAL_MS} ms`);
    // A lone surrogate has no UTF-8 form: sent, it would arrive as U+FFFD, a different key.
    if (LONE_SURROGATE.test(request.key)) throw new Error(`key ${JSON.stringify(request.key)} is not well-formed Unicode; loading it locally`);
    if (!this.#batches || this.#batchRefused) return this.#getOne(request);
    return request.renew && this.#renewals ? this.#renewals.add(request) : this.#batches.add(request);
  }

  /**
   * `DELETE {basePath}{group}/{key}` (or `{basePath}{group}` for the whole group): true once the
   * peer dropped it, false when it answered but did not (401, 405, a golang/groupcache peer,
   * which answers a DELETE as a GET); rejects when it could not be reached.
   */
  async remove({ group, key }: RemoveRequest): Promise<boolean> {
    if (this.#closed) throw new Error(`not asking peer ${this.peer}: geecache was closed`);
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; retrying it in ${this.#downUntil - Date.now()} ms`);
    if (key !== undefined && (isDotSegment(key) || LONE_SURROGATE.test(key))) throw new Error(`key ${JSON.stringify(key)} cannot travel in a URL path`);
    const path = `${this.#basePath}${encodeSegment(group)}${key === undefined ? '' : `/${encodeSegment(key)}`}`;
    const answer = await this.#fetchWhole('DELETE', path, undefined);
    if (answer.status === 200 && answer.type !== GET_RESPONSE_TYPE) return true;
    if (answer.status >= 500) throw new Error(`peer ${this.peer} answered a remove with ${answer.status}`);
    return false;
  }

  /** `PUT {basePath}{group}/{key}` with a SetRequest: resolves once the peer stored it, rejects with its reason otherwise. */
  async set(request: SetRequest): Promise<void> {
    if (this.#closed) throw new Error(`not asking peer ${this.peer}: geecache was closed`);
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure`);
    if (isDotSegment(request.key) || LONE_SURROGATE.test(request.key)) throw new Error(`key ${JSON.stringify(request.key)} cannot travel in a URL path`);
    const path = `${this.#basePath}${encodeSegment(request.group)}/${encodeSegment(request.key)}`;
    const answer = await this.#fetchWhole('PUT', path, undefined, encodeSetRequest(request), SET_CONTENT_TYPE);
    if (answer.status !== 200) throw new Error(`peer ${this.peer} answered ${answer.status}: ${answer.body.subarray(0, 512).toString('utf8').trim()}`);
  }

  /**
   * The value of `key` if the peer has it cached, else undefined: a GET with PEEK_HEADER, which
   * the peer answers from its cache only (also while it drains). Never batched. Any failure,
   * and a peer marked down, counts as a miss: the caller then loads as it would have anyway.
   */
  async peek({ group, key }: GetRequest): Promise<GetResponse | undefined> {
    if (this.#closed || this.isDown || LONE_SURROGATE.test(key) || isDotSegment(group) || isDotSegment(key)) return undefined;
    try {
      const answer = await this.#fetchWhole('GET', `${this.#basePath}${encodeSegment(group)}/${encodeSegment(key)}`, undefined, undefined, undefined, true);
      if (answer.status !== 200 || answer.type !== GET_RESPONSE_TYPE) return undefined;
      return readGetResponse(answer.body);
    } catch {
      return undefined;
    }
  }

  /** Stops asking: gets from now on fail at once ("could not ask": they load locally); requests in flight are cut. */
  close(): void {
    this.#closed = true;
    // Renewals waiting for their batch fail now ("closed"), not when the timer fires.
    this.#renewals?.flush();
    for (const ex of this.#inflight) this.#cut(ex, 'closed');
    clearInterval(this.#ticker);
    this.#ticker = undefined;
    this.#transport.close();
    this.#agent.destroy();
    this.#probeAgent.destroy();
  }

  /** One batch's worth of gets: a lone get goes as the plain GET every peer understands. */
  #send(requests: GetRequest[]): Promise<GetResponse>[] {
    if (this.#closed) return requests.map((r) => this.get(r));
    if (requests.length === 1 || this.#batchRefused) return requests.map((r) => this.#getOne(r));
    const slots: Slot[] = [];
    const promises = requests.map(
      () =>
        new Promise<GetResponse>((resolve, reject) => {
          slots.push({ resolve, reject, settled: false });
        }),
    );
    this.#getMany(requests, slots).then(
      (refused) => {
        // Not a geecache peer: each get again, one by one.
        for (let i = 0; i < slots.length; i++) if (refused) settle(slots[i], () => this.#getOne(requests[i]));
      },
      (err) => {
        for (const slot of slots) if (!slot.settled) settle(slot, () => Promise.reject(err));
      },
    );
    return promises;
  }

  async #getOne(request: GetRequest): Promise<GetResponse> {
    const { group, key, waitMs } = request;
    // URL parsers drop "." and ".." segments, even escaped as %2E: the peer would be asked for
    // another key. A batch (of one) carries them; only a peer that refuses batches (Go) cannot.
    if (isDotSegment(group) || isDotSegment(key)) return this.#batchOfOne(request);
    const answer = await this.#fetchWhole('GET', `${this.#basePath}${encodeSegment(group)}/${encodeSegment(key)}`, waitMs);
    if (answer.leaving) throw new PeerLeavingError(this.peer);
    if (answer.status !== 200) {
      const text = answer.body.subarray(0, 512).toString('utf8').trim();
      if (answer.errorKind === GETTER_FAILED) throw new OwnerLoadError(this.peer, text, original(answer.errorName, Number(answer.errorStatus)));
      if (answer.status === 404 && answer.errorKind === NOT_FOUND) throw new NotFoundError(text);
      throw new Error(`peer ${this.peer} answered ${answer.status}: ${text}`);
    }
    if (answer.type !== GET_RESPONSE_TYPE) throw new Error(`peer ${this.peer} answered content-type ${answer.type}, not ${GET_RESPONSE_TYPE}`);
    // A view into the response buffer, not a copy: the buffer was allocated for this value alone.
    return readGetResponse(answer.body);
  }

  /** One get as a batch: for a key no URL path can carry. Rejects ("could not ask") when the peer does not take batches. */
  #batchOfOne(request: GetRequest): Promise<GetResponse> {
    const cannot = () => new Error(`key ${JSON.stringify(request.key)} cannot travel in a URL path and peer ${this.peer} takes no batches; loading it locally`);
    if (this.#batchRefused) return Promise.reject(cannot());
    return new Promise((resolve, reject) => {
      const slot: Slot = { resolve, reject, settled: false };
      this.#getMany([request], [slot]).then(
        (refused) => refused && settle(slot, () => Promise.reject(cannot())),
        (err) => settle(slot, () => Promise.reject(err)),
      );
    });
  }

  /**
   * Sends the batch and settles each slot as its Result frame arrives. Resolves true when the
   * peer does not speak batches (the caller then sends each get alone), false when done; rejects
   * when the exchange failed (slots still open then fail, and load locally).
   */
  async #getMany(requests: GetRequest[], slots: Slot[]): Promise<boolean> {
    let waitMs = 0;
    for (const r of requests) waitMs = Math.max(waitMs, r.waitMs ?? 0);
    const path = this.#basePath;
    const ex = this.#begin(waitMs);
    let answer: Answer;
    try {
      const res = await this.#fetch(ex, 'POST', path, waitMs, encodeBatchRequest(requests));
      const type = res.header('content-type');
      if (res.status === 200 && (type === BATCH_STREAM_TYPE || type === BATCH_CONTENT_TYPE)) {
        const answered = await this.#readFrames(ex, res.body, (index, result) => {
          const slot = slots[index];
          if (slot === undefined || slot.settled)
            throw new Error(`peer ${this.peer} answered get ${index} of a batch of ${slots.length} twice or out of range`);
          settle(slot, () => this.#unwrap(result));
        });
        this.monitor.answered('POST', path, 200, ex.startedAt, res.header('date'), false, '');
        if (answered !== slots.length) throw new Error(`peer ${this.peer} answered ${answered} results for ${slots.length} gets`);
        return false;
      }
      answer = await this.#readAnswer(ex, 'POST', path, res);
    } catch (err) {
      throw this.#failed(ex, 'POST', path, err);
    } finally {
      this.#end(ex);
    }
    if (answer.leaving) throw new PeerLeavingError(this.peer);
    if (answer.status === 400 || answer.status === 404 || answer.status === 405) {
      // Not a geecache peer (golang/groupcache answers 400). A 401 or 413 is a geecache peer
      // refusing this batch, and does not end batching.
      this.#batchRefused = true;
      return true;
    }
    throw new Error(`peer ${this.peer} answered a batch with ${answer.status} ${answer.type}`);
  }

  #unwrap(result: PeerResult): GetResponse {
    if (result.ok) return result.expiresAt === undefined ? { value: result.value } : { value: result.value, expiresAt: result.expiresAt };
    if (result.status === 500) throw new OwnerLoadError(this.peer, result.error || 'getter failed', original(result.name, result.errorStatus));
    if (result.status === 404 && result.kind === NOT_FOUND) throw new NotFoundError(result.error);
    if (result.status === 404) this.monitor.groupMissing(result.error);
    throw new Error(`peer ${this.peer} answered ${result.status}: ${result.error}`);
  }

  /** A request whose answer is read in full (a get, a remove, a set). */
  async #fetchWhole(method: string, path: string, waitMs: number | undefined, body?: Uint8Array, contentType?: string, peek = false): Promise<Answer> {
    const ex = this.#begin(waitMs ?? 0);
    if (method === 'GET') this.#waiting.set(path, ex);
    try {
      return await this.#readAnswer(ex, method, path, await this.#fetch(ex, method, path, waitMs, body, contentType, peek), peek);
    } catch (err) {
      throw this.#failed(ex, method, path, err);
    } finally {
      this.#end(ex);
      if (method === 'GET' && this.#waiting.get(path) === ex) this.#waiting.delete(path);
    }
  }

  /** Sends the request; resolves with the response once its headers are in. */
  async #fetch(
    ex: Exchange,
    method: string,
    path: string,
    waitMs: number | undefined,
    body?: Uint8Array,
    contentType?: string,
    peek = false,
  ): Promise<TransportResponse> {
    const signer = this.#options.signer;
    // Signed for this peer's origin and the whole request line, with the body's length and digest.
    const url = this.#origin + path;
    const auth = signer ? (body ? signer.sign(method, url, Date.now(), body) : signer.signFor(method, url)) : undefined;
    const headers: Record<string, string> = !body
      ? {}
      : contentType
        ? { 'content-type': contentType }
        : { 'content-type': BATCH_CONTENT_TYPE, accept: BATCH_STREAM_TYPE };
    if (auth) headers[AUTH_HEADER] = auth;
    if (auth && body) headers[DIGEST_HEADER] = digestOf(body);
    if (waitMs) headers[WAIT_HEADER] = String(waitMs);
    if (peek) headers[PEEK_HEADER] = '1';
    if (this.#options.ringHash) headers[RING_HEADER] = this.#options.ringHash();
    const res = await this.#transport.request({
      method,
      path,
      headers,
      body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined,
      // One signal per exchange; the watchdog (#tick) is its only timer.
      signal: ex.controller.signal,
    });
    this.#heard(ex);
    return res;
  }

  /** Reads a whole answer and tells the monitor about it. */
  async #readAnswer(ex: Exchange, method: string, path: string, res: TransportResponse, peek = false): Promise<Answer> {
    const body = await this.#readBody(ex, res);
    const errorKind = res.header(ERROR_HEADER);
    const leaving = res.status === 503 && res.header(LEAVING_HEADER) !== null;
    const answer = {
      status: res.status,
      type: res.header('content-type'),
      errorKind,
      errorName: res.header(ERROR_NAME_HEADER),
      errorStatus: res.header(ERROR_STATUS_HEADER),
      leaving,
      body,
    };
    const bodyStart = answer.status === 200 ? '' : body.subarray(0, 200).toString('utf8');
    // A not-found is an answer like a getter failure, not a sign of a misrouted peer route.
    const ownerAnswered = answer.errorKind === GETTER_FAILED || answer.errorKind === NOT_FOUND;
    // A peer leaving and a peek that found nothing are the protocol working, not the peer failing.
    const expected = leaving || (peek && res.status === 404 && errorKind === PEEK_MISS);
    this.monitor.answered(method, path, answer.status, ex.startedAt, res.header('date'), ownerAnswered, bodyStart, expected);
    return answer;
  }

  /**
   * The body in one buffer, allocated once and filled as chunks arrive (no gather-and-copy):
   * sized by the Content-Length, or — a GetResponse sent chunked, as Go's server sends any value
   * over 2 KB — by the length of its value field, read from its first bytes. Each size is checked
   * against maxResponseBytes and reserved on the shared budget before a byte more is read; a body
   * of no knowable size is gathered up to the same limits. The peer has the answer ready once it
   * sends headers, so the body must arrive within timeoutMs.
   */
  async #readBody(ex: Exchange, res: TransportResponse): Promise<Buffer> {
    ex.finishBy = performance.now() + this.#options.timeoutMs;
    const stream = res.body;
    const max = this.#options.maxResponseBytes;
    const announced = res.header('content-length');
    const length = announced === null ? Number.NaN : Number(announced);
    if (announced !== null && !(Number.isSafeInteger(length) && length >= 0)) throw new Error(`peer ${this.peer} sent content-length ${announced}`);
    let sniff = announced === null && res.status === 200 && res.header('content-type') === GET_RESPONSE_TYPE;
    let target: Buffer | undefined;
    let held = 0;
    const allocate = (bytes: number) => {
      if (bytes > max) throw this.#cut(ex, 'size', `peer ${this.peer} announced ${bytes} bytes, over maxResponseBytes (${max})`);
      if (!this.#budget.take(bytes)) throw this.#cut(ex, 'budget', this.#overBudget(bytes));
      held += bytes;
      target = Buffer.allocUnsafeSlow(bytes);
    };
    if (announced !== null) allocate(length);
    let chunks: Buffer[] = [];
    let size = 0;
    try {
      await readStream(stream, (chunk) => {
        this.#heard(ex);
        if (target) {
          if (size + chunk.length > target.length) throw new Error(`peer ${this.peer} sent more than the ${target.length} bytes it announced`);
          chunk.copy(target, size);
          size += chunk.length;
          return;
        }
        if (size + chunk.length > max) throw this.#cut(ex, 'size', `peer ${this.peer} sent over maxResponseBytes (${max})`);
        if (!this.#budget.take(chunk.length)) throw this.#cut(ex, 'budget', this.#overBudget(chunk.length));
        held += chunk.length;
        chunks.push(chunk);
        size += chunk.length;
        if (!sniff) return;
        const start = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
        const total = getResponseSize(start);
        if (total === undefined) return; // not enough bytes yet
        sniff = false;
        if (total === -2) throw new Error(`peer ${this.peer} sent bytes that are not a GetResponse`);
        if (total < 0) return; // another field first: gather
        const gathered = chunks;
        chunks = [];
        this.#budget.give(size);
        held -= size;
        allocate(Math.max(total, size));
        size = 0;
        for (const part of gathered) {
          part.copy(target as unknown as Buffer, size);
          size += part.length;
        }
      });
      if (announced !== null && size !== length) throw new Error(`peer ${this.peer} sent ${size} of ${length} bytes`);
      if (target) return size === target.length ? target : target.subarray(0, size);
      return Buffer.concat(chunks, size);
    } finally {
      this.#budget.give(held);
    }
  }

  /**
   * Reads a batch answer frame by frame — `0x0a varint(length) Result`, the framing of
   * BatchResponse's repeated field — and hands each Result to `onResult` as soon as its last byte
   * is in. Each frame is read into its own buffer (reserved on the shared budget while it
   * fills), so a value cached from a batch holds only its own bytes. Returns the frames read.
   */
  async #readFrames(ex: Exchange, stream: Readable, onResult: (index: number, result: PeerResult) => void): Promise<number> {
    const max = this.#options.maxResponseBytes;
    let count = 0;
    let head = 0; // bytes of the frame's tag + length read so far
    let length = 0;
    let shift = 0;
    let frame: Buffer | undefined;
    let filled = 0;
    const done = (bytes: Buffer) => {
      const { index, result } = decodeResult(bytes);
      onResult(index ?? count, result);
      count++;
    };
    try {
      await readStream(stream, (chunk) => {
        this.#heard(ex);
        let at = 0;
        while (at < chunk.length) {
          if (frame === undefined) {
            const byte = chunk[at++];
            if (head === 0) {
              if (byte !== 0x0a) throw new Error(`peer ${this.peer} sent a malformed batch answer (tag ${byte})`);
              ex.finishBy = performance.now() + this.#options.timeoutMs;
            } else {
              length += (byte & 0x7f) * 2 ** shift;
              shift += 7;
              if (shift > 35) throw new Error(`peer ${this.peer} sent a malformed batch answer (frame length)`);
            }
            head++;
            if (head === 1 || byte & 0x80) continue;
            if (length > max) throw this.#cut(ex, 'size', `peer ${this.peer} sent a ${length}-byte result, over maxResponseBytes (${max})`);
            if (!this.#budget.take(length)) throw this.#cut(ex, 'budget', this.#overBudget(length));
            frame = Buffer.allocUnsafeSlow(length);
            filled = 0;
          } else {
            const n = Math.min(frame.length - filled, chunk.length - at);
            chunk.copy(frame, filled, at, at + n);
            filled += n;
            at += n;
          }
          if (frame !== undefined && filled === frame.length) {
            const complete = frame;
            this.#budget.give(complete.length);
            frame = undefined;
            head = length = shift = 0;
            ex.finishBy = Number.POSITIVE_INFINITY;
            done(complete);
          }
        }
      });
    } finally {
      if (frame) this.#budget.give(frame.length);
    }
    if (head !== 0 || frame !== undefined) throw new Error(`peer ${this.peer} cut a batch answer short`);
    return count;
  }

  #overBudget(bytes: number): string {
    return `not reading ${bytes} bytes from peer ${this.peer}: responses in flight already hold ${this.#budget.used} of ${this.#budget.limit} bytes (2 × maxResponseBytes)`;
  }

  #begin(waitMs: number): Exchange {
    const now = performance.now();
    const ex: Exchange = {
      controller: new AbortController(),
      startedAt: now,
      giveUpAt: now + waitMs + this.#options.timeoutMs,
      lastByteAt: now,
      finishBy: Number.POSITIVE_INFINITY,
      cut: undefined,
    };
    this.#inflight.add(ex);
    this.#watch();
    return ex;
  }

  #end(ex: Exchange): void {
    this.#inflight.delete(ex);
  }

  /** A byte came from the peer: it is alive (and, if it was skipped, usable again). */
  #heard(ex?: Exchange): void {
    const now = performance.now();
    this.#lastHeardAt = now;
    if (ex) ex.lastByteAt = now;
    if (this.#downUntil !== 0) this.#downUntil = 0;
  }

  /** Cuts `ex` short; returns an error saying why (the exchange's own rejection follows). */
  #cut(ex: Exchange, why: Cut, message: string = why): Error {
    if (!ex.cut) {
      ex.cut = why;
      ex.controller.abort();
      if (why === 'down' || why === 'stuck') this.#markDown();
    }
    return new Error(message);
  }

  #markDown(): void {
    this.#downUntil = Date.now() + this.#options.backoffMs;
    this.#watch();
  }

  /** The error an exchange rejects with, after telling the monitor (and marking the peer down on a refused connection). */
  #failed(ex: Exchange, method: string, path: string, err: unknown): Error {
    const { timeoutMs } = this.#options;
    let reason = err;
    if (ex.cut === 'down')
      reason = Object.assign(new Error(`no answer within timeoutMs (${timeoutMs} ms) to this request nor to a liveness probe`), { code: 'ETIMEDOUT' });
    else if (ex.cut === 'stuck') reason = Object.assign(new Error(`an answer stalled for timeoutMs (${timeoutMs} ms)`), { code: 'ETIMEDOUT' });
    else if (ex.cut === 'wait')
      reason = new Error(`no answer within the load's wait of ${Math.round(ex.giveUpAt - ex.startedAt)} ms, though the peer is alive`);
    else if (ex.cut === 'closed') return new Error(`not asking peer ${this.peer}: geecache was closed`, { cause: err });
    // Cut for its size: the peer answered; the abort that cut it must not read as a timeout.
    else if (ex.cut === 'size' || ex.cut === 'budget') reason = Object.assign(new Error(messageOf(err)), { code: ex.cut === 'size' ? 'ETOOLARGE' : 'EBUDGET' });
    else if (!ex.cut && DOWN_CODES.has((err as { code?: string })?.code ?? '')) this.#markDown();
    // A reset is not enough to skip the peer — a healthy peer resets an idle keep-alive socket now and then — it fails this get.
    this.monitor.failed(method, path, ex.startedAt, reason);
    return new Error(`peer ${this.peer} failed: ${messageOf(reason)}`, { cause: reason });
  }

  /** Runs the watchdog while anything is in flight or the peer is skipped. */
  #watch(): void {
    if (this.#ticker || this.#closed) return;
    const every = Math.max(5, Math.min(PROBE_INTERVAL_MS, this.#options.timeoutMs / 4));
    // Judged after the poll phase (setImmediate): bytes that came while this process was busy are read first.
    this.#ticker = setInterval(() => setImmediate(() => this.#tick()), every);
    this.#ticker.unref();
  }

  /** Judges every exchange in flight; probes the peer when one has heard nothing for a while (or the peer is skipped). */
  #tick(): void {
    const now = performance.now();
    const quiet = this.#options.timeoutMs / 4;
    const silent = now - this.#lastHeardAt;
    let probe = this.isDown;
    for (const ex of this.#inflight) {
      if (now >= ex.giveUpAt) this.#cut(ex, 'wait');
      else if (now >= ex.finishBy) this.#cut(ex, 'stuck');
      else if (now - ex.lastByteAt >= quiet && silent >= quiet) probe = true;
    }
    if (probe) this.#probe(now);
    if (this.#inflight.size === 0 && !this.isDown && !this.#probing) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }

  /**
   * Asks the peer something cheap (`GET {basePath}`, which geecache and Go answer at once without
   * loading anything) on a connection of its own — the pooled ones may all be waiting on slow
   * loads. Any answer proves the peer alive: exchanges waiting on it go on waiting. No answer
   * within timeoutMs, or a refused connection, means it is down: every exchange that has heard
   * nothing since the probe was sent is cut, and the peer is skipped (and probed) until it answers.
   */
  #probe(now: number): void {
    if (this.#probing || this.#closed || now - this.#probeAt < PROBE_INTERVAL_MS) return;
    this.#probing = true;
    this.#probeAt = now;
    const signer = this.#options.signer;
    const headers = signer ? { [AUTH_HEADER]: signer.signFor('GET', this.#origin + this.#basePath) } : {};
    const req = this.#request(this.#origin + this.#basePath, { method: 'GET', headers, agent: this.#probeAgent });
    const finish = (alive: boolean, down: boolean) => {
      if (!this.#probing) return;
      this.#probing = false;
      clearTimeout(timer);
      if (this.#closed) return void req.destroy();
      if (alive) return this.#heard();
      req.destroy();
      // An exchange the peer has answered anything on (102, headers, a frame) was accepted and is
      // being worked on: it is never cut as "down", only by its own deadlines.
      // Nor is any exchange cut while the peer sent anything at all, on any connection, since the probe left.
      if (down && this.#lastHeardAt < now) for (const ex of this.#inflight) if (ex.lastByteAt === ex.startedAt) this.#cut(ex, 'down');
    };
    // The verdict waits for the poll phase after the deadline: an answer that arrived while this
    // process itself was busy (a burst of its own requests) is read before the peer is judged.
    const timer = setTimeout(() => setImmediate(() => finish(false, true)), this.#options.timeoutMs);
    timer.unref();
    req.on('response', (res) => {
      res.resume();
      finish(true, false);
    });
    // A reset (a stale keep-alive socket) proves nothing either way: the next probe asks again.
    req.on('error', (err) => finish(false, DOWN_CODES.has((err as { code?: string }).code ?? '')));
    req.end();
  }
}

/** The part of http.Agent that hands it each request (not in @types/node). */
interface AgentInternals {
  addRequest(req: http.ClientRequest, options: unknown): void;
}

/** Room for the fields a GetResponse may carry after its value (minute_qps: 9 bytes; expire: up to 11). */
const GET_RESPONSE_TAIL = 32;

/**
 * The most bytes a GetResponse can take, read from its first bytes when they hold its value
 * field's tag and length (golang/groupcache and geecache write the value first): undefined when
 * more bytes are needed, -1 when it starts with another field (the size is then unknown), -2
 * when it cannot be a protobuf message at all (field 0, or a wire type that does not exist).
 */
function getResponseSize(start: Buffer): number | undefined {
  if (start[0] >> 3 === 0 || (start[0] & 7) > 5) return -2;
  if (start[0] !== 0x0a) return -1;
  let length = 0;
  for (let i = 1; i < start.length && i <= 10; i++) {
    length += (start[i] & 0x7f) * 2 ** (7 * (i - 1));
    if ((start[i] & 0x80) === 0) return i + 1 + length + GET_RESPONSE_TAIL;
  }
  return start.length > 10 ? -1 : undefined;
}

/** Settles a batch slot once, with what `outcome` returns or throws. */
function settle(slot: Slot, outcome: () => GetResponse | Promise<GetResponse>): void {
  if (slot.settled) return;
  slot.settled = true;
  try {
    slot.resolve(outcome());
  } catch (err) {
    slot.reject(err);
  }
}

/** Hands each chunk of `stream` to `onChunk` (which may throw to stop); resolves at its end. */
function readStream(stream: Readable, onChunk: (chunk: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => {
      stream.off('data', data);
      stream.destroy();
      reject(err);
    };
    const data = (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (err) {
        fail(err);
      }
    };
    stream.on('data', data);
    stream.once('end', resolve);
    stream.once('error', fail);
    // Destroyed without an error (after 'end' this does nothing): the answer was cut short.
    stream.once('close', () => reject(new Error('the answer was cut short')));
  });
}
