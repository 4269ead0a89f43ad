/**
 * middleware.ts is geecache(): it builds one peer from the options (groups, pool, peer route, membership,
 * drain) and is the Express middleware that answers the peer route and gives every other request req.cache.
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import v8 from 'node:v8';
import { type ByteView, heapLimitWarning } from './cache/byteview.js';
import type { GetManyResult, Group } from './cache/group.js';
import { GroupRegistry } from './cache/registry.js';
import { RingAgreement } from './cluster/agreement.js';
import type { Discovery } from './cluster/discovery.js';
import { Drain, drainOnSigterm } from './cluster/drain.js';
import { HttpPool, type MembershipStats } from './cluster/httppool.js';
import { Membership } from './cluster/membership.js';
import { resolveOptions } from './config/options.js';
import type { GeecacheOptions } from './config/types.js';
import { dashboard } from './ops/dashboard.js';
import { clusterHealth, type HealthReport, health } from './ops/health.js';
import { SelfCheck } from './ops/selfcheck.js';
import { localStats, ringName, roundStats } from './ops/statsdoc.js';
import { StatsRounds, type StatsSource } from './ops/statsround.js';
import { RequestSigner } from './protocol/auth.js';
import { PeerServer } from './server/peerserver.js';

/**
 * On SIGTERM, after the drain, the process keeps answering "leaving" this long before it exits,
 * so peers that ask meanwhile reroute on that answer rather than on a refused connection (which
 * they would back off from, and warn about).
 */
const SIGTERM_LINGER_MS = 1_000;

/** What `req.cache` is: the default group's `get` and `getMany`, and every group by name. */
export interface RequestCache {
  /** The value of `key` in the default group (`defaultGroup`, else the only or first group). */
  get(key: string): Promise<ByteView>;
  /** The values of `keys` in the default group, each `{ value }` or `{ error }` (see Group.getMany). */
  getMany(keys: Iterable<string>): Promise<Map<string, GetManyResult>>;
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
  /**
   * Membership at work: answers of leaving peers, warm handoffs, and requests from peers whose
   * membership differs from ours (`ringChecked`, `ringDisagreed`).
   */
  membershipStats(): MembershipStats & { ringChecked: number; ringDisagreed: number };
  /**
   * Leaves the cluster gracefully, then stops: peers asking from now on are answered "leaving"
   * (they go to the key's next owner, or load locally, at once), peer requests in flight finish
   * (up to `timeoutMs`, after which their askers have given up anyway), then the peer route
   * closes, discovery stops and peer connections close. Resolves when done.
   */
  close(): Promise<void>;
  /**
   * The dashboard: a handler to mount behind the app's own auth, e.g.
   * `app.use('/geecache', requireAdmin, cache.dashboard())`. It shows every peer's figures,
   * read with signed stats requests (peers with `secret: false` serve none).
   */
  dashboard(): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
  /**
   * This peer's view, for readiness probes, read locally (no peer is asked, however often it is
   * called): serving, membership known, peers its client skips as down, persistent membership
   * disagreement; as a status (200, or 503 when not serving; with `strict`, also when degraded)
   * and a JSON body. The body names every peer: answer anonymous callers with the status only.
   */
  health(options?: { strict?: boolean }): Promise<HealthReport>;
  /**
   * The cluster as each peer reports it: every other peer is asked for its stats (signed) and
   * compared with this one's membership and ring. Calls share one round of stats requests
   * (statsround.ts: concurrent ones, and those within a second of its end), as the dashboard's
   * do. It names every peer: mount it behind the app's own auth.
   */
  clusterHealth(options?: { strict?: boolean }): Promise<HealthReport>;
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
  for (const group of config.groups) registry.newGroup(group.name, group).registerPeers(pool, config.logger);
  const heapWarning = heapLimitWarning(
    config.groups.reduce((sum, g) => sum + Math.max(0, g.maxBytes), 0),
    v8.getHeapStatistics().heap_size_limit,
  );
  if (heapWarning) config.logger.warn(heapWarning);
  const ring = ringName(config.ring);
  const drain = new Drain();
  const agreement = new RingAgreement(config.logger, pool);
  const server = new PeerServer(registry, {
    basePath: config.basePath,
    signer,
    enabled: config.secret !== undefined,
    self: config.self,
    timeoutMs: config.timeoutMs,
    stats: (view) => (view === 'round' ? roundStats : localStats)(pool, registry, ring, config.basePath),
    drain,
    agreement,
    logger: config.logger,
    requireClientCert: config.requireClientCert,
  });
  const unhook = config.drainOnSigterm ? drainOnSigterm(() => leave(SIGTERM_LINGER_MS), config.logger) : undefined;

  const group = (name: string): Group => {
    const found = registry.getGroup(name);
    if (!found) throw new Error(`geecache: no group "${name}"; groups are: ${config.groups.map((g) => g.name).join(', ')}`);
    return found;
  };
  const defaultGroup = group(config.defaultGroup);
  const cache: RequestCache = { get: (key) => defaultGroup.get(key), getMany: (keys) => defaultGroup.getMany(keys), group };
  const selfCheck = new SelfCheck(config.self, config.basePath, config.fastPath, config.logger);
  let seenRequest = false;
  const attach = (http: Server) => {
    selfCheck.server(http);
    server.attach(http);
  };

  let lastServer: unknown;
  const middleware = (req: IncomingMessage & { originalUrl?: string; cache?: RequestCache }, res: ServerResponse, next: (err?: unknown) => void): void => {
    if (!seenRequest) {
      seenRequest = true;
      selfCheck.request(req);
    }
    if (server.handle(req, res, req.originalUrl ?? req.url)) return;
    if (config.fastPath) {
      const http = (req.socket as { server?: unknown }).server;
      if (http !== lastServer && http && typeof (http as Server).listeners === 'function') {
        lastServer = http;
        attach(http as Server);
      }
    }
    // Found on the app's request prototype after the first request: nothing is written per request.
    if (req.cache !== cache) provideCache(req, cache);
    next();
  };
  let closed = false;
  const stats: StatsSource = { pool, registry, secret: config.secret, ring, basePath: config.basePath };
  // Every stats request to other peers goes through one round at a time (dashboard, clusterHealth).
  const rounds = new StatsRounds(stats);
  const serving = () => !closed && !drain.leaving;
  return Object.assign(middleware, {
    get: cache.get,
    getMany: cache.getMany,
    group,
    pool,
    discovery: membership.discovery,
    registry,
    attach,
    membershipStats: () => ({ ...pool.stats, ringChecked: agreement.stats.checked, ringDisagreed: agreement.stats.disagreed }),
    close: () => leave(0),
    dashboard: () => dashboard(stats, rounds),
    health: (options: { strict?: boolean } = {}) =>
      health({ pool, agreement, discovery: membership.discovery, serving: serving(), strict: options.strict === true }),
    clusterHealth: (options: { strict?: boolean } = {}) =>
      clusterHealth({ pool, rounds, ring, basePath: config.basePath, serving: serving(), strict: options.strict === true }),
  });

  /** Drains, keeps answering "leaving" for `lingerMs` more, then closes. */
  async function leave(lingerMs: number): Promise<void> {
    unhook?.();
    closed = true;
    await drain.start(config.timeoutMs);
    if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
    server.close();
    registry.close();
    membership.close();
    pool.close();
  }
}

/**
 * Makes `req.cache` answer `cache` for this request and, when `req` has an Express app's request
 * prototype (Express 4 and 5 set every request's prototype to `app.request`, an object of that
 * app's own), for every later request of that app, without a write per request. Per app, so
 * several geecache instances in one process each serve their own app. If another geecache
 * instance already put its cache on that prototype (two in one app), or there is no Express
 * prototype, `req.cache` is set on the request itself, as before.
 */
function provideCache(req: { cache?: RequestCache }, cache: RequestCache): void {
  const proto = Object.getPrototypeOf(req) as { app?: unknown } | null;
  if (!proto || !Object.hasOwn(proto, 'app') || Object.hasOwn(proto, 'cache')) {
    req.cache = cache;
    return;
  }
  Object.defineProperty(proto, 'cache', { value: cache, writable: true, configurable: true });
  // Inside a sub-app mounted on this app (app.use('/x', express())), Express switches the
  // request's prototype to the sub-app's: there, `req.cache` is found by walking up the mounts.
  const base = Object.getPrototypeOf(proto) as object | null;
  if (base && !Object.hasOwn(base, 'cache')) Object.defineProperty(base, 'cache', { get: cacheOfMountingApp, set: setOwnCache, configurable: true });
}

type MountedApp = { parent?: MountedApp; request?: object };

/** `req.cache` in a sub-app: the cache of the nearest app it is mounted under that has one. */
function cacheOfMountingApp(this: { app?: MountedApp }): RequestCache | undefined {
  for (let app = this.app?.parent; app; app = app.parent) {
    const own = app.request && Object.getOwnPropertyDescriptor(app.request, 'cache');
    if (own) return own.value as RequestCache;
  }
  return undefined;
}

/** `req.cache = x` still works where the getter above answers: x becomes the request's own. */
function setOwnCache(this: object, value: unknown): void {
  Object.defineProperty(this, 'cache', { value, writable: true, configurable: true, enumerable: true });
}
