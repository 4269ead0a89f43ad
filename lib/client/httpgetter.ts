// The client of one peer (golang/groupcache's httpGetter), as the cache sees it: get, peek, set,
// remove and the stats request, composed of this folder's pieces — Batcher (what travels together),
// WriteLane (removes, one request at a time, batched),
// PeerSender (signing, sending, whole answers), body.ts (frames), Liveness (busy or down), PeerMonitor.
import type { GetRequest, GetResponse, PeerGetter, RemoveRequest, SetRequest } from '../cache/peers.js';
import { StaleWriteError } from '../cache/writeorder.js';
import { type PeerAddress, type PeerTrace, peerAddress, peerTrace, traced } from '../common/diagnostics.js';
import { ERROR_NAME, httpErrorStatus, NotFoundError, OwnerLoadError, PeerLeavingError } from '../common/errors.js';
import { type FullLogger, SILENT } from '../common/logger.js';
import type { Received } from '../protocol/expiry.js';
import {
  BATCH_CONTENT_TYPE,
  BATCH_STREAM_TYPE,
  GET_RESPONSE_TYPE,
  GETTER_FAILED,
  NOT_FOUND,
  SET_CONTENT_TYPE,
  STATS_PATH,
  STATS_ROUND_QUERY,
  type StatsView,
} from '../protocol/headers.js';
import type { WireTags } from '../protocol/tagwire.js';
import { encodeBatchRequest, encodeSegment, encodeSetRequest, type PeerResult, readGetResponse } from '../protocol/wire.js';
import { Batcher, type Slot, settle } from './batcher.js';
import { readBody, readFrames } from './body.js';
import { ByteBudget } from './bodybudget.js';
import { PROBE_INTERVAL_MS } from './liveness.js';
import { PeerMonitor } from './peermonitor.js';
import { type Answer, PeerSender, type SenderOptions } from './sender.js';
import { WriteLane, type WriteTransport } from './writelane.js';
import type { WriteStream, WriteStreams } from './writestreams.js';

const LONE_SURROGATE = /\p{Cs}/u;
const isDotSegment = (segment: string) => segment === '.' || segment === '..';
/** What the owner said of its getter's error, kept only if well-formed (a peer's answer is checked, not trusted). */
const original = (name: string | null | undefined, status: number | undefined) => ({
  name: name && ERROR_NAME.test(name) ? name : undefined,
  status: httpErrorStatus(status),
});

/** What an {@link HttpGetter} needs of the configuration (see GeecacheOptions for each). */
export interface HttpGetterOptions extends SenderOptions {
  readonly batch: boolean;
  /** Where warnings naming the fix go (see PeerMonitor). Default: nowhere. */
  readonly logger?: FullLogger;
  /** Bytes of responses in flight, shared by all the getters of one pool. Default: this getter's own, of 2 × maxResponseBytes. */
  readonly budget?: ByteBudget;
  /** The pool's sequence numbers of writes, by peer (writestreams.ts); none: writes carry plain nonces. */
  readonly streams?: WriteStreams;
}

/**
 * The client of one peer: fetches `GET {peer}{basePath}{group}/{key}` and decodes golang/groupcache's
 * protobuf answer; concurrent gets travel as one batch request (see Batcher); a peer that is
 * busy is waited for and one that is down skipped (see Liveness).
 */
export class HttpGetter implements PeerGetter {
  /** The peer's base URL, e.g. `http://10.0.0.2:3000`. */
  readonly peer: string;
  /** Requests, errors by cause and latency of this peer; warns once per cause. */
  readonly monitor: PeerMonitor;
  readonly #basePath: string;
  readonly #sender: PeerSender;
  readonly #batcher: Batcher;
  /** Removes, clears and tag invalidations for the peer, one request at a time (see remove). */
  readonly #writes: WriteLane;
  /** This instance's sequence numbers for the peer's writes, when the pool keeps them. */
  readonly #stream: WriteStream | undefined;
  readonly #streams: WriteStreams | undefined;
  /** The peer's host, port and route, for traced requests (PEER_TRACE). */
  readonly #address: PeerAddress & { basePath: string };
  #closed = false;

  constructor(peer: string, options: HttpGetterOptions) {
    this.peer = peer;
    this.monitor = new PeerMonitor(peer, { ...options, logger: options.logger ?? SILENT });
    this.#sender = new PeerSender(peer, options, this.monitor, options.budget ?? new ByteBudget(2 * options.maxResponseBytes));
    this.#basePath = this.#sender.basePath;
    this.#batcher = new Batcher({ one: (r) => this.#getOne(r), many: (r, slots) => this.#getMany(r, slots) }, options.batch);
    this.#address = { ...peerAddress(peer), basePath: this.#basePath };
    this.#streams = options.streams;
    this.#stream = options.streams?.of(peer);
    const transport: WriteTransport = {
      peer,
      basePath: this.#basePath,
      whole: (method, path, outgoing, request) =>
        request && request.tags === undefined
          ? this.#request('remove', request.group, request.key, (trace) => this.#sender.whole(method, path, { ...outgoing, trace }))
          : this.#sender.whole(method, path, outgoing),
    };
    this.#writes = new WriteLane(transport, this.#stream, options.batch);
  }

  /** True while the peer is skipped after it went silent or refused a connection. */
  get isDown(): boolean {
    return this.#sender.liveness.isDown;
  }

  /** Whether any answer (to a request or a probe) has come from the peer since this client was made. */
  get heardFrom(): boolean {
    return this.#sender.liveness.heardFrom;
  }

  async get(request: GetRequest): Promise<GetResponse> {
    if (this.#closed) throw this.#sender.closed('; loading locally');
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; probing it every ${PROBE_INTERVAL_MS} ms`);
    // A lone surrogate has no UTF-8 form: sent, it would arrive as U+FFFD, a different key.
    if (LONE_SURROGATE.test(request.key)) throw new Error(`key ${JSON.stringify(request.key)} is not well-formed Unicode; loading it locally`);
    if (!peerTrace.hasSubscribers) return this.#batcher.get(request);
    // Traced: the trace travels with the request (alone or in a batch), which sends its context and tells it the method and status.
    const trace: PeerTrace = { ...this.#address, operation: 'get', group: request.group, key: request.key };
    return traced(peerTrace, trace, () => this.#batcher.get({ ...request, trace }));
  }

  /** `send`, as a traced request (PEER_TRACE) when anyone subscribes. */
  #request(operation: PeerTrace['operation'], group: string, key: string | undefined, send: (trace?: PeerTrace) => Promise<Answer>): Promise<Answer> {
    if (!peerTrace.hasSubscribers) return send();
    const trace: PeerTrace = { ...this.#address, operation, group, ...(key === undefined ? {} : { key }) };
    return traced(peerTrace, trace, () => send(trace));
  }

  /**
   * Drops a key (or the whole group, or with tags the values carrying them) at the peer, through
   * the write lane (writelane.ts): alone as `DELETE {basePath}{group}/{key}` (`{basePath}{group}`
   * for the whole group, a `PUT` of a TagInvalidation for tags), or in a WriteBatch with the writes
   * made while the last one was in flight. True once the peer dropped it, or had applied a newer
   * write of it (409 with NEWER_HEADER: nothing older is left there), false when it answered but
   * did not (401, 405, a golang/groupcache peer, which answers a DELETE as a get); rejects when it
   * could not be reached.
   */
  async remove(request: RemoveRequest): Promise<boolean> {
    if (this.#closed) throw this.#sender.closed();
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; retrying it in ${this.#sender.liveness.downForMs} ms`);
    return this.#writes.write(request);
  }

  /** {@link remove}, telling `done` the outcome (an Error: could not be reached) instead of settling a promise. */
  send(request: RemoveRequest, done: (outcome: boolean | Error) => void): void {
    if (this.#closed) done(this.#sender.closed());
    else if (this.isDown) done(new Error(`peer ${this.peer} is marked down after a failure; retrying it in ${this.#sender.liveness.downForMs} ms`));
    else this.#writes.push(request, done);
  }

  /** Writes meant for the peer were dropped (too many waited for it): its next write request tells it so (writestreams.ts). */
  dropped(): void {
    this.#stream?.dropped();
  }

  /**
   * `PUT {basePath}{group}/{key}` with a SetRequest: resolves once the peer stored it, rejects with
   * its reason otherwise: a StaleWriteError naming the newer version when the peer had applied a
   * newer write of the key (409).
   */
  async set(request: SetRequest): Promise<void> {
    if (this.#closed) throw this.#sender.closed();
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure`);
    if (isDotSegment(request.key) || LONE_SURROGATE.test(request.key)) throw new Error(`key ${JSON.stringify(request.key)} cannot travel in a URL path`);
    const path = `${this.#basePath}${encodeSegment(request.group)}/${encodeSegment(request.key)}`;
    const body = encodeSetRequest(request);
    const answer = await this.#request('set', request.group, request.key, (trace) =>
      this.#sender.whole('PUT', path, { body, contentType: SET_CONTENT_TYPE, trace, version: request.version }),
    );
    if (answer.status === 200) return;
    const text = `peer ${this.peer} answered ${answer.status}: ${answer.body.subarray(0, 512).toString('utf8').trim()}`;
    throw answer.newer === undefined ? new Error(text) : new StaleWriteError(text, answer.newer);
  }

  /**
   * The value of `key` if the peer has it cached, else undefined: a GET with PEEK_HEADER, which
   * the peer answers from its cache only (also while it drains). Never batched. Any failure,
   * and a peer marked down, counts as a miss: the caller then loads as it would have anyway.
   */
  async peek({ group, key }: GetRequest): Promise<GetResponse | undefined> {
    if (this.#closed || this.isDown || LONE_SURROGATE.test(key) || isDotSegment(group) || isDotSegment(key)) return undefined;
    try {
      const askedAt = Date.now();
      const answer = await this.#sender.whole('GET', `${this.#basePath}${encodeSegment(group)}/${encodeSegment(key)}`, { peek: true });
      if (answer.status !== 200 || answer.type !== GET_RESPONSE_TYPE) return undefined;
      return this.#received(readGetResponse(answer.body, askedAt), askedAt);
    } catch {
      return undefined;
    }
  }

  /**
   * `GET {basePath}_stats`, signed like every request: the peer's stats document, unchecked (see
   * ops/statsdoc.ts), with the answer's status; `body` undefined when it is over `maxBytes`. Asked
   * also while the peer is skipped (its answer is what a health check wants to know). Rejects when
   * the peer could not be reached. Not counted by the monitor: a dashboard's refresh is not cache traffic.
   * `view` `round` asks for a stats round's bounded answer (a peer that does not know it answers the full document).
   */
  async stats(maxBytes: number, view: StatsView = 'full'): Promise<{ status: number; body: Buffer | undefined }> {
    if (this.#closed) throw this.#sender.closed();
    const path = this.#basePath + STATS_PATH + (view === 'round' ? STATS_ROUND_QUERY : '');
    const ex = this.#sender.liveness.begin(0);
    try {
      const res = await this.#sender.send(ex, 'GET', path, {});
      try {
        return { status: res.status, body: await readBody(res, this.#sender.reading(ex, maxBytes)) };
      } catch (err) {
        if (ex.cut === 'size') return { status: res.status, body: undefined };
        throw err;
      }
    } catch (err) {
      throw this.#sender.failed(ex, 'GET', path, err, false);
    } finally {
      this.#sender.liveness.end(ex);
    }
  }

  /** Stops asking: gets from now on fail at once ("could not ask": they load locally); requests in flight are cut. */
  close(): void {
    this.#closed = true;
    this.#writes.close(() => this.#sender.closed());
    // Writes made from now on are not sent to the peer: if it comes back, its stream tells it so.
    this.#streams?.left(this.peer);
    // Renewals waiting for their batch fail now ("closed"), not when the timer fires.
    this.#batcher.close();
    this.#sender.close();
  }

  async #getOne(request: GetRequest): Promise<GetResponse> {
    if (this.#closed) throw this.#sender.closed('; loading locally');
    const { group, key, waitMs } = request;
    // URL parsers drop "." and ".." segments, even escaped as %2E: the peer would be asked for
    // another key. A batch (of one) carries them; only a peer that refuses batches (Go) cannot.
    if (isDotSegment(group) || isDotSegment(key)) return this.#batcher.alone(request, this.peer);
    // A traced get's trace (see get) sends its context and is told the method and status.
    const trace = request.trace as PeerTrace | undefined;
    const askedAt = Date.now();
    const answer = await this.#sender.whole('GET', `${this.#basePath}${encodeSegment(group)}/${encodeSegment(key)}`, { waitMs, trace });
    if (answer.leaving) throw new PeerLeavingError(this.peer);
    if (answer.status !== 200) {
      const text = answer.body.subarray(0, 512).toString('utf8').trim();
      if (answer.errorKind === GETTER_FAILED) throw new OwnerLoadError(this.peer, text, original(answer.errorName, Number(answer.errorStatus)));
      if (answer.status === 404 && answer.errorKind === NOT_FOUND) throw new NotFoundError(text);
      throw new Error(`peer ${this.peer} answered ${answer.status}: ${text}`);
    }
    if (answer.type !== GET_RESPONSE_TYPE) throw new Error(`peer ${this.peer} answered content-type ${answer.type}, not ${GET_RESPONSE_TYPE}`);
    // A view into the response buffer, not a copy: the buffer was allocated for this value alone.
    return this.#received(readGetResponse(answer.body, askedAt), askedAt);
  }

  /**
   * A value as the cache takes it. Its expiry, when the owner sent the time left (a geecache
   * owner), was read from `askedAt`, when the request left: the owner wrote it later, so the copy
   * never outlives the owner's entry (it may end sooner by as long as the owner took to answer).
   * The owner's clock as it wrote it is a measurement of its skew.
   */
  #received({ value, expiresAt, sentAt, tags, tagMarks }: { value: Uint8Array } & Received & WireTags, askedAt: number): GetResponse {
    if (sentAt !== undefined) this.monitor.clock.sample(sentAt, askedAt);
    if (tags !== undefined) return { value, expiresAt, tags, tagMarks };
    return expiresAt === undefined ? { value } : { value, expiresAt };
  }

  /**
   * Sends the batch and settles each slot as its Result frame arrives. Resolves true when the
   * peer does not speak batches (the caller then sends each get alone), false when done; rejects
   * when the exchange failed (slots still open then fail, and load locally).
   */
  async #getMany(requests: GetRequest[], slots: Slot[]): Promise<boolean> {
    if (this.#closed) throw this.#sender.closed('; loading locally');
    let waitMs = 0;
    for (const r of requests) waitMs = Math.max(waitMs, r.waitMs ?? 0);
    const path = this.#basePath;
    const ex = this.#sender.liveness.begin(waitMs);
    const askedAt = Date.now();
    // Traced gets (see get) travel with their own trace context each; each is told its own result's status.
    const traces = requests.map((r) => r.trace as PeerTrace | undefined);
    for (const trace of traces) if (trace) trace.method = 'POST';
    let answer: Answer;
    try {
      const res = await this.#sender.send(ex, 'POST', path, { waitMs, body: encodeBatchRequest(requests) });
      const type = res.header('content-type');
      if (res.status === 200 && (type === BATCH_STREAM_TYPE || type === BATCH_CONTENT_TYPE)) {
        const answered = await readFrames(
          res.body,
          this.#sender.reading(ex),
          (index, result) => {
            const slot = slots[index];
            if (slot === undefined || slot.settled)
              throw new Error(`peer ${this.peer} answered get ${index} of a batch of ${slots.length} twice or out of range`);
            const trace = traces[index];
            if (trace) trace.status = result.ok ? 200 : result.status;
            settle(slot, () => this.#unwrap(result, askedAt));
          },
          askedAt,
        );
        this.monitor.answered('POST', path, 200, ex.startedAt, res.header('date'), false, '');
        if (answered !== slots.length) throw new Error(`peer ${this.peer} answered ${answered} results for ${slots.length} gets`);
        return false;
      }
      answer = await this.#sender.answer(ex, 'POST', path, res);
      for (const trace of traces) if (trace) trace.status = answer.status;
    } catch (err) {
      throw this.#sender.failed(ex, 'POST', path, err);
    } finally {
      this.#sender.liveness.end(ex);
    }
    if (answer.leaving) throw new PeerLeavingError(this.peer);
    // Not a geecache peer (golang/groupcache answers 400). A 401 or 413 is a geecache peer
    // refusing this batch, and does not end batching.
    if (answer.status === 400 || answer.status === 404 || answer.status === 405) return true;
    throw new Error(`peer ${this.peer} answered a batch with ${answer.status} ${answer.type}`);
  }

  #unwrap(result: PeerResult, askedAt: number): GetResponse {
    if (result.ok) return this.#received(result, askedAt);
    if (result.status === 500) throw new OwnerLoadError(this.peer, result.error || 'getter failed', original(result.name, result.errorStatus));
    if (result.status === 404 && result.kind === NOT_FOUND) throw new NotFoundError(result.error);
    if (result.status === 404) this.monitor.groupMissing(result.error);
    throw new Error(`peer ${this.peer} answered ${result.status}: ${result.error}`);
  }
}
