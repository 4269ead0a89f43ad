/**
 * Gathers the requests made during one turn of the event loop and hands them over together.
 *
 * Gets bound for one peer that start in the same turn — the handlers of requests that arrived
 * together — become one batch request instead of one request each: node-fetch's per-request
 * cost, not the network, is what limits a peer client (see BENCHMARKS.md).
 */
export class Coalescer<Item, Result> {
  readonly #send: (items: Item[]) => Promise<Result>[];
  readonly #maxBatch: number;
  #pending: { item: Item; resolve: (r: Promise<Result>) => void }[] = [];

  /**
   * `send` starts the requests for a batch of at most `maxBatch` items and returns one promise per
   * item, in order: each caller then settles with its own item's outcome, as soon as it is known.
   */
  constructor(send: (items: Item[]) => Promise<Result>[], maxBatch: number) {
    this.#send = send;
    this.#maxBatch = maxBatch;
  }

  /** Queues `item` for the batch sent at the end of this turn. */
  add(item: Item): Promise<Result> {
    return new Promise((resolve) => {
      if (this.#pending.length === 0) setImmediate(() => this.#flush());
      this.#pending.push({ item, resolve });
    });
  }

  #flush(): void {
    const pending = this.#pending;
    this.#pending = [];
    for (let i = 0; i < pending.length; i += this.#maxBatch) {
      const batch = pending.slice(i, i + this.#maxBatch);
      let outcomes: Promise<Result>[];
      try {
        outcomes = this.#send(batch.map((p) => p.item));
      } catch (err) {
        outcomes = batch.map(() => Promise.reject(err));
      }
      for (let j = 0; j < batch.length; j++) batch[j].resolve(outcomes[j]);
    }
  }
}
