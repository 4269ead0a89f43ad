/**
 * types.ts declares what a ring is to the rest of geecache — the {@link Ring} interface and the
 * {@link RingOption} that picks one — apart from the rings themselves, so that the rings, and
 * everything above that only names a ring, import this file and nothing else of ring/.
 */

/**
 * Assigns each key to one peer so that every node with the same peer list agrees on the
 * owner, and a membership change moves few keys.
 */
export interface Ring {
  /** Adds peers; a peer already present is ignored. */
  add(...peers: string[]): void;
  /** Removes peers; unknown peers are ignored. */
  remove(...peers: string[]): void;
  /** The peer that owns `key`, or undefined when the ring is empty. */
  get(key: string): string | undefined;
  /** The peers, in the order they were added. */
  peers(): string[];
}

/** Which consistent-hash ring assigns keys to peers. */
export type RingOption =
  /** Rendezvous hashing: even shares, minimal movement. Every peer must use it. */
  | 'default'
  /** golang/groupcache's ring (crc32, 50 replicas): agrees with Go groupcache peers on every key. */
  | 'groupcache'
  /** Maglev hashing: a lookup in O(1) at any size, but a change moves more keys than rendezvous (see MaglevRing). */
  | 'maglev'
  /** A bounded-load table: a lookup in O(1), every share ≤ 1.05× the mean, about the minimum moved on a change (see BoundedRing). */
  | 'bounded'
  /** Your own ring; every peer must build the same one. */
  | (() => Ring);
