/**
 * Gathers the requests made during one turn of the event loop and hands them over together.
 *
 * Gets bound for one peer that start in the same turn — the handlers of requests that arrived
 * together — become one batch request instead of one request each: node-fetch's per-request
 * cost, not the network, is what limits a peer client (see BENCHMARKS.md).
 */
export class Coalescer<Item, Result> {
  readonly #flush: (items: Item[]) => Promise<Result[]>;
  readonly #maxBatch: number;
  #pending: { item: Item; resolve: (r: Result) => void; reject: (e: unknown) => void }[] = [];

  /** `flush` answers a batch, one result per item in order; at most `maxBatch` items each. */
  constructor(flush: (items: Item[]) => Promise<Result[]>, maxBatch: number) {
    this.#flush = flush;
    this.#maxBatch = maxBatch;
  }

  /** Queues `item` for the batch sent at the end of this turn. */
  add(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => this.#send());
      this.#pending.push({ item, resolve, reject });
    });
  }

  #send(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (let i = 0; i < pending.length; i += this.#maxBatch) {
      const batch = pending.slice(i, i + this.#maxBatch);
      this.#flush(batch.map((p) => p.item)).then(
        (results) => batch.forEach((p, j) => p.resolve(results[j])),
        (err) => batch.forEach((p) => p.reject(err)),
      );
    }
  }
}
