/**
 * consistenthash.ts is golang/groupcache's ring (ring: 'groupcache'), for clusters that include Go peers.
 */

import { crc32 } from 'node:zlib';
import { PeerListRing } from './peerlist.js';

/** A hash of a key's bytes to an unsigned 32-bit integer. */
export type HashFn = (data: Buffer) => number;

/** crc32 (IEEE), the hash golang/groupcache uses. */
export const crc32Hash: HashFn = (data) => crc32(data);

/**
 * golang/groupcache's consistenthash.Map: `replicas` virtual nodes per peer at
 * `hash(String(i) + peer)`, sorted; a key belongs to the first virtual node at or after
 * `hash(key)`, wrapping around. With the defaults (50 replicas, crc32) it picks the same owner
 * as a Go groupcache peer for every key, including which peer wins a hash collision (the one
 * added last, as in Go's map).
 */
export class ConsistentHashRing extends PeerListRing {
  readonly replicas: number;
  readonly #hash: HashFn;
  #points = new Uint32Array(0);
  #owners: string[] = [];

  constructor(replicas = 50, hash: HashFn = crc32Hash) {
    super();
    if (!Number.isInteger(replicas) || replicas < 1) throw new TypeError(`replicas must be a positive integer, got ${replicas}`);
    this.replicas = replicas;
    this.#hash = hash;
  }

  get(key: string): string | undefined {
    const points = this.#points;
    if (points.length === 0) return undefined;
    const h = this.#hash(Buffer.from(key, 'utf8')) >>> 0;
    // First point >= h (Go's sort.Search), wrapping to 0 past the end.
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === points.length ? 0 : lo];
  }

  protected rebuild(): void {
    // Go keeps a map hash -> peer, where the last peer added with a given hash wins.
    const ownerOf = new Map<number, string>();
    for (const peer of this.members) {
      for (let i = 0; i < this.replicas; i++) ownerOf.set(this.#hash(Buffer.from(String(i) + peer, 'utf8')) >>> 0, peer);
    }
    this.#points = Uint32Array.from(ownerOf.keys()).sort();
    this.#owners = Array.from(this.#points, (p) => ownerOf.get(p) as string); // every point came from ownerOf
  }
}
