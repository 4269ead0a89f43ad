import http from 'node:http';
import https from 'node:https';
import fetch from 'node-fetch';
import { AUTH_HEADER, type RequestSigner } from './auth.js';
import { Coalescer } from './coalescer.js';
import { OwnerLoadError } from './errors.js';
import { type FullLogger, SILENT } from './logger.js';
import { PeerMonitor } from './peermonitor.js';
import type { PeerGetter } from './peers.js';
import { decodeBatchResponse, decodeGetResponse, encodeBatchRequest, encodeSegment, type BatchItem, type BatchResult } from './wire.js';

/** Sent by geecache clients; a geecache server answers getter failures with {@link ERROR_HEADER}. */
export const PEER_HEADER = 'x-geecache-peer';
/** Set by a geecache server on a 500 caused by its getter, so the client does not retry locally. */
export const ERROR_HEADER = 'x-geecache-error';
/** Content type of a batch request: `POST {basePath}` with a BatchRequest body. */
export const BATCH_CONTENT_TYPE = 'application/x-geecache-batch';
/** Most gets in one batch request. */
export const MAX_BATCH = 256;

const LONE_SURROGATE = /\p{Cs}/u;
/** Errors that say the peer is gone or stuck, rather than that this one exchange went wrong. */
const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);
const isPeerDown = (err: unknown) => (err as Error)?.name === 'AbortError' || DOWN_CODES.has((err as { code?: string })?.code ?? '');
const isDotSegment = (segment: string) => segment === '.' || segment === '..';

/** How an {@link HttpGetter} talks to its peer. */
export interface HttpGetterOptions {
  /** Path prefix of the peer route, e.g. `/_geecache/`. */
  basePath: string;
  /** Signs requests, or undefined to send none (golang/groupcache peers, `secret: false`). */
  signer: RequestSigner | undefined;
  /** Abort a request after this long. */
  timeoutMs: number;
  /** Largest response body accepted from the peer. */
  maxResponseBytes: number;
  /** After a connection failure or timeout, skip the peer for this long. */
  backoffMs: number;
  /** Keep-alive sockets per peer. */
  maxSockets: number;
  /** Send gets that start in the same event-loop turn as one batch request. */
  batch: boolean;
  /** Where warnings naming the fix go (see PeerMonitor). Default: nowhere. */
  logger?: FullLogger;
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
  readonly #batches: Coalescer<BatchItem, BatchResult> | undefined;
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
    if (options.batch) this.#batches = new Coalescer((items) => this.#getMany(items), MAX_BATCH);
  }

  /** True while the peer is skipped after a failure. */
  get isDown(): boolean {
    return Date.now() < this.#downUntil;
  }

  async get(group: string, key: string): Promise<Uint8Array> {
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; retrying it in ${this.#downUntil - Date.now()} ms`);
    // A lone surrogate has no UTF-8 form: sent, it would arrive as U+FFFD, a different key.
    if (LONE_SURROGATE.test(key)) throw new Error(`key ${JSON.stringify(key)} is not well-formed Unicode; loading it locally`);
    if (!this.#batches || this.#batchRefused) return this.#getOne(group, key);
    const result = await this.#batches.add({ group, key });
    if (result.status === 200) return result.value ?? new Uint8Array(0);
    if (result.status === 500) throw new OwnerLoadError(this.peer, result.error ?? 'getter failed');
    if (result.status === 404) this.monitor.groupMissing(result.error ?? '');
    throw new Error(`peer ${this.peer} answered ${result.status}: ${result.error}`);
  }

  /** Closes the idle keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }

  async #getOne(group: string, key: string): Promise<Uint8Array> {
    // URL parsers drop "." and ".." segments, even escaped as %2E: the peer would be asked for another key.
    if (isDotSegment(group) || isDotSegment(key)) throw new Error(`key ${JSON.stringify(key)} cannot travel in a URL path; loading it locally`);
    const answer = await this.#fetch('GET', `${this.#basePath}${encodeSegment(group)}/${encodeSegment(key)}`);
    if (answer.status !== 200) {
      const text = answer.body.subarray(0, 512).toString('utf8').trim();
      if (answer.errorKind === 'getter') throw new OwnerLoadError(this.peer, text);
      throw new Error(`peer ${this.peer} answered ${answer.status}: ${text}`);
    }
    if (answer.type !== 'application/x-protobuf') throw new Error(`peer ${this.peer} answered content-type ${answer.type}, not application/x-protobuf`);
    return decodeGetResponse(answer.body);
  }

  async #getMany(items: BatchItem[]): Promise<BatchResult[]> {
    // One get gains nothing from a batch; the plain request also works with every peer.
    if (items.length === 1 || this.#batchRefused) return Promise.all(items.map((item) => this.#settleOne(item)));
    const answer = await this.#fetch('POST', this.#basePath, encodeBatchRequest(items));
    if (answer.status === 200 && answer.type === BATCH_CONTENT_TYPE) {
      const results = decodeBatchResponse(answer.body);
      if (results.length !== items.length) throw new Error(`peer ${this.peer} answered ${results.length} results for ${items.length} gets`);
      return results;
    }
    if (answer.status === 400 || answer.status === 404 || answer.status === 405) {
      // Not a geecache peer (golang/groupcache answers 400): talk to it one get at a time. A 401
      // or 413 is a geecache peer refusing this batch, and does not end batching.
      this.#batchRefused = true;
      return Promise.all(items.map((item) => this.#settleOne(item)));
    }
    throw new Error(`peer ${this.peer} answered a batch with ${answer.status} ${answer.type}`);
  }

  /** A plain get, as a BatchResult: errors become statuses so one bad key fails only its caller. */
  async #settleOne({ group, key }: BatchItem): Promise<BatchResult> {
    try {
      return { status: 200, value: await this.#getOne(group, key) };
    } catch (err) {
      return { status: err instanceof OwnerLoadError ? 500 : 502, error: (err as Error).message };
    }
  }

  async #fetch(method: string, path: string, body?: Uint8Array): Promise<Answer> {
    const headers: Record<string, string> = { [PEER_HEADER]: '1' };
    if (body) headers['content-type'] = BATCH_CONTENT_TYPE;
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
      this.monitor.answered(method, path, full.status, startedAt, res.headers.get('date'), full.errorKind === 'getter', bodyStart);
      return full;
    } catch (err) {
      this.monitor.failed(method, path, startedAt, err);
      // Timed out or unreachable: stop waiting on this peer for a while. A reset is not enough —
      // a healthy peer resets an idle keep-alive socket now and then — it just fails this get.
      if (isPeerDown(err)) this.#downUntil = Date.now() + this.#options.backoffMs;
      throw new Error(`peer ${this.peer} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
