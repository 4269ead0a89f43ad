/**
 * rendezvous.ts is geecache's default ring: rendezvous (highest-random-weight) hashing.
 */

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { PeerListRing } from './peerlist.js';

/** murmur3's 32-bit finalizer: a bijection that spreads every input bit over the output. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The default key hash: crc32 (native, fast) then mixed, so that similar keys score unalike. */
export const mixedCrc32 = (key: string): number => mix32(crc32(key));

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
    const h = this.#hash(key);
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < this.#seeds.length; i++) {
      const score = mix32(h ^ this.#seeds[i]);
      // Ties (1 in 2^32) go to the lexically smaller peer, so every node decides the same.
      if (score > bestScore || (score === bestScore && this.members[i] < this.members[best])) {
        best = i;
        bestScore = score;
      }
    }
    return best < 0 ? undefined : this.members[best];
  }

  protected rebuild(): void {
    // A cryptographic hash, not crc32: crc32 is linear, so look-alike addresses collide more
    // often than chance, and two peers with equal seeds would tie on every key.
    this.#seeds = Uint32Array.from(this.members, (p) => createHash('sha256').update(p).digest().readUInt32BE(0));
  }
}
