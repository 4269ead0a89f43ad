import http from 'node:http';
import https from 'node:https';
import fetch from 'node-fetch';
import { AUTH_HEADER, type RequestSigner } from './auth.js';
import { OwnerLoadError } from './errors.js';
import type { PeerGetter } from './peers.js';
import { decodeGetResponse, encodeSegment } from './wire.js';

/** Sent by geecache clients; a geecache server answers getter failures with {@link ERROR_HEADER}. */
export const PEER_HEADER = 'x-geecache-peer';
/** Set by a geecache server on a 500 caused by its getter, so the client does not retry locally. */
export const ERROR_HEADER = 'x-geecache-error';

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
}

/**
 * The client of one peer: fetches `GET {peer}{basePath}{group}/{key}` with node-fetch over a
 * keep-alive agent, and decodes golang/groupcache's protobuf answer.
 */
export class HttpGetter implements PeerGetter {
  /** The peer's base URL, e.g. `http://10.0.0.2:3000`. */
  readonly peer: string;
  readonly #prefix: string;
  readonly #pathPrefix: string;
  readonly #options: HttpGetterOptions;
  readonly #agent: http.Agent;
  #downUntil = 0;

  constructor(peer: string, options: HttpGetterOptions) {
    const url = new URL(options.basePath, peer);
    this.peer = peer;
    this.#prefix = url.origin;
    this.#pathPrefix = url.pathname;
    this.#options = options;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxSockets };
    this.#agent = url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  /** True while the peer is skipped after a failure. */
  get isDown(): boolean {
    return Date.now() < this.#downUntil;
  }

  async get(group: string, key: string): Promise<Uint8Array> {
    if (this.isDown) throw new Error(`peer ${this.peer} is marked down after a failure; retrying it in ${this.#downUntil - Date.now()} ms`);
    const path = `${this.#pathPrefix}${encodeSegment(group)}/${encodeSegment(key)}`;
    const headers: Record<string, string> = { [PEER_HEADER]: '1' };
    if (this.#options.signer) headers[AUTH_HEADER] = this.#options.signer.sign('GET', path);
    let res;
    try {
      res = await fetch(this.#prefix + path, {
        headers,
        agent: this.#agent,
        signal: AbortSignal.timeout(this.#options.timeoutMs),
        size: this.#options.maxResponseBytes,
      });
    } catch (err) {
      // Refused, reset or timed out: stop waiting on this peer for a while.
      this.#downUntil = Date.now() + this.#options.backoffMs;
      throw new Error(`peer ${this.peer} unreachable: ${(err as Error).message}`, { cause: err });
    }
    let body: Buffer;
    try {
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      if ((err as Error).name === 'AbortError') this.#downUntil = Date.now() + this.#options.backoffMs;
      throw new Error(`peer ${this.peer} sent an unreadable body: ${(err as Error).message}`, { cause: err });
    }
    if (res.status !== 200) {
      const text = body.subarray(0, 512).toString('utf8').trim();
      if (res.headers.get(ERROR_HEADER) === 'getter') throw new OwnerLoadError(this.peer, text);
      throw new Error(`peer ${this.peer} answered ${res.status}: ${text}`);
    }
    const type = res.headers.get('content-type');
    if (type !== 'application/x-protobuf') throw new Error(`peer ${this.peer} answered content-type ${type}, not application/x-protobuf`);
    return decodeGetResponse(body);
  }

  /** Closes the idle keep-alive sockets. */
  close(): void {
    this.#agent.destroy();
  }
}
