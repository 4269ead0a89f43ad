// The client's HTTP seam: the Transport interface every peer request goes through, and its default,
// node-fetch over a keep-alive agent (lib/client/undici.ts is the other).
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import fetch from 'node-fetch';

/**
 * How the peer client sends one request and gets the answer's head and body stream: the only part
 * of the client that differs between HTTP libraries (groupcache's design makes the transport
 * pluggable the same way). Every request to a peer — gets, batches, writes, liveness probes, the
 * stats document — goes through one of these; timeouts, budgets, probing and decoding stay above it.
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
  /**
   * Called with the status of each informational (1xx) answer before the final one: a geecache
   * owner sends `102 Processing` on a plain GET whose load is taking a while ("alive, keep waiting").
   */
  onInformation?: (status: number) => void;
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

/**
 * TLS settings of the connections to `https://` peers beyond Node's defaults: the `tls` option's
 * client half, checked by config/tls.ts. `ca` replaces Node's CA list; `cert` and `key` are the
 * client certificate presented (mutual TLS); `servername` the name the peer's certificate must carry.
 */
export interface PeerTls {
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly cert?: string | Buffer | readonly (string | Buffer)[];
  readonly key?: string | Buffer | readonly (string | Buffer)[];
  readonly passphrase?: string;
  readonly servername?: string;
}

/** The part of http.Agent that is handed each request as it is created (not in @types/node). */
interface AgentInternals {
  addRequest(req: http.ClientRequest, options: unknown): void;
}

/**
 * A keep-alive agent that passes each new request's 1xx answers (its `'information'` events) to
 * the callback of the request being sent: node-fetch never shows the ClientRequest, but hands it
 * to its agent, synchronously, while fetch() builds it.
 */
function informingAgent(secure: boolean, maxSockets: number, tls?: PeerTls) {
  const Base = secure ? https.Agent : http.Agent;
  const addRequest = (Base.prototype as unknown as AgentInternals).addRequest;
  return new (class extends Base {
    /** Set only for the duration of the fetch() call that creates the request. */
    sending: ((status: number) => void) | undefined;
    addRequest(req: http.ClientRequest, options: unknown): void {
      const onInformation = this.sending;
      if (onInformation) req.on('information', (info) => onInformation(info.statusCode));
      addRequest.call(this, req, options);
    }
  })({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, ...(secure ? tls : undefined) });
}

/** node-fetch over a keep-alive agent of `maxSockets` connections: the default (the design card's choice). */
export class NodeFetchTransport implements Transport {
  readonly #origin: string;
  readonly #agent: ReturnType<typeof informingAgent>;

  constructor(origin: string, maxSockets: number, tls?: PeerTls) {
    this.#origin = origin;
    this.#agent = informingAgent(origin.startsWith('https:'), maxSockets, tls);
  }

  async request({ method, path, headers, body, signal, onInformation }: TransportRequest): Promise<TransportResponse> {
    this.#agent.sending = onInformation;
    let answer: ReturnType<typeof fetch>;
    try {
      answer = fetch(this.#origin + path, {
        method,
        headers,
        body,
        agent: this.#agent,
        // A redirect would fetch a different key (Go's ServeMux redirects unclean paths): fail instead.
        redirect: 'manual',
        signal,
        compress: false,
      });
    } finally {
      this.#agent.sending = undefined;
    }
    const res = await answer;
    return { status: res.status, header: (name) => res.headers.get(name), body: res.body as unknown as Readable };
  }

  close(): void {
    this.#agent.destroy();
  }
}
