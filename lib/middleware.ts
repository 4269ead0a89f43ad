import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ByteView } from './byteview.js';
import type { Discovery } from './discovery.js';
import type { Group } from './group.js';
import { HttpPool } from './httppool.js';
import { Membership } from './membership.js';
import { resolveOptions } from './options.js';
import { GroupRegistry } from './registry.js';
import { SelfCheck } from './selfcheck.js';
import type { GeecacheOptions } from './types.js';

/** What `req.cache` is: the first group's `get`, and every group by name. */
export interface RequestCache {
  /** The value of `key` in the first group. */
  get(key: string): Promise<ByteView>;
  /** The group called `name`; throws if there is none. */
  group(name: string): Group;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
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
}

/**
 * Makes this Express app a geecache peer: `app.use(geecache({ self, peers, secret, groups }))`.
 * Peer requests under `basePath` are answered here; every other request gets `req.cache` and
 * goes on to the app. Options are checked now, so a misconfiguration fails at start-up.
 */
export function geecache(options: GeecacheOptions): GeecacheMiddleware {
  const resolved = resolveOptions(options);
  const registry = new GroupRegistry();
  const groups = resolved.groups.map(([name, groupOptions]) => registry.newGroup(name, groupOptions));
  const pool = new HttpPool(registry, resolved);
  const membership = new Membership(pool, resolved.discovery, resolved.logger);
  for (const group of groups) group.registerPeers(membership);

  const group = (name: string): Group => {
    const found = registry.getGroup(name);
    if (!found) throw new Error(`geecache: no group "${name}"; groups are: ${groups.map((g) => g.name).join(', ')}`);
    return found;
  };
  const cache: RequestCache = { get: (key) => groups[0].get(key), group };
  const selfCheck = new SelfCheck(resolved.self, resolved.basePath, resolved.fastPath, resolved.logger);
  let seenRequest = false;
  const attach = (server: Server) => {
    selfCheck.server(server);
    pool.attach(server);
  };

  const middleware = (req: IncomingMessage & { originalUrl?: string; cache?: RequestCache }, res: ServerResponse, next: (err?: unknown) => void): void => {
    if (!seenRequest) {
      seenRequest = true;
      selfCheck.request(req);
    }
    if (pool.handle(req, res, req.originalUrl ?? req.url)) return;
    if (resolved.fastPath) {
      const server = (req.socket as { server?: unknown }).server;
      if (server && typeof (server as Server).listeners === 'function') attach(server as Server);
    }
    req.cache = cache;
    next();
  };
  return Object.assign(middleware, {
    get: cache.get,
    group,
    pool,
    registry,
    attach,
    discovery: membership.discovery,
    close: () => {
      membership.close();
      pool.close();
    },
  });
}
