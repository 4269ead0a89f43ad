/**
 * The opt-in undici transport (`transport: 'undici'`): the Transport interface over undici's
 * Pool.request, loaded on demand because undici is an optional dependency.
 */
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { ConfigError } from '../common/errors.js';
import type { PeerTls, Transport, TransportRequest, TransportResponse } from './transport.js';

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
}
interface Undici {
  Pool: new (origin: string, options: { connections: number; pipelining: number; connect?: PeerTls }) => UndiciPool;
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
 * third of node-fetch's CPU (issue 13 measured ~100 vs ~310 µs per exchange), because it skips
 * the WHATWG Request/Response/Headers objects and Node's http.Agent. TLS uses Node's default CA
 * store (NODE_EXTRA_CA_CERTS adds to it).
 */
export class UndiciTransport implements Transport {
  readonly #pool: UndiciPool;

  constructor(undici: Undici, origin: string, maxSockets: number, tls?: PeerTls) {
    this.#pool = new undici.Pool(origin, { connections: maxSockets, pipelining: 1, ...(tls && origin.startsWith('https:') ? { connect: tls } : {}) });
  }

  async request({ method, path, headers, body, signal, onInformation }: TransportRequest): Promise<TransportResponse> {
    // undici's hook for informational (1xx) answers, such as an owner's `102 Processing`.
    const onInfo = onInformation && ((info: { statusCode: number }) => onInformation(info.statusCode));
    const res = await this.#pool.request({ path, method, headers, body, signal, onInfo });
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
    this.#pool.destroy().catch(() => {}); // in-flight requests fail with their own errors
  }
}
