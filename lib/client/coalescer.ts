/**
 * Gathers requests and hands them over together, as batches of at most `maxBatch`.
 *
 * Gets bound for one peer that start in the same turn — the handlers of requests that arrived
 * together — become one batch request instead of one request each: node-fetch's per-request
 * cost, not the network, is what limits a peer client (see BENCHMARKS.md). Work nobody waits for
 * (renewals of hot copies) can be gathered longer, `delayMs`, for batches fuller still: a batch
 * then leaves after `delayMs` or as soon as it holds `maxBatch` items, whichever comes first.
 */
export class Coalescer<Item, Result> {
  readonly #send: (items: Item[]) => Promise<Result>[];
  readonly #maxBatch: number;
  readonly #delayMs: number;
  #pending: { item: Item; resolve: (r: Promise<Result>) => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  /**
   * `send` starts the requests for a batch of at most `maxBatch` items and returns one promise per
   * item, in order: each caller then settles with its own item's outcome, as soon as it is known.
   * `delayMs` 0: a batch leaves at the end of the turn its first item came in.
   */
  constructor(send: (items: Item[]) => Promise<Result>[], maxBatch: number, delayMs = 0) {
    this.#send = send;
    this.#maxBatch = maxBatch;
    this.#delayMs = delayMs;
  }

  /** Queues `item` for the next batch: sent at the end of this turn, or with a delay, after it or once full. */
  add(item: Item): Promise<Result> {
    return new Promise((resolve) => {
      if (this.#pending.length === 0) {
        if (this.#delayMs === 0) setImmediate(() => this.flush());
        else {
          // Unref'd: work nobody waits for must not keep the process alive.
          this.#timer = setTimeout(() => this.flush(), this.#delayMs);
          this.#timer.unref();
        }
      }
      this.#pending.push({ item, resolve });
      if (this.#delayMs > 0 && this.#pending.length >= this.#maxBatch) this.flush();
    });
  }

  /** Sends what is queued now (also on close, so no caller is left waiting for a timer). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
