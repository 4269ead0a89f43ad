/**
 * bounded.ts is the opt-in bounded-load table ring (ring: 'bounded'): a lookup is one array read
 * at any size, no peer holds more than 1.05× the mean share of the key space, and a peer joining
 * or leaving moves about the minimum 1/N of the keys.
 *
 * What it computes. A table of 2^20 slots; a key belongs to the owner of slot
 * `hash(key) >>> 12`. Each peer walks its own permutation of the slots (an odd step from an
 * offset, mod 2^20: every slot once) and each slot ranks the peers by the step at which they
 * reach it. The table is the unique stable matching of slots and peers under those ranks, each
 * peer holding at most `cap` = ⌊1.05 · slots/N⌋ slots: go through the pairs in order of rank
 * (ties: the peer whose seed sorts first) and give the slot to the peer when the slot is free and
 * the peer below its cap. It is a pure function of the member set — the ranks and the tie order
 * come from SHA-256 of each URL, never from the order peers were added in.
 *
 * Why it balances: by construction, no peer holds more than `cap` slots. Without the cap each
 * peer would get about slots/N ± √(slots/2N) (each step a peer takes succeeds with the same
 * chance for every peer), so at 1,000 peers (1,048 slots each, σ ≈ 2.2%) only ~1% of peers
 * reach the cap.
 *
 * Why it moves few keys: a peer that joins takes the slots it reaches before their owner did;
 * the owner of such a slot just has one slot fewer, and nothing else changes for it — unless it
 * was at its cap, in which case it now takes the next free slot it reaches (a short chain,
 * through the ~1% capped peers). A leave is the mirror. Measured over every slot
 * (bench rows `ring`, `scale`): 0.96-1.04× the minimum at 1,000 peers.
 *
 * How it is built fast: the pairs are enumerated round by round (every peer with room takes one
 * step, skipping taken slots), a bitset marking taken slots; once no more than slots/N slots are
 * free, each free slot finds its best remaining peer directly, by inverting each peer's
 * permutation (rank = (slot − offset) · step⁻¹ mod 2^20), and the same order is kept — a heap —
 * only when a peer could reach its cap there. ~30-40 ms of CPU per build from 10 to 1,000
 * peers (93 ms at 10,000).
 */

import { hash } from 'node:crypto';
import { mixedCrc32 } from './keyhash.js';
import { PeerListRing } from './peerlist.js';

/** The default table: 2^20 slots (2 MiB: ~2 KiB per peer at 1,000 peers). */
export const BOUNDED_TABLE_SIZE = 1 << 20;
/** The default slack: no peer holds more than 1.05× the mean share. */
export const BOUNDED_SLACK = 0.05;

/** The inverse of an odd `a` modulo 2^32 (Newton's iteration: each step doubles the bits). */
function inverseOdd(a: number): number {
  let x = a;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x));
  return x;
}

/** A peer's walk through the slots: where it starts, its step, and its place in the tie order. */
interface Walk {
  peer: string;
  order: number;
  offset: number;
  step: number;
}

/**
 * The bounded-load table ring: O(1) lookups, every share ≤ (1 + slack) × the mean, about the
 * minimum moved on a change (see the file's opening comment for the construction and why).
 */
export class BoundedRing extends PeerListRing {
  readonly tableSize: number;
  readonly slack: number;
  readonly #shift: number;
  readonly #hash: (key: string) => number;
  /** Slot -> index in #owners. */
  #table: Uint16Array | Uint32Array = new Uint16Array(0);
  /** The members in tie order (by seed, then URL). */
  #owners: string[] = [];

  constructor(options: { tableSize?: number; slack?: number; hash?: (key: string) => number } = {}) {
    super();
    const { tableSize = BOUNDED_TABLE_SIZE, slack = BOUNDED_SLACK, hash: keyHash = mixedCrc32 } = options;
    if (!Number.isInteger(tableSize) || tableSize < 16 || tableSize > 1 << 26 || (tableSize & (tableSize - 1)) !== 0) {
      throw new TypeError(`tableSize must be a power of two from 16 to 2^26, got ${tableSize} (try ${BOUNDED_TABLE_SIZE})`);
    }
    if (typeof slack !== 'number' || !(slack > 0 && slack <= 1)) {
      throw new TypeError(`slack must be a number above 0 and at most 1, got ${slack} (try ${BOUNDED_SLACK})`);
    }
    this.tableSize = tableSize;
    this.slack = slack;
    this.#shift = 32 - Math.log2(tableSize);
    this.#hash = keyHash;
  }

  get(key: string): string | undefined {
    if (this.#owners.length === 0) return undefined;
    return this.#owners[this.#table[this.#hash(key) >>> this.#shift]];
  }

  /** The most slots a peer may hold among `n` peers. */
  capFor(n: number): number {
    const b = this.tableSize;
    return Math.max(Math.ceil(b / n), Math.floor((b * (1 + this.slack)) / n));
  }

  protected rebuild(): void {
    const b = this.tableSize;
    const n = this.members.length;
    if (n > b) throw new RangeError(`a table of ${b} slots cannot hold ${n} peers: give it a larger tableSize`);
    const mask = b - 1;
    const walks: Walk[] = this.members.map((peer) => {
      const d = hash('sha256', peer, 'buffer');
      return { peer, order: d.readUInt32BE(0), offset: d.readUInt32BE(4) & mask, step: (d.readUInt32BE(8) & mask) | 1 };
    });
    walks.sort((x, y) => x.order - y.order || (x.peer < y.peer ? -1 : x.peer > y.peer ? 1 : 0));
    this.#owners = walks.map((w) => w.peer);
    this.#table = n === 0 ? new Uint16Array(0) : fill(walks, b, this.capFor(n));
  }
}

/** The stable matching of `b` slots and the walks (in tie order), each walk holding ≤ cap slots. */
function fill(walks: Walk[], b: number, cap: number): Uint16Array | Uint32Array {
  const n = walks.length;
  const mask = b - 1;
  const table = n <= 0x10000 ? new Uint16Array(b) : new Uint32Array(b);
  const taken = new Int32Array(Math.max(1, b >>> 5));
  const count = new Uint32Array(n);
  // The walks with room, in tie order: their index, next slot and step (compacted as they fill).
  const id = Int32Array.from(walks, (_, i) => i);
  const next = Int32Array.from(walks, (w) => w.offset);
  const step = Int32Array.from(walks, (w) => w.step);
  let live = n;
  let free = b;
  const switchAt = Math.ceil(b / n);
  while (free > switchAt) {
    let full = false;
    for (let j = 0; j < live; j++) {
      const s = next[j];
      next[j] = (s + step[j]) & mask;
      const bit = 1 << (s & 31);
      if ((taken[s >>> 5] & bit) !== 0) continue;
      taken[s >>> 5] |= bit;
      const i = id[j];
      table[s] = i;
      free--;
      if (++count[i] === cap) full = true;
    }
    if (full) live = compact(id, [next, step], live, (i) => count[i] < cap);
  }
  // The free slots; for each, its best walk with room: the least rank, ties to the first in order.
  const inv = Int32Array.from(id.subarray(0, live), (i) => inverseOdd(walks[i].step));
  const offset = Int32Array.from(id.subarray(0, live), (i) => walks[i].offset);
  const slots = new Int32Array(free);
  for (let w = 0, f = 0; f < free; w++) {
    for (let x = ~taken[w]; x !== 0; x &= x - 1) slots[f++] = (w << 5) | (31 - Math.clz32(x & -x));
  }
  /** The pair (rank, walk) as one number that orders pairs as the rounds do. */
  const best = (s: number): number => {
    let rank = b;
    let at = 0;
    for (let j = 0; j < live; j++) {
      const r = Math.imul(s - offset[j], inv[j]) & mask;
      if (r < rank) {
        rank = r;
        at = j;
      }
    }
    return rank * n + id[at];
  };
  const keys = Float64Array.from(slots, best);
  const wanted = new Uint32Array(n);
  let binds = false;
  for (const k of keys) if (count[k % n] + ++wanted[k % n] > cap) binds = true;
  if (!binds) {
    // No walk reaches its cap: every free slot goes to its best walk, whatever the order.
    for (let t = 0; t < free; t++) table[slots[t]] = keys[t] % n;
    return table;
  }
  // Some walk would reach its cap: take the pairs in order (a heap), and a slot whose best walk
  // has filled meanwhile looks for its next best.
  const heap = Int32Array.from(slots, (_, t) => t);
  let size = free;
  const down = (c: number): void => {
    const t = heap[c];
    for (;;) {
      let l = 2 * c + 1;
      if (l >= size) break;
      if (l + 1 < size && keys[heap[l + 1]] < keys[heap[l]]) l++;
      if (keys[heap[l]] >= keys[t]) break;
      heap[c] = heap[l];
      c = l;
    }
    heap[c] = t;
  };
  for (let c = (size >> 1) - 1; c >= 0; c--) down(c);
  while (size > 0) {
    const t = heap[0];
    const i = keys[t] % n;
    if (count[i] < cap) {
      table[slots[t]] = i;
      if (++count[i] === cap) live = compact(id, [offset, inv], live, (k) => k !== i);
      heap[0] = heap[--size];
    } else {
      keys[t] = best(slots[t]);
    }
    if (size > 0) down(0);
  }
  return table;
}

/** Keeps, in order, the first `live` entries of `id` (and the same of `columns`) that `keep`; returns how many. */
function compact(id: Int32Array, columns: Int32Array[], live: number, keep: (i: number) => boolean): number {
  let k = 0;
  for (let j = 0; j < live; j++) {
    if (!keep(id[j])) continue;
    id[k] = id[j];
    for (const c of columns) c[k] = c[j];
    k++;
  }
  return k;
}
