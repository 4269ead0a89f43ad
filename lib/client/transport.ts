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

/**
 * An idle keep-alive connection is closed after this long (the agent's socket timeout): a peer
 * this one no longer talks to holds no socket, and the close comes before Node's HTTP server
 * closes its side (keepAliveTimeout, 5 s by default), so a request never races that close.
 */
export const IDLE_SOCKET_MS = 4_000;

/** The parts of http.Agent that see each request and connection (not in @types/node). */
interface AgentInternals {
  addRequest(req: http.ClientRequest, options: unknown): void;
  createConnection(options: unknown, callback?: unknown): import('node:net').Socket;
  sockets: Record<string, unknown[] | undefined>;
  freeSockets: Record<string, unknown[] | undefined>;
  requests: Record<string, unknown[] | undefined>;
}

const isEmpty = (byName: Record<string, unknown[] | undefined>) => {
  for (const name in byName) if ((byName[name]?.length ?? 0) > 0) return false;
  return true;
};

/**
 * A keep-alive agent that passes each new request's 1xx answers (its `'information'` events) to
 * the callback of the request being sent: node-fetch never shows the ClientRequest, but hands it
 * to its agent, synchronously, while fetch() builds it. `onEmpty` is called once the last of its
 * connections has closed with no request waiting.
 */
function informingAgent(secure: boolean, maxSockets: number, idleMs: number, onEmpty: () => void, tls?: PeerTls) {
  const Base = secure ? https.Agent : http.Agent;
  const { addRequest, createConnection } = Base.prototype as unknown as AgentInternals;
  return new (class extends Base {
    /** Set only for the duration of the fetch() call that creates the request. */
    sending: ((status: number) => void) | undefined;
    addRequest(req: http.ClientRequest, options: unknown): void {
      const onInformation = this.sending;
      if (onInformation) req.on('information', (info) => onInformation(info.statusCode));
      addRequest.call(this, req, options);
    }
    createConnection(options: unknown, callback?: unknown) {
      const socket = createConnection.call(this, options, callback);
      // After the agent's own 'close' handler has taken the socket out of its lists.
      socket.once('close', () =>
        setImmediate(() => {
          const self = this as unknown as AgentInternals;
          if (isEmpty(self.sockets) && isEmpty(self.freeSockets) && isEmpty(self.requests)) onEmpty();
        }),
      );
      return socket;
    }
  })({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, timeout: idleMs, ...(secure ? tls : undefined) });
}

/**
 * node-fetch over a keep-alive agent of `maxSockets` connections: the default (the design card's
 * choice). The agent is made on the first request and let go once its last connection has closed
 * (idle ones after {@link IDLE_SOCKET_MS}): a peer this one does not talk to costs no agent, socket or timer.
 */
export class NodeFetchTransport implements Transport {
  readonly #origin: string;
  readonly #tls: PeerTls | undefined;
  readonly #maxSockets: number;
  readonly #idleMs: number;
  #agent: ReturnType<typeof informingAgent> | undefined;
  #closed = false;

  /** `idleMs`: how long an idle connection is kept (tests shorten it). */
  constructor(origin: string, maxSockets: number, tls?: PeerTls, idleMs = IDLE_SOCKET_MS) {
    this.#origin = origin;
    this.#tls = tls;
    this.#maxSockets = maxSockets;
    this.#idleMs = idleMs;
  }

  /** True while an agent is held (a connection is open or was opened in the last moments). */
  get active(): boolean {
    return this.#agent !== undefined;
  }

  async request({ method, path, headers, body, signal, onInformation }: TransportRequest): Promise<TransportResponse> {
    if (this.#closed) throw Object.assign(new Error('the transport is closed'), { code: 'ERR_TRANSPORT_CLOSED' });
    const agent = this.#agent ?? this.#open();
    agent.sending = onInformation;
    let answer: ReturnType<typeof fetch>;
    try {
      answer = fetch(this.#origin + path, {
        method,
        headers,
        body,
        agent,
        // A redirect would fetch a different key (Go's ServeMux redirects unclean paths): fail instead.
        redirect: 'manual',
        signal,
        compress: false,
      });
    } finally {
      agent.sending = undefined;
    }
    const res = await answer;
    return { status: res.status, header: (name) => res.headers.get(name), body: res.body as unknown as Readable };
  }

  close(): void {
    this.#closed = true;
    this.#agent?.destroy();
    this.#agent = undefined;
  }

  #open(): ReturnType<typeof informingAgent> {
    const agent = informingAgent(
      this.#origin.startsWith('https:'),
      this.#maxSockets,
      this.#idleMs,
      () => {
        if (this.#agent === agent) this.#agent = undefined;
      },
      this.#tls,
    );
    this.#agent = agent;
    return agent;
  }
}
