/**
 * defaults.ts is the one table of geecache's defaults: of the middleware's options, of each
 * group's, and of a discovery source's. The README's option tables are this one. It sits in
 * common/ because three layers read it: config/ (the options), cache/ (a group's) and cluster/
 * (discovery's).
 */

export const DEFAULTS = Object.freeze({
  basePath: '/_geecache/',
  ring: 'default',
  timeoutMs: 2_000,
  maxResponseBytes: 64 << 20,
  backoffMs: 5_000,
  maxSockets: 32,
  batch: true,
  fastPath: true,
  handoffMs: 60_000,
  drainOnSigterm: false,
  transport: 'node-fetch',
  group: Object.freeze({
    loadTimeoutMs: 30_000,
    maxKeyLength: 1024,
    hotCacheFraction: 1 / 8,
    /** 0: values never expire (groupcache's immutable model). */
    ttlMs: 0,
    ttlJitter: 0,
    /** 0: an expired value is never served. */
    staleMs: 0,
    /**
     * Copies of other peers' values (and values loaded here because the owner could not be asked)
     * live at most this long: the bound on a peer that missed a remove. 30 s, not 5: copies that
     * are read are renewed every hotTtlMs / 2 anyway, and at 5 s a front with 10,000 uniform keys
     * spent 13.6% of its CPU on renewals and on refetching copies that expired unread, and ran
     * at 0.81-0.88× of an Express + Redis front; at 30 s, 1.17× (BENCHMARKS.md, vs-redis).
     */
    hotTtlMs: 30_000,
    /** 0: NotFoundError is not cached. */
    notFoundTtlMs: 0,
    /** W-TinyLFU with an adaptive window (cache/policy/tinylfu.ts): never below LRU on the traces of BENCHMARKS.md, hit-ratio. */
    policy: 'adaptive',
  }),
  /** A discovery source's (option `peers` given as `{ dns }`, `{ srv }` or `{ discover }`). */
  discovery: Object.freeze({ intervalMs: 10_000, family: 4, protocol: 'http' }),
});
