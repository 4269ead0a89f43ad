/**
 * types.ts declares geecache()'s options as the application writes them: the public shape that
 * options.ts checks. A group's own options are declared where groups are made (cache/groupoptions.ts).
 */

import type { GroupOptions } from '../cache/groupoptions.js';
import type { PeerSource } from '../cluster/discovery.js';
import type { Logger } from '../common/logger.js';
import type { RingOption } from '../ring/types.js';
import type { PeerTlsOptions } from './tls.js';

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
  /** Ring preset. Default `'default'` (rendezvous); `'groupcache'` to join Go peers; `'maglev'` or `'bounded'` for O(1) lookups at thousands of peers. */
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
   * gets plain requests), and the removes, clears and tag invalidations made while one to that
   * peer is in flight as one batch of writes (`DELETE {basePath}`, numbered so the peer notices
   * writes it missed: docs/protocol.md). false: every get and write goes alone. Default true.
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
   * TLS between `https://` peers beyond Node's defaults: `ca` (the private CA the peers' server
   * certificates chain to), `cert` and `key` (the client certificate this peer presents: mutual
   * TLS), `servername`, and `requireClientCert` (refuse peer requests whose connection presented
   * no client certificate the app's HTTPS server verified). PEM text, not file names. See
   * docs/security.md#tls.
   */
  tls?: PeerTlsOptions;
  /**
   * Where warnings that name a fix go (a peer refusing our secret, a peer down, a rate limiter in
   * front of the peer route...): any object with `warn` (and optionally `error`, `info`,
   * `debug`), such as pino, winston or console. Default: the console. `false` silences geecache.
   */
  logger?: Logger | false;
}
