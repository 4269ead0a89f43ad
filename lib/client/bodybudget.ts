/**
 * Bytes of peer responses being read right now, shared by every peer client of one geecache
 * instance: a response reserves its size (its Content-Length, or each frame's length as it
 * arrives) before it is read and gives it back when done. A response that does not fit fails at
 * once, as "could not ask" (the get loads locally): so N slow or hostile peers cannot make this
 * process hold N × maxResponseBytes, only `limit` in all.
 */
export class ByteBudget {
  /** Most bytes held at once. */
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /** Reserves `bytes` if they fit; false (reserving nothing) if not. */
  take(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  /** Gives back bytes reserved with take(). */
  give(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}
