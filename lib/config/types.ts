import type { PeerSource } from '../cluster/discovery.js';
import type { Logger } from '../common/logger.js';
import type { Ring } from '../ring/ring.js';

/** What a getter may return: the value's bytes, or a string stored as UTF-8. */
export type Bytes = Buffer | Uint8Array | string;

/** The second argument of a {@link Getter}. */
export interface GetterContext {
  /** Aborts at the group's `loadTimeoutMs`; pass it to whatever the getter waits on. */
  signal: AbortSignal;
  /**
   * This value's time to live in milliseconds (a positive number), instead of the group's
   * `ttlMs` (and without its jitter): e.g. a token's own lifetime, or an HTTP response's max-age.
   * The last call before the getter returns counts.
   */
  setTtl(ms: number): void;
}

/**
 * The loader of a group: reads the value of `key` from the source of truth (a database, a
 * service). It runs once per key across the cluster while the value stays cached. Throw a
 * NotFoundError for a key the source does not have (cached for `notFoundTtlMs`); any other
 * error reaches the caller and is not cached.
 */
export type Getter = (key: string, context: GetterContext) => Promise<Bytes> | Bytes;

/** One group's settings. */
export interface GroupOptions {
  /** Bytes this process may cache for the group: key length + value length + 256 bytes of per-entry overhead, per entry. `<= 0` disables caching. */
  maxBytes: number;
  /** Loads a value that no cache holds. */
  getter: Getter;
  /** A getter still running after this long fails with a LoadTimeoutError and its signal aborts. Default 30,000. */
  loadTimeoutMs?: number;
  /** Longest key accepted, in UTF-16 code units. Default 1,024. */
  maxKeyLength?: number;
  /**
   * Share of `maxBytes` kept for copies of hot keys owned by other peers (golang/groupcache's hot
   * cache). Default 1/8; 0 turns it off. Each cache is sure of its share and may fill what the
   * other leaves unused, giving it back first when the other needs it: a front that owns few
   * keys keeps copies in most of `maxBytes`, and its owned values take the room back as they come.
   */
  hotCacheFraction?: number;
  /**
   * How long a loaded value stays fresh, in milliseconds; the getter may set its own per value
   * (`setTtl`). Default 0: values never expire — groupcache's immutable model, where a value
   * changes only by `remove`, `set` or `clear`. The expiry travels with the value to other peers,
   * so no copy outlives the owner's entry.
   */
  ttlMs?: number;
  /** Cut each `ttlMs` by a random share up to this fraction (0.1: by up to 10%), so keys loaded together do not expire together. Default 0. */
  ttlJitter?: number;
  /**
   * Stale-while-revalidate, bentocache's grace: for this long after a value expires its owner
   * still answers it at once, while one refresh runs at the owner for the whole cluster; a
   * failing refresh is retried with a backoff (1 s, doubling, up to 30 s), not on every get.
   * Default 0: an expired value is never served.
   */
  staleMs?: number;
  /**
   * Longest life of a copy of a value this peer does not own: the hot cache's copies, and values
   * loaded here because the owner could not be asked. It bounds how long a peer that missed a
   * `remove` (down, paused) can serve the old value. Default 30,000 (30 s; set 5,000 for a tighter bound, at the cost of more peer traffic); 0: no cap (groupcache's copies live until evicted).
   * A hot copy read past half this life is fetched again from its owner in the background
   * (lib/cache/renewal.ts), so a key that is read stays cached without ever outliving this bound.
   */
  hotTtlMs?: number;
  /** How long a getter's NotFoundError is cached at the key's owner. Default 0: not cached, the next get asks the getter again. */
  notFoundTtlMs?: number;
}

/** Which consistent-hash ring assigns keys to peers. */
export type RingOption =
  /** Rendezvous hashing: even shares, minimal movement. Every peer must use it. */
  | 'default'
  /** golang/groupcache's ring (crc32, 50 replicas): agrees with Go groupcache peers on every key. */
  | 'groupcache'
  /** Your own ring; every peer must build the same one. */
  | (() => Ring);

/** Options of {@link geecache}. */
export interface GeecacheOptions {
  /**
   * This app's base URL as the other peers reach it, e.g. `http://10.0.0.1:3000`. Required. With
   * a static `peers` list it may be just the port: self is then the entry on that port at an
   * address of this host, so one config serves every replica.
   */
  self: string | number;
  /**
   * Every peer's base URL, `self` included, the same list on every peer. Default `[self]`. Or a
   * discovery source that keeps the list current: `{ dns: name, port }` (A/AAAA records, e.g. a
   * Kubernetes headless Service), `{ srv: name }` (SRV records), or `{ discover: async () => urls }`;
   * each re-asked every `intervalMs` and when a peer fails. See {@link PeerSource}.
   */
  peers?: string[] | PeerSource;
  /**
   * Shared by all peers; peer requests are signed with it (HMAC-SHA256). Required when `peers`
   * names anyone but `self`. `false` turns authentication off: only on a private network, or
   * with golang/groupcache peers, which send no credentials.
   */
  secret?: string | false;
  /** The groups, by name. */
  groups: Record<string, GroupOptions>;
  /**
   * The group `req.cache.get` uses. Optional with one group; with several it defaults to the
   * first, and is required when a group name looks like an integer ('2024'), since JavaScript
   * lists such keys first whatever order they were written in.
   */
  defaultGroup?: string;
  /** Path prefix of the peer route. Default `/_geecache/`; `/_groupcache/` to join Go peers. */
  basePath?: string;
  /** Ring preset. Default `'default'`; `'groupcache'` to join Go peers. */
  ring?: RingOption;
  /**
   * A peer that sends nothing for this long — to a request, nor then to a liveness probe — is
   * down: its keys load locally. A peer that answers is busy, and waited for up to the group's
   * `loadTimeoutMs` (which the owner is told). An answer that has started must finish within it.
   * Default 2,000 ms.
   */
  timeoutMs?: number;
  /** Largest response accepted from a peer; all responses being read at once hold at most twice this. Default 64 MiB. */
  maxResponseBytes?: number;
  /**
   * Longest a peer that went silent or refused a connection is skipped. It is probed every 250 ms
   * meanwhile and used again as soon as it answers. Default 5,000 ms.
   */
  backoffMs?: number;
  /** Keep-alive sockets per peer. Default 32. */
  maxSockets?: number;
  /**
   * Send gets bound for one peer that start in the same event-loop turn as one batch request
   * (`POST {basePath}`, geecache peers only; a golang/groupcache peer refuses the first and then
   * gets plain requests). Default true.
   */
  batch?: boolean;
  /**
   * Answer peer requests on the app's HTTP server before Express routes them (installed at the
   * first request the middleware sees). Default true; Express then never sees peer traffic.
   */
  fastPath?: boolean;
  /**
   * Warm handoff: for this long after a membership change, an owner that misses a key asks the
   * key's previous owner (cache only, one hop) before running the getter, so scaling out does
   * not reload every moved key. Default 60,000 ms; 0 turns it off.
   */
  handoffMs?: number;
  /**
   * On SIGTERM, drain (see `close()`) and then let the signal end the process. Default false:
   * call `await cache.close()` from your own shutdown code instead.
   */
  drainOnSigterm?: boolean;
  /**
   * The HTTP client of the requests to other peers: `'node-fetch'` (the default) or `'undici'`,
   * undici's `Pool.request`, which costs the asking peer about a third of node-fetch's CPU per
   * request (BENCHMARKS.md). `'undici'` needs the `undici` package (an optional dependency:
   * `npm install undici`); without it geecache() throws a ConfigError saying so.
   */
  transport?: 'node-fetch' | 'undici';
  /**
   * Where warnings that name a fix go (a peer refusing our secret, a peer down, a rate limiter in
   * front of the peer route...): any object with `warn` (and optionally `error`, `info`,
   * `debug`), such as pino, winston or console. Default: the console. `false` silences geecache.
   */
  logger?: Logger | false;
}
