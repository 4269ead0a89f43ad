/**
 * The opt-in undici transport (`transport: 'undici'`): the Transport interface over undici's
 * Pool.request, loaded on demand because undici is an optional dependency.
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { ConfigError } from '../common/errors.js';
import { IDLE_SOCKET_MS, type PeerTls, type Transport, type TransportRequest, type TransportResponse } from './transport.js';

/** The part of undici's Pool this transport uses (undici is an optional dependency: no types from it here). */
interface UndiciPool {
  request(options: {
    path: string;
    method: string;
    headers: Record<string, string>;
    body?: Buffer;
    signal: AbortSignal;
    onInfo?: (info: { statusCode: number }) => void;
  }): Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined>; body: Readable }>;
  destroy(): Promise<void>;
  on(event: 'disconnect', listener: () => void): unknown;
  readonly stats: { connected: number; pending: number; running: number };
}
interface Undici {
  Pool: new (
    origin: string,
    options: { connections: number; pipelining: number; keepAliveTimeout: number; keepAliveMaxTimeout: number; connect?: PeerTls },
  ) => UndiciPool;
}

/**
 * Loads undici (an optional dependency) for `transport: 'undici'`, or throws a ConfigError that
 * says how to install it. Synchronous, so options are still checked at start-up.
 */
export function loadUndici(): Undici {
  try {
    return createRequire(import.meta.url)('undici') as Undici;
  } catch (err) {
    throw Object.assign(
      new ConfigError(
        'transport',
        `is 'undici', but the undici package (7 or later) is not installed: run npm install undici, or leave transport out for node-fetch`,
      ),
      {
        cause: err,
      },
    );
  }
}

/**
 * undici's `Pool.request` over `maxSockets` keep-alive connections to one peer. The opt-in
 * alternative to node-fetch (`transport: 'undici'`): per request it costs the asker roughly a
 * third of node-fetch's CPU (measured: ~100 vs ~310 µs per exchange), because it skips
 * the WHATWG Request/Response/Headers objects and Node's http.Agent. TLS uses Node's default CA
 * store (NODE_EXTRA_CA_CERTS adds to it). The pool is made on the first request and let go once
 * its last connection has closed (idle ones after IDLE_SOCKET_MS), as NodeFetchTransport's agent is.
 */
export class UndiciTransport implements Transport {
  /** The `tls` option's CAs, client certificate and name, for an https peer: the Pool's `connect`. */
  readonly #connect: { connect: PeerTls } | undefined;
  readonly #undici: Undici;
  readonly #origin: string;
  readonly #maxSockets: number;
  readonly #idleMs: number;
  #pool: UndiciPool | undefined;
  #closed = false;

  /** `idleMs`: how long an idle connection is kept (tests shorten it). */
  constructor(undici: Undici, origin: string, maxSockets: number, tls?: PeerTls, idleMs = IDLE_SOCKET_MS) {
    this.#undici = undici;
    this.#origin = origin;
    this.#maxSockets = maxSockets;
    this.#idleMs = idleMs;
    this.#connect = tls && origin.startsWith('https:') ? { connect: tls } : undefined;
  }

  /** True while a pool is held. */
  get active(): boolean {
    return this.#pool !== undefined;
  }

  async request({ method, path, headers, body, signal, onInformation }: TransportRequest): Promise<TransportResponse> {
    if (this.#closed) throw Object.assign(new Error('the transport is closed'), { code: 'ERR_TRANSPORT_CLOSED' });
    // undici's hook for informational (1xx) answers, such as an owner's `102 Processing`.
    const onInfo = onInformation && ((info: { statusCode: number }) => onInformation(info.statusCode));
    const res = await (this.#pool ?? this.#open()).request({ path, method, headers, body, signal, onInfo });
    const all = res.headers;
    return {
      status: res.statusCode,
      header: (name) => {
        const value = all[name];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
      body: res.body,
    };
  }

  close(): void {
    this.#closed = true;
    this.#pool?.destroy().catch(() => {}); // in-flight requests fail with their own errors
    this.#pool = undefined;
  }

  #open(): UndiciPool {
    const pool = new this.#undici.Pool(this.#origin, {
      connections: this.#maxSockets,
      pipelining: 1,
      keepAliveTimeout: this.#idleMs,
      keepAliveMaxTimeout: this.#idleMs,
      ...this.#connect,
    });
    pool.on('disconnect', () =>
      setImmediate(() => {
        const { connected, pending, running } = pool.stats;
        if (this.#pool !== pool || connected + pending + running > 0) return;
        this.#pool = undefined;
        pool.destroy().catch(() => {});
      }),
    );
    this.#pool = pool;
    return pool;
  }
}
