/**
 * The server side of the peer protocol: the route under `basePath` that other peers ask. Each
 * request passes admission (admit.ts), then goes to its handler: a get (get.ts), a batch of gets
 * (batch.ts), a write (writes.ts), a tag invalidation (writes.ts too) or a batch of writes
 * (writebatch.ts); everything else is a 405.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { GroupRegistry } from '../cache/registry.js';
import { messageOf } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { BATCH_CONTENT_TYPE, type StatsView } from '../protocol/headers.js';
import { TAGS_CONTENT_TYPE } from '../protocol/tagwire.js';
import { WRITES_CONTENT_TYPE } from '../protocol/writewire.js';
import { Admission, type AdmissionOptions, type PeerRequest } from './admit.js';
import { AppQueue } from './appqueue.js';
import { Batches } from './batch.js';
import { EncodeGuard } from './encodeguard.js';
import { Gets } from './get.js';
import { reply } from './reply.js';
import { ServeTracing } from './tracing.js';
import { WriteBatches } from './writebatch.js';
import { Writes } from './writes.js';

/** What a {@link PeerServer} needs of the configuration. */
export interface PeerServerOptions extends AdmissionOptions {
  readonly basePath: string;
  /** This peer's figures for `GET {basePath}_stats` (dashboards, health checks), in the view asked for; none: 404. */
  readonly stats?: (view: StatsView) => unknown;
  /** Where a get's answer that cannot be encoded is reported (once per cause; see EncodeGuard). */
  readonly logger?: Pick<Logger, 'warn'>;
}

/**
 * Answers `GET {basePath}{group}/{key}` (golang/groupcache's route, byte for byte), geecache's
 * batch `POST {basePath}` and the writes `PUT` and `DELETE`, from this process's groups.
 */
export class PeerServer {
  readonly #options: PeerServerOptions;
  readonly #admission: Admission;
  readonly #gets: Gets;
  readonly #batches: Batches;
  readonly #writes: Writes;
  readonly #writeBatches: WriteBatches;
  #gapWarned = false;
  /** Each request served as a trace, when anyone subscribes (SERVE_TRACE). */
  readonly #tracing: ServeTracing;
  readonly #attached = new WeakSet<Server>();
  #closed = false;

  constructor(registry: GroupRegistry, options: PeerServerOptions) {
    this.#options = options;
    this.#admission = new Admission({ ...options, onWriteGap: () => this.#gap(registry) });
    const encoding = new EncodeGuard(options.logger);
    this.#tracing = new ServeTracing(options.self, options.basePath);
    this.#gets = new Gets(registry, { basePath: options.basePath, signed: options.signer !== undefined, stats: options.stats, drain: options.drain, encoding });
    this.#batches = new Batches(registry, this.#admission, encoding, this.#tracing);
    this.#writes = new Writes(registry, this.#admission, options.basePath);
    this.#writeBatches = new WriteBatches(registry, this.#admission);
  }

  /**
   * A writer's sequence numbers to this peer jumped (sequences.ts): it dropped writes meant for
   * this peer (this peer had left its ring, or too many waited for it). Which keys they were is not
   * known, owned or copies: every group drops everything it holds here, as a restart would, and
   * loads again on demand. Counted per group (stats.writeGaps); warned once.
   */
  #gap(registry: GroupRegistry): void {
    for (const group of registry.groups()) {
      group.stats.writeGaps++;
      group.forgetAll();
    }
    if (this.#gapWarned) return;
    this.#gapWarned = true;
    this.#options.logger?.warn(
      'geecache: another peer dropped writes meant for this one (this peer had left its ring, or too many waited for it), so values cached here may be stale: every group dropped what it held here and loads again on demand. Counted in each group’s stats.writeGaps; warned once',
    );
  }

  /**
   * Answers `req` if it is a peer request (its path starts with `basePath`) and returns true;
   * returns false, touching nothing, for any other request.
   */
  handle(req: IncomingMessage, res: ServerResponse, url = req.url ?? '/'): boolean {
    if (this.#closed || !url.startsWith(this.#options.basePath)) return false;
    if (req.method === 'GET') {
      // Synchronous: a cached value is written before this returns (see get.ts).
      try {
        const request = this.#admission.admit(req, res, url);
        if (request && this.#tracing.on) this.#tracing.request(request, res, 'get', (trace) => this.#gets.serve(res, request, trace));
        else if (request) this.#gets.serve(res, request);
      } catch (err) {
        reply(res, 500, `internal error: ${messageOf(err)}`);
      }
      return true;
    }
    // #serve answers every expected failure itself; this catches the unexpected (a client that
    // vanished mid-body), so that one bad request can never take the process down.
    const drain = this.#options.drain;
    drain?.enter();
    const served = this.#serve(req, res, url).catch((err) => reply(res, 500, `internal error: ${messageOf(err)}`));
    if (drain) served.finally(() => drain.leave());
    return true;
  }

  /** Every other method: a batch POST, a PUT or a DELETE; 405 for the rest. */
  async #serve(req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const request = this.#admission.admit(req, res, url);
    if (!request) return;
    const { method, path } = request;
    if (method === 'POST' && path === this.#options.basePath && request.header('content-type') === BATCH_CONTENT_TYPE)
      return this.#batches.serve(req, res, request);
    if ((method === 'PUT' || method === 'DELETE') && this.#tracing.on)
      return this.#tracing.request(request, res, method === 'PUT' ? 'set' : 'remove', () => this.#write(req, res, request));
    if (method === 'PUT' || method === 'DELETE') return this.#write(req, res, request);
    reply(res, 405, `method ${method} not allowed: peers use GET, DELETE and PUT`, { allow: 'GET, DELETE, PUT' });
  }

  /** A write: PUT stores a value (or, to the group, invalidates tags), DELETE drops a key or the group. */
  #write(req: IncomingMessage, res: ServerResponse, request: PeerRequest): Promise<void> | void {
    if (request.method === 'PUT' && request.header('content-type') === TAGS_CONTENT_TYPE) return this.#writes.invalidateTags(req, res, request);
    if (request.method === 'DELETE' && request.path === this.#options.basePath && request.header('content-type') === WRITES_CONTENT_TYPE)
      return this.#writeBatches.serve(req, res, request);
    return request.method === 'PUT' ? this.#writes.set(req, res, request) : this.#writes.delete(res, request);
  }

  /**
   * Serves peer requests on `server` before its other 'request' listeners (Express) see them,
   * so peer traffic skips Express's per-request work. Idempotent.
   */
  attach(server: Server): void {
    if (this.#attached.has(server)) return;
    this.#attached.add(server);
    const others = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    // Peer requests are answered as they are read; app requests of a burst wait their turn behind them (see AppQueue).
    const app = new AppQueue((req, res) => {
      for (const listener of others) listener.call(server, req, res);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.handle(req, res)) app.admit(req, res);
    });
  }

  /** Stops answering: peer requests then go on to the app like any other request. */
  close(): void {
    this.#closed = true;
  }
}
