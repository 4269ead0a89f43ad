/**
 * maglev.ts is the opt-in table ring (ring: 'maglev'): Google's Maglev hashing, a lookup in O(1)
 * whatever the number of peers, paid for with more keys moved on a change than rendezvous.
 */

import { hash } from 'node:crypto';
import { mixedCrc32 } from './keyhash.js';
import { PeerListRing } from './peerlist.js';

/** The default table size: a prime, over 100 slots per peer up to 1,310 peers (256 KiB). */
export const MAGLEV_TABLE_SIZE = 131_071;

function isPrime(n: number): boolean {
  if (n < 2 || n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * Maglev hashing (Eisenbud et al., NSDI 2016): a table of `tableSize` slots (a prime), filled in
 * turns — each peer, in sorted order, takes the next free slot of its own permutation of the
 * table (an offset and a step from SHA-256 of its URL) — until every slot has an owner. A key
 * belongs to the owner of slot `hash(key) mod tableSize`: one array read, at 3 peers or 10,000.
 * Every peer's share is within one slot of the mean (busiest ≤ 1 + N/tableSize of the mean).
 *
 * The price, measured (bench row `scale`): a join or leave moves more than the minimum 1/N of
 * the keys — the newcomer's slots are taken from the others' permutations, which then shift —
 * about 7× the minimum at 1,000 peers with 131,071 slots, 3× with 1,000 slots per peer.
 * Rendezvous (the default) moves exactly the minimum, so for a cache, where every moved key is
 * a reload, it stays the default; choose this ring when lookups dominate (thousands of peers).
 * The table is rebuilt whole on every change: ~10 ms per 100,000 slots.
 */
export class MaglevRing extends PeerListRing {
  readonly tableSize: number;
  readonly #hash: (key: string) => number;
  /** Slot -> index in #owners. */
  #table: Uint16Array | Uint32Array = new Uint16Array(0);
  /** The members, sorted: the fill order, so that the order peers were added in does not matter. */
  #owners: string[] = [];

  constructor(options: { tableSize?: number; hash?: (key: string) => number } = {}) {
    super();
    const { tableSize = MAGLEV_TABLE_SIZE, hash: keyHash = mixedCrc32 } = options;
    if (!Number.isInteger(tableSize) || tableSize < 3 || tableSize > 0x7fffffff || !isPrime(tableSize)) {
      throw new TypeError(`tableSize must be a prime from 3 to 2^31 - 1, got ${tableSize} (try ${MAGLEV_TABLE_SIZE})`);
    }
    this.tableSize = tableSize;
    this.#hash = keyHash;
  }

  get(key: string): string | undefined {
    if (this.#owners.length === 0) return undefined;
    return this.#owners[this.#table[this.#hash(key) % this.tableSize]];
  }

  protected rebuild(): void {
    const owners = [...this.members].sort();
    const n = owners.length;
    const m = this.tableSize;
    if (n > m) throw new RangeError(`a Maglev table of ${m} slots cannot hold ${n} peers: give it a larger tableSize`);
    this.#owners = owners;
    if (n === 0) {
      this.#table = new Uint16Array(0);
      return;
    }
    const offset = new Uint32Array(n);
    const step = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const digest = hash('sha256', owners[i], 'hex');
      offset[i] = Number.parseInt(digest.slice(0, 8), 16) % m;
      step[i] = (Number.parseInt(digest.slice(8, 16), 16) % (m - 1)) + 1;
    }
    const table = n <= 0xffff ? new Uint16Array(m) : new Uint32Array(m);
    // Slot taken: a bitmap beside the table (0 is a valid owner index).
    const taken = new Uint8Array(m);
    // Each peer's next position in its permutation, kept as the slot itself: slot += step (mod m).
    const next = Uint32Array.from(offset);
    let filled = 0;
    for (;;) {
      for (let i = 0; i < n; i++) {
        let slot = next[i];
        const s = step[i];
        while (taken[slot] === 1) {
          slot += s;
          if (slot >= m) slot -= m;
        }
        taken[slot] = 1;
        table[slot] = i;
        slot += s;
        next[i] = slot >= m ? slot - m : slot;
        if (++filled === m) {
          this.#table = table;
          return;
        }
      }
    }
  }
}
