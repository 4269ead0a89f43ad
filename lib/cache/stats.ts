/**
 * stats.ts holds a group's counters, counted as golang/groupcache counts them.
 */

/** A group's counters, counted as golang/groupcache counts them. */
export interface GroupStats {
  /** Every get, including those answered for peers. */
  gets: number;
  /** Gets answered from this process's cache. */
  cacheHits: number;
  /** Values fetched from the owner peer. */
  peerLoads: number;
  /** Failed fetches from a peer (the group then loads locally, unless the owner's getter failed). */
  peerErrors: number;
  /** Gets that missed the cache (before deduplication). */
  loads: number;
  /** Loads left after concurrent gets of one key were merged. */
  loadsDeduped: number;
  /** Successful runs of the getter. */
  localLoads: number;
  /** Failed runs of the getter. */
  localLoadErrs: number;
  /** Requests from other peers served by this process. */
  serverRequests: number;
  /** Hot copies fetched again from their owner ahead of expiry, off the request path (lib/cache/renewal.ts). */
  hotRenewals: number;
  /**
   * Times another peer's writes to this one had a gap (it dropped writes meant for this one:
   * server/sequences.ts), each dropping every value this group held here.
   */
  writeGaps: number;
}

/** A zeroed {@link GroupStats}. */
export function emptyStats(): GroupStats {
  return {
    gets: 0,
    cacheHits: 0,
    peerLoads: 0,
    peerErrors: 0,
    loads: 0,
    loadsDeduped: 0,
    localLoads: 0,
    localLoadErrs: 0,
    serverRequests: 0,
    hotRenewals: 0,
    writeGaps: 0,
  };
}
