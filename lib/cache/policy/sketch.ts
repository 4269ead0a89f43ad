/**
 * sketch.ts counts how often keys are asked for, in little memory: the frequency half of the
 * TinyLFU policy (cache/policy/tinylfu.ts). A 4-bit count-min sketch, as Caffeine's
 * FrequencySketch (Einziger, Friedman, Manes: "TinyLFU: A Highly Efficient Cache Admission
 * Policy", ACM ToS 2017): each key has 4 counters of 4 bits and its estimate is their minimum (at
 * most 15); its owner halves all counters periodically, so old popularity fades.
 *
 * Memory: SKETCH_BYTES_PER_ENTRY per entry the caches hold (at least 256 bytes; sized anew when the
 * entries outgrow it by a quarter), counted against maxBytes (CacheBudget). The 4 counters of a
 * key sit in one 64-byte block, so an update touches one cache line.
 */

/**
 * Bytes of counters per entry the caches hold: 16 counters of 4 bits, Caffeine's one 64-bit word
 * per entry (twice as many did no better on the traces of the hit-ratio row, and cost a cache of
 * small values a further 2% of its entries).
 */
export const SKETCH_BYTES_PER_ENTRY = 8;
/** The smallest sketch: 4 blocks of 64 bytes. */
const MIN_BLOCKS = 4;

/**
 * A 32-bit hash of `key` (murmur3's mixing over pairs of UTF-16 units), seeded per group so that
 * nobody outside can pick keys whose counters collide with another key's.
 */
export function hashKey(key: string, seed: number): number {
  let h = seed ^ key.length;
  const n = key.length - 1;
  let i = 0;
  for (; i < n; i += 2) {
    let k = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i === n) {
    let k = Math.imul(key.charCodeAt(i), 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A 4-bit count-min sketch over key hashes (see the file's opening). */
export class FrequencySketch {
  /** 8 counters of 4 bits per word; a block is 16 words (64 bytes), 4 per row. */
  #table: Uint32Array;
  #blocks: number;

  constructor(entries = 0) {
    this.#blocks = FrequencySketch.#blocksFor(entries);
    this.#table = new Uint32Array(this.#blocks * 16);
  }

  static #blocksFor(entries: number): number {
    return Math.max(MIN_BLOCKS, Math.ceil((entries * SKETCH_BYTES_PER_ENTRY) / 64));
  }

  /** Bytes of counters held. */
  get bytes(): number {
    return this.#table.byteLength;
  }

  /**
   * A sketch sized for `entries` entries held, when this one is a quarter too small or 4 times
   * too large; else undefined. It starts empty: the caller carries over the counts it still needs.
   */
  resized(entries: number): FrequencySketch | undefined {
    const blocks = FrequencySketch.#blocksFor(entries);
    if (blocks <= this.#blocks * 1.25 && blocks * 4 >= this.#blocks) return undefined;
    return new FrequencySketch(entries);
  }

  /** The first word of the block of hash `h` (the block picked by h's high bits, Lemire's range reduction). */
  #block(h: number): number {
    return Math.floor(((h >>> 0) * this.#blocks) / 4294967296) << 4;
  }

  /** The estimated number of recent accesses of the key with hash `h`, 0 to 15. */
  frequency(h: number): number {
    const table = this.#table;
    const block = this.#block(h);
    const c = counterHash(h);
    let min = 15;
    for (let row = 0; row < 4; row++) {
      const bits = c >>> (row << 3);
      const shift = ((bits >>> 2) & 7) << 2;
      const count = (table[block + (row << 2) + (bits & 3)] >>> shift) & 15;
      if (count < min) min = count;
    }
    return min;
  }

  /** Counts `n` accesses (default 1) of the key with hash `h`, each counter stopping at 15. */
  add(h: number, n = 1): void {
    if (n <= 0) return;
    const table = this.#table;
    const block = this.#block(h);
    const c = counterHash(h);
    for (let row = 0; row < 4; row++) {
      const bits = c >>> (row << 3);
      const shift = ((bits >>> 2) & 7) << 2;
      const at = block + (row << 2) + (bits & 3);
      const count = (table[at] >>> shift) & 15;
      const next = Math.min(15, count + n);
      if (next !== count) table[at] += (next - count) << shift;
    }
  }

  /** Halves every counter (TinyLFU's reset), so counts from long ago weigh half as much. */
  halve(): void {
    const table = this.#table;
    for (let i = 0; i < table.length; i++) table[i] = (table[i] >>> 1) & 0x77777777;
  }
}

/**
 * The bits choosing a key's counter in each row (2 bits: word of the row; 3 bits: counter in it),
 * mixed from all of `h`: keys of one block (the same high bits) differ there.
 */
function counterHash(h: number): number {
  let c = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  c ^= c >>> 15;
  c = Math.imul(c, 0x846ca68b);
  return c ^ (c >>> 16);
}
