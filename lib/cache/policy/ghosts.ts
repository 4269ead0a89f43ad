/**
 * ghosts.ts remembers the hashes of the last keys a cache let go, without their values: the
 * evidence cache/policy/tinylfu.ts sizes its window by. A ring of the last hashes in the order
 * they came, and an open-addressing set of the same hashes (linear probing, deletion by backward
 * shift), both typed arrays: remembering, forgetting and asking cost a few array reads and no
 * allocation, and a remembered hash costs GHOST_ENTRY_BYTES.
 */

/** Bytes per remembered hash: its ring slot (4) and two set slots (8: the set stays at most half full). */
export const GHOST_ENTRY_BYTES = 12;

/** 0 marks an empty set slot: hash 0 is kept as 1 (a ghost hit on the key of hash 1 is a false one, rarely). */
const nonZero = (h: number) => h | (h === 0 ? 1 : 0);

/**
 * The last hashes remembered, as many as the largest capacity asked for (a hash remembered twice
 * is kept once, and forgotten when its older ring slot comes round: rarely early).
 */
export class GhostList {
  #ring = new Int32Array(8);
  #next = 0;
  #set = new Int32Array(16);
  #mask = 15;
  #size = 0;

  /** Hashes remembered now. */
  get size(): number {
    return this.#size;
  }

  /** Bytes the list takes (its arrays: they never shrink). */
  get bytes(): number {
    return this.#ring.byteLength + this.#set.byteLength;
  }

  /** Remembers `h`, forgetting the oldest beyond the largest `capacity` asked for so far; returns the bytes the list grew by. */
  remember(h: number, capacity: number): number {
    let grew = 0;
    if (capacity > this.#ring.length) {
      const before = this.bytes;
      this.#grow(capacity);
      grew = this.bytes - before;
    }
    const key = nonZero(h);
    const old = this.#ring[this.#next];
    if (old !== 0) this.forget(old);
    this.#ring[this.#next] = key;
    this.#next = (this.#next + 1) % this.#ring.length;
    let i = this.#slot(key);
    const set = this.#set;
    while (set[i] !== 0) {
      if (set[i] === key) return grew;
      i = (i + 1) & this.#mask;
    }
    set[i] = key;
    this.#size++;
    return grew;
  }

  /** Forgets `h`; true if it was remembered. */
  forget(h: number): boolean {
    const key = nonZero(h);
    const set = this.#set;
    const mask = this.#mask;
    let i = this.#slot(key);
    while (set[i] !== key) {
      if (set[i] === 0) return false;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: move later entries of the run into the hole when their home allows.
    let hole = i;
    for (let j = (i + 1) & mask; set[j] !== 0; j = (j + 1) & mask) {
      const home = this.#slot(set[j]);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        set[hole] = set[j];
        hole = j;
      }
    }
    set[hole] = 0;
    this.#size--;
    return true;
  }

  /** Forgets everything. */
  clear(): void {
    this.#ring.fill(0);
    this.#set.fill(0);
    this.#size = 0;
  }

  #slot(key: number): number {
    return (Math.imul(key, 0x9e3779b1) >>> 0) & this.#mask;
  }

  /** A ring of `capacity` (the hashes kept, oldest first) and a set at most half full. */
  #grow(capacity: number): void {
    const size = Math.max(capacity, Math.ceil(this.#ring.length * 1.25));
    const ring = new Int32Array(size);
    const old = this.#ring;
    for (let i = 0; i < old.length; i++) ring[i] = old[(this.#next + i) % old.length];
    this.#ring = ring;
    this.#next = old.length;
    let slots = this.#set.length;
    while (slots < 2 * size) slots *= 2;
    if (slots !== this.#set.length) {
      const set = this.#set;
      this.#set = new Int32Array(slots);
      this.#mask = slots - 1;
      this.#size = 0;
      for (const key of set) {
        if (key === 0) continue;
        let i = this.#slot(key);
        while (this.#set[i] !== 0) i = (i + 1) & this.#mask;
        this.#set[i] = key;
        this.#size++;
      }
    }
  }
}
