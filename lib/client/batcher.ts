// Which gets to one peer travel together: the two lanes of batched gets (gets someone waits for, and
// renewals of hot copies gathered longer), and the fallback to one GET per get for a peer that
// takes no batches.
import type { GetRequest, GetResponse } from '../cache/peers.js';
import { MAX_BATCH } from '../protocol/headers.js';
import { Coalescer } from './coalescer.js';

/**
 * How long renewals of hot copies (GetRequest.renew) are gathered before their batch leaves,
 * unless MAX_BATCH of them come first: nobody waits for them, and a renewal has half a copy's
 * life (15 s by default) before the copy runs out, so they travel in few, full batches.
 */
export const RENEW_BATCH_MS = 100;

/** One get of a batch: settled as its frame arrives. */
export interface Slot {
  resolve: (response: GetResponse | Promise<GetResponse>) => void;
  reject: (err: unknown) => void;
  settled: boolean;
}

/** How the batcher sends: the peer client's two kinds of get request. */
export interface BatchSender {
  /** One get as a plain `GET {basePath}{group}/{key}`. */
  one(request: GetRequest): Promise<GetResponse>;
  /**
   * One batch request: settles each slot as its result arrives. Resolves true when the peer does
   * not take batches (nothing is settled then), false when done; rejects when the exchange failed.
   */
  many(requests: GetRequest[], slots: Slot[]): Promise<boolean>;
}

/**
 * Gathers the gets bound for one peer into batch requests, when the peer understands them
 * (geecache peers do, and stream each get's result as it is ready; a Go peer refuses the first
 * batch, and from then on gets go one by one).
 */
export class Batcher {
  readonly #sender: BatchSender;
  readonly #gets: Coalescer<GetRequest, GetResponse> | undefined;
  /** The slow lane: renewals of hot copies, gathered for {@link RENEW_BATCH_MS} (their own batches, so they never delay a get). */
  readonly #renewals: Coalescer<GetRequest, GetResponse> | undefined;
  #refused = false;
  #closed = false;

  /** `batch` false: every get goes alone. */
  constructor(sender: BatchSender, batch: boolean) {
    this.#sender = sender;
    if (batch) {
      this.#gets = new Coalescer((requests) => this.#send(requests), MAX_BATCH);
      this.#renewals = new Coalescer((requests) => this.#send(requests), MAX_BATCH, RENEW_BATCH_MS);
    }
  }

  /** A get: in this turn's batch (a renewal in the slow lane's), or alone when the peer takes no batches. */
  get(request: GetRequest): Promise<GetResponse> {
    if (!this.#gets || this.#refused) return this.#sender.one(request);
    return request.renew && this.#renewals ? this.#renewals.add(request) : this.#gets.add(request);
  }

  /**
   * One get as a batch of one: for a key no URL path can carry. Rejects ("could not ask") when the
   * peer does not take batches.
   */
  alone(request: GetRequest, peer: string): Promise<GetResponse> {
    const cannot = () => new Error(`key ${JSON.stringify(request.key)} cannot travel in a URL path and peer ${peer} takes no batches; loading it locally`);
    if (this.#refused) return Promise.reject(cannot());
    return new Promise((resolve, reject) => {
      const slot: Slot = { resolve, reject, settled: false };
      this.#many([request], [slot]).then(
        (refused) => refused && settle(slot, () => Promise.reject(cannot())),
        (err) => settle(slot, () => Promise.reject(err)),
      );
    });
  }

  /** Sends what waits for a batch now, so no caller waits for a timer: once closed, each get goes (and fails) alone. */
  close(): void {
    this.#closed = true;
    this.#renewals?.flush();
  }

  /** One batch's worth of gets: a lone get goes as the plain GET every peer understands. */
  #send(requests: GetRequest[]): Promise<GetResponse>[] {
    if (this.#closed || requests.length === 1 || this.#refused) return requests.map((r) => this.#sender.one(r));
    const slots: Slot[] = [];
    const promises = requests.map(
      () =>
        new Promise<GetResponse>((resolve, reject) => {
          slots.push({ resolve, reject, settled: false });
        }),
    );
    this.#many(requests, slots).then(
      (refused) => {
        // Not a geecache peer: each get again, one by one.
        for (let i = 0; i < slots.length; i++) if (refused) settle(slots[i], () => this.#sender.one(requests[i]));
      },
      (err) => {
        for (const slot of slots) if (!slot.settled) settle(slot, () => Promise.reject(err));
      },
    );
    return promises;
  }

  async #many(requests: GetRequest[], slots: Slot[]): Promise<boolean> {
    const refused = await this.#sender.many(requests, slots);
    if (refused) this.#refused = true;
    return refused;
  }
}

/** Settles a batch slot once, with what `outcome` returns or throws. */
export function settle(slot: Slot, outcome: () => GetResponse | Promise<GetResponse>): void {
  if (slot.settled) return;
  slot.settled = true;
  try {
    slot.resolve(outcome());
  } catch (err) {
    slot.reject(err);
  }
}
