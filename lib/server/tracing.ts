/**
 * Serving another peer's request as a traced operation (SERVE_TRACE, common/diagnostics.ts), when
 * anyone subscribes: one trace per get (each get of a batch on its own, as each may belong to
 * another trace), set or remove, carrying the asker's trace context when it is well-formed, with
 * the work for it done inside the trace, so that the getter run it causes is a child of it.
 * Only admitted requests (signed, for this peer) are traced: an unsigned one never gets here.
 */
import type { ServerResponse } from 'node:http';
import type { GetRequest } from '../cache/peers.js';
import { peerAddress, type ServeTrace, serveTrace, traceContextOf, traced } from '../common/diagnostics.js';
import type { PeerResult } from '../protocol/wire.js';
import type { PeerRequest } from './admit.js';

/** The traces of one peer server. */
export class ServeTracing {
  readonly #address: string;
  readonly #port: number;
  readonly #basePath: string;

  /** `self`: this peer's base URL (the address and port its traces name); `basePath`: its peer route. */
  constructor(self: string, basePath: string) {
    const { address, port } = peerAddress(self);
    this.#address = address;
    this.#port = port;
    this.#basePath = basePath;
  }

  /** Whether anyone subscribes: check it first, nothing else here is as cheap. */
  get on(): boolean {
    return serveTrace.hasSubscribers;
  }

  /**
   * Serves an admitted GET, PUT or DELETE (`serve`, given the trace to fill in) inside its trace,
   * which ends once the answer is sent or the connection closed. `serve` throwing, or its promise
   * rejecting, fails the trace and reaches the caller as it would untraced.
   */
  request(request: PeerRequest, res: ServerResponse, operation: ServeTrace['operation'], serve: (trace: ServeTrace) => unknown): Promise<void> {
    const trace: ServeTrace = {
      operation,
      method: request.method,
      basePath: this.#basePath,
      address: this.#address,
      port: this.#port,
      ...traceContextOf(request.header('traceparent'), request.header('tracestate')),
    };
    return traced(serveTrace, trace, () => {
      const closed = new Promise<void>((resolve) => {
        res.once('close', () => {
          if (res.headersSent) trace.status = res.statusCode;
          resolve();
        });
      });
      const served = serve(trace);
      return served instanceof Promise ? Promise.all([served, closed]).then(() => undefined) : closed;
    });
  }

  /** One get of a batch (`answer`) inside its own trace, with the context its item carried; ends with its result. */
  item(request: GetRequest, answer: () => Promise<PeerResult>): Promise<PeerResult> {
    const trace: ServeTrace = {
      operation: 'get',
      method: 'POST',
      basePath: this.#basePath,
      address: this.#address,
      port: this.#port,
      group: request.group,
      key: request.key,
      ...traceContextOf(request.trace?.traceparent, request.trace?.tracestate),
    };
    return traced(serveTrace, trace, () =>
      answer().then((result) => {
        trace.status = result.ok ? 200 : result.status;
        return result;
      }),
    );
  }
}
