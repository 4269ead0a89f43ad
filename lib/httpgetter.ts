import http from 'node:http';
import https from 'node:https';
import fetch from 'node-fetch';
import type { RequestSigner } from './auth.js';
import { Coalescer } from './coalescer.js';
import { messageOf, NotFoundError, OwnerLoadError } from './errors.js';
import { type FullLogger, SILENT } from './logger.js';
import { PeerMonitor } from './peermonitor.js';
import type { PeerGetter } from './peers.js';
import {
  AUTH_HEADER,
  BATCH_CONTENT_TYPE,
  decodeBatchResponse,
  ERROR_HEADER,
  encodeBatchRequest,
  encodeSegment,
  encodeSetRequest,
  GET_RESPONSE_TYPE,
  GETTER_FAILED,
  type GetRequest,
  type GetResponse,
  MAX_BATCH,
  NOT_FOUND,
  type PeerResult,
  type RemoveRequest,
  readGetResponse,
  SET_CONTENT_TYPE,
  type SetRequest,
} from './wire.js';

const LONE_SURROGATE = /\p{Cs}/u;
/** Errors that say the peer is gone or stuck, rather than that this one exchange went wrong. */
const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);
const isPeerDown = (err: unknown) => (err as Error)?.name === 'AbortError' || DOWN_CODES.has((err as { code?: string })?.code ?? '');
const isDotSegment = (segment: string) => segment === '.' || segment === '..';

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
}

/** A peer's answer, read in full. */
interface Answer {
  status: number;
  type: string | null;
  errorKind: string | null;
  body: Buffer;
}

/**
 * The client of one peer: fetches `GET {peer}{basePath}{group}/{key}` with node-fetch over a
 * keep-alive agent and decodes golang/groupcache's protobuf answer. Concurrent gets are sent as
 * one batch request when the peer understands them (geecache peers do; a Go peer refuses the
 * first batch, and from then on gets go to it one by one).
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
  readonly #batches: Coalescer<GetRequest, GetResponse> | undefined;
  #batchRefused = false;
  #downUntil = 0;

  constructor(peer: string, options: HttpGetterOptions) {
    const url = new URL(options.basePath, peer);
    this.peer = peer;
    this.#origin = url.origin;
    this.#basePath = url.pathname;
    this.#options = options;
    this.monitor = new PeerMonitor(peer, { ...options, logger: options.logger ?? SILENT });
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
    this.#agent = url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    if (options.batch) this.#batches = new Coalescer((requests) => this.#send(requests), MAX_BATCH);
  }

  /** True while the peer is skipped after a failure. */
  get isDown(): boolean {
    return Date.now() < this.#downUntil;
  }

  async get(request: GetRequest): Promise<GetResponse> {
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; retrying it in ${this.#downUntil - Date.now()} ms`);
    // A lone surrogate has no UTF-8 form: sent, it would arrive as U+FFFD, a different key.
    if (LONE_SURROGATE.test(request.key)) throw new Error(`key ${JSON.stringify(request.key)} is not well-formed Unicode; loading it locally`);
    if (!this.#batches || this.#batchRefused) return this.#getOne(request);
    return this.#batches.add(request);
  }

  /**
   * `DELETE {basePath}{group}/{key}` (or `{basePath}{group}` for the whole group): true once the
   * peer dropped it, false when it answered but did not (401, 405, a golang/groupcache peer,
   * which answers a DELETE as a GET); rejects when it could not be reached.
   */
  async remove({ group, key }: RemoveRequest): Promise<boolean> {
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; retrying it in ${this.#downUntil - Date.now()} ms`);
    if (key !== undefined && (isDotSegment(key) || LONE_SURROGATE.test(key))) throw new Error(`key ${JSON.stringify(key)} cannot travel in a URL path`);
    const path = `${this.#basePath}${encodeSegment(group)}${key === undefined ? '' : `/${encodeSegment(key)}`}`;
    const answer = await this.#fetch('DELETE', path);
    if (answer.status === 200 && answer.type !== GET_RESPONSE_TYPE) return true;
    if (answer.status >= 500) throw new Error(`peer ${this.peer} answered a remove with ${answer.status}`);
    return false;
  }

  /** `PUT {basePath}{group}/{key}` with a SetRequest: resolves once the peer stored it, rejects with its reason otherwise. */
  async set(request: SetRequest): Promise<void> {
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure`);
    if (isDotSegment(request.key) || LONE_SURROGATE.test(request.key)) throw new Error(`key ${JSON.stringify(request.key)} cannot travel in a URL path`);
    const path = `${this.#basePath}${encodeSegment(request.group)}/${encodeSegment(request.key)}`;
    const answer = await this.#fetch('PUT', path, encodeSetRequest(request), SET_CONTENT_TYPE);
    if (answer.status !== 200) throw new Error(`peer ${this.peer} answered ${answer.status}: ${answer.body.subarray(0, 512).toString('utf8').trim()}`);
  }

  /** Closes the idle keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }

  /** One batch's worth of gets: a lone get goes as the plain GET every peer understands. */
  #send(requests: GetRequest[]): Promise<GetResponse>[] {
    if (requests.length === 1 || this.#batchRefused) return requests.map((r) => this.#getOne(r));
    const results = this.#getMany(requests);
    return requests.map((_, i) => results.then((all) => (all ? this.#unwrap(all[i]) : this.#getOne(requests[i]))));
  }

  async #getOne({ group, key }: GetRequest): Promise<GetResponse> {
    // URL parsers drop "." and ".." segments, even escaped as %2E: the peer would be asked for another key.
    if (isDotSegment(group) || isDotSegment(key)) throw new Error(`key ${JSON.stringify(key)} cannot travel in a URL path; loading it locally`);
    const answer = await this.#fetch('GET', `${this.#basePath}${encodeSegment(group)}/${encodeSegment(key)}`);
    if (answer.status !== 200) {
      const text = answer.body.subarray(0, 512).toString('utf8').trim();
      if (answer.errorKind === GETTER_FAILED) throw new OwnerLoadError(this.peer, text);
      if (answer.status === 404 && answer.errorKind === NOT_FOUND) throw new NotFoundError(text);
      throw new Error(`peer ${this.peer} answered ${answer.status}: ${text}`);
    }
    if (answer.type !== GET_RESPONSE_TYPE) throw new Error(`peer ${this.peer} answered content-type ${answer.type}, not ${GET_RESPONSE_TYPE}`);
    return readGetResponse(answer.body);
  }

  /** The batch's results, or undefined when the peer does not speak batches (then: one get at a time). */
  async #getMany(requests: GetRequest[]): Promise<PeerResult[] | undefined> {
    const answer = await this.#fetch('POST', this.#basePath, encodeBatchRequest(requests));
    if (answer.status === 200 && answer.type === BATCH_CONTENT_TYPE) {
      const results = decodeBatchResponse(answer.body);
      if (results.length !== requests.length) throw new Error(`peer ${this.peer} answered ${results.length} results for ${requests.length} gets`);
      return results;
    }
    if (answer.status === 400 || answer.status === 404 || answer.status === 405) {
      // Not a geecache peer (golang/groupcache answers 400). A 401 or 413 is a geecache peer
      // refusing this batch, and does not end batching.
      this.#batchRefused = true;
      return undefined;
    }
    throw new Error(`peer ${this.peer} answered a batch with ${answer.status} ${answer.type}`);
  }

  #unwrap(result: PeerResult): GetResponse {
    if (result.ok) return result.expiresAt === undefined ? { value: result.value } : { value: result.value, expiresAt: result.expiresAt };
    if (result.status === 500) throw new OwnerLoadError(this.peer, result.error || 'getter failed');
    if (result.status === 404 && result.kind === NOT_FOUND) throw new NotFoundError(result.error);
    if (result.status === 404) this.monitor.groupMissing(result.error);
    throw new Error(`peer ${this.peer} answered ${result.status}: ${result.error}`);
  }

  async #fetch(method: string, path: string, body?: Uint8Array, contentType = BATCH_CONTENT_TYPE): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (body) headers['content-type'] = contentType;
    const signer = this.#options.signer;
    if (signer) headers[AUTH_HEADER] = body ? signer.sign(method, path, Date.now(), body) : signer.signFor(method, path);
    const startedAt = performance.now();
    try {
      const res = await fetch(this.#origin + path, {
        method,
        headers,
        body: body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : undefined,
        agent: this.#agent,
        // A redirect would fetch a different key (Go's ServeMux redirects unclean paths): fail instead.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#options.timeoutMs),
        size: this.#options.maxResponseBytes,
      });
      const answer = { status: res.status, type: res.headers.get('content-type'), errorKind: res.headers.get(ERROR_HEADER) };
      const full = { ...answer, body: Buffer.from(await res.arrayBuffer()) };
      const bodyStart = full.status === 200 ? '' : full.body.subarray(0, 200).toString('utf8');
      // A not-found is an answer like a getter failure, not a sign of a misrouted peer route.
      const ownerAnswered = full.errorKind === GETTER_FAILED || full.errorKind === NOT_FOUND;
      this.monitor.answered(method, path, full.status, startedAt, res.headers.get('date'), ownerAnswered, bodyStart);
      return full;
    } catch (err) {
      this.monitor.failed(method, path, startedAt, err);
      // Timed out or unreachable: stop waiting on this peer for a while. A reset is not enough —
      // a healthy peer resets an idle keep-alive socket now and then — it just fails this get.
      if (isPeerDown(err)) this.#downUntil = Date.now() + this.#options.backoffMs;
      throw new Error(`peer ${this.peer} failed: ${messageOf(err)}`, { cause: err });
    }
  }
}
