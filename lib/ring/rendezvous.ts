/**
 * rendezvous.ts is geecache's default ring: rendezvous (highest-random-weight) hashing.
 */

import { hash } from 'node:crypto';
import { mix32, mixedCrc32 } from './keyhash.js';
import { PeerListRing } from './peerlist.js';

/** A peer's seed: the first 32 bits of SHA-256 of its URL. */
export const seedOf = (peer: string): number => Number.parseInt(hash('sha256', peer, 'hex').slice(0, 8), 16);

/**
 * geecache's default ring: rendezvous (highest-random-weight) hashing. Each peer scores every
 * key; the highest score owns it.
 *
 * Why not more virtual nodes: with V points per peer a peer's share of the circle varies by
 * about 1/sqrt(V), so even 1,000 points leave the busiest of 50 peers ~8% over its share, and
 * crc32 spreads its points worse than that. Rendezvous gives every peer exactly the same
 * expected share, and a joining peer takes keys only from the others' tails — 1/(N+1) of them,
 * the minimum. The price is O(peers) per lookup: a few integer multiplies each, ~1µs at 50 peers.
 */
export class RendezvousRing extends PeerListRing {
  readonly #hash: (key: string) => number;
  #seeds = new Uint32Array(0);

  constructor(hash: (key: string) => number = mixedCrc32) {
    super();
    this.#hash = hash;
  }

  get(key: string): string | undefined {
    const seeds = this.#seeds;
    const n = seeds.length;
    if (n === 0) return undefined;
    const h = this.#hash(key);
    let best = 0;
    let bestScore = mix32(h ^ seeds[0]);
    for (let i = 1; i < n; i++) {
      // mix32, inlined: this loop is the whole cost of a lookup.
      let s = h ^ seeds[i];
      s ^= s >>> 16;
      s = Math.imul(s, 0x85ebca6b);
      s ^= s >>> 13;
      s = Math.imul(s, 0xc2b2ae35);
      s = (s ^ (s >>> 16)) >>> 0;
      if (s > bestScore) {
        best = i;
        bestScore = s;
      } else if (s === bestScore && this.members[i] < this.members[best]) {
        // Ties (1 in 2^32) go to the lexically smaller peer, so every node decides the same.
        best = i;
      }
    }
    return this.members[best];
  }

  protected rebuild(): void {
    // A cryptographic hash, not crc32: crc32 is linear, so look-alike addresses collide more
    // often than chance, and two peers with equal seeds would tie on every key.
    this.#seeds = Uint32Array.from(this.members, seedOf);
  }
}
