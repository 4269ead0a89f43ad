import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { RequestSigner } from './auth.js';
import type { ByteView } from './byteview.js';
import { localStats, ringName, type StatsSource } from './clusterstats.js';
import { dashboard } from './dashboard.js';
import type { Discovery } from './discovery.js';
import type { Group } from './group.js';
import { type HealthReport, health } from './health.js';
import { HttpPool } from './httppool.js';
import { Membership } from './membership.js';
import { resolveOptions } from './options.js';
import { PeerServer } from './peerserver.js';
import { GroupRegistry } from './registry.js';
import { SelfCheck } from './selfcheck.js';
import type { GeecacheOptions } from './types.js';

/** What `req.cache` is: the default group's `get`, and every group by name. */
export interface RequestCache {
  /** The value of `key` in the default group (`defaultGroup`, else the only or first group). */
  get(key: string): Promise<ByteView>;
  /** The group called `name`; throws if there is none. */
  group(name: string): Group;
}

declare global {
  namespace Express {
    interface Request {
      /** The geecache groups of this app (set by the geecache middleware). */
      cache: RequestCache;
    }
  }
}

/** The middleware returned by {@link geecache}, with handles for code outside requests. */
export interface GeecacheMiddleware extends RequestCache {
  (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
  /** The HTTP pool: `pool.set(...peers)` changes membership. */
  readonly pool: HttpPool;
  /** The discovery source that keeps `pool` current, when `peers` is one. */
  readonly discovery: Discovery | undefined;
  /** This instance's groups. */
  readonly registry: GroupRegistry;
  /** Serves peer requests on `server` ahead of Express (done for you at the first request when `fastPath` is on). */
  attach(server: Server): void;
  /** Stops serving peers and closes peer connections. */
  close(): void;
  /**
   * The dashboard: a handler to mount behind the app's own auth, e.g.
   * `app.use('/geecache', requireAdmin, cache.dashboard())`. It shows every peer's figures,
   * read with signed stats requests (peers with `secret: false` serve none).
   */
  dashboard(): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
  /**
   * This peer's view, for readiness probes: serving, peers reachable, ring agreement, as a
   * status (200, or 503 when not serving; with `strict`, also when degraded) and a JSON body.
   */
  health(options?: { strict?: boolean }): Promise<HealthReport>;
}

/**
 * Makes this Express app a geecache peer: `app.use(geecache({ self, peers, secret, groups }))`.
 * Peer requests under `basePath` are answered here; every other request gets `req.cache` and
 * goes on to the app. Options are checked now, so a misconfiguration fails at start-up.
 */
export function geecache(options: GeecacheOptions): GeecacheMiddleware {
  const config = resolveOptions(options);
  const signer = config.secret ? new RequestSigner(config.secret) : undefined;
  const registry = new GroupRegistry();
  const pool = new HttpPool(config, signer);
  const membership = new Membership(pool, config.discovery, config.logger);
  for (const { name, ...groupOptions } of config.groups) registry.newGroup(name, groupOptions).registerPeers(membership);
  const ring = ringName(config.ring);
  const server = new PeerServer(registry, {
    basePath: config.basePath,
    signer,
    enabled: config.secret !== undefined,
    stats: () => localStats(pool, registry, ring, config.basePath),
  });

  const group = (name: string): Group => {
    const found = registry.getGroup(name);
    if (!found) throw new Error(`geecache: no group "${name}"; groups are: ${config.groups.map((g) => g.name).join(', ')}`);
    return found;
  };
  const defaultGroup = group(config.defaultGroup);
  const cache: RequestCache = { get: (key) => defaultGroup.get(key), group };
  const selfCheck = new SelfCheck(config.self, config.basePath, config.fastPath, config.logger);
  let seenRequest = false;
  const attach = (http: Server) => {
    selfCheck.server(http);
    server.attach(http);
  };

  const middleware = (req: IncomingMessage & { originalUrl?: string; cache?: RequestCache }, res: ServerResponse, next: (err?: unknown) => void): void => {
    if (!seenRequest) {
      seenRequest = true;
      selfCheck.request(req);
    }
    if (server.handle(req, res, req.originalUrl ?? req.url)) return;
    if (config.fastPath) {
      const http = (req.socket as { server?: unknown }).server;
      if (http && typeof (http as Server).listeners === 'function') attach(http as Server);
    }
    req.cache = cache;
    next();
  };
  let closed = false;
  const stats: StatsSource = { pool, registry, secret: config.secret, ring, basePath: config.basePath, timeoutMs: config.timeoutMs };
  return Object.assign(middleware, {
    get: cache.get,
    group,
    pool,
    discovery: membership.discovery,
    registry,
    attach,
    close: () => {
      closed = true;
      server.close();
      registry.close();
      membership.close();
      pool.close();
    },
    dashboard: () => dashboard(stats),
    health: (options: { strict?: boolean } = {}) => health({ ...stats, serving: !closed, strict: options.strict === true }),
  });
}
