/**
 * groupoptions.ts says what a group is made of — its getter and its options — and checks them:
 * the one place a group's options are checked and given their defaults, whether the group comes
 * from geecache()'s `groups` or from `new Group()`.
 */

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
