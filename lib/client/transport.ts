import type http from 'node:http';
import type { Readable } from 'node:stream';
import fetch from 'node-fetch';

/**
 * How an HttpGetter sends one request to its peer and gets the answer's head and body stream:
 * the only part of the client that differs between HTTP libraries (groupcache's design makes the
 * transport pluggable the same way). Timeouts, budgets, probing and decoding stay in HttpGetter.
 */
export interface Transport {
  /** Sends the request; resolves once the answer's status and headers are in. Rejects (with the socket error's `code`, or the signal's reason) when it fails. */
  request(request: TransportRequest): Promise<TransportResponse>;
  /** Closes the idle keep-alive connections; later requests fail. */
  close(): void;
}

export interface TransportRequest {
  method: string;
  /** The path (and query) on the peer's origin. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Aborts the request or the body being read. */
  signal: AbortSignal;
}

export interface TransportResponse {
  status: number;
  /** A header's value (`name` in lower case), repeats joined with ", ", or null. */
  header(name: string): string | null;
  /** The body: read it to the end, or destroy it. */
  body: Readable;
}

/** The transports the `transport` option names. */
export type TransportName = 'node-fetch' | 'undici';

/** node-fetch over a keep-alive agent: the default (the design card's choice). */
export class NodeFetchTransport implements Transport {
  readonly #origin: string;
  readonly #agent: http.Agent;

  constructor(origin: string, agent: http.Agent) {
    this.#origin = origin;
    this.#agent = agent;
  }

  async request({ method, path, headers, body, signal }: TransportRequest): Promise<TransportResponse> {
    const res = await fetch(this.#origin + path, {
      method,
      headers,
      body,
      agent: this.#agent,
      // A redirect would fetch a different key (Go's ServeMux redirects unclean paths): fail instead.
      redirect: 'manual',
      signal,
      compress: false,
    });
    return { status: res.status, header: (name) => res.headers.get(name), body: res.body as unknown as Readable };
  }

  close(): void {
    this.#agent.destroy();
  }
}
