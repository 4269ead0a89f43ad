/**
 * appqueue.ts keeps peer requests from waiting behind a burst of the app's own requests on the
 * server they share.
 */

import { AsyncResource } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Most time a turn of the event loop spends in the app's handlers before the app requests it reads wait in order (see AppQueue). */
const SLICE_MS = 5;

/** An app request waiting for its turn, and the async context it arrived in. */
interface Queued {
  readonly context: AsyncResource;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
}

/**
 * Keeps peer requests — gets for keys this peer owns, and the liveness probes other peers send
 * when a get takes long — from waiting behind a burst of app requests.
 *
 * Node reads ready sockets in the order the kernel reports them, and runs each request's handler
 * as it reads it: after 10,000 concurrent app requests arrived, a peer's probe was read only once
 * every handler before it had run — seconds on a loaded machine, so the asking peer took this one
 * for down and loaded the key itself. Here, once the app's handlers took {@link SLICE_MS} in one
 * turn of the event loop, the app requests read after that are only queued (cheap), so the turn
 * reaches the peer requests behind them and answers those at once; the queue is then handed to
 * the app in order, about {@link SLICE_MS} of it per turn, with sockets read in between. App
 * requests that are not a burst go to the app at once, as before; none is dropped or reordered.
 */
export class AppQueue {
  readonly #app: (req: IncomingMessage, res: ServerResponse) => void;
  /** Queued app requests, each with the async context it arrived in (see admit). */
  #queue: (Queued | undefined)[] = [];
  #head = 0;
  /** Milliseconds spent in the app's handlers in this turn (reset when the turn ends). */
  #thisTurn = 0;
  #scheduled = false;

  constructor(app: (req: IncomingMessage, res: ServerResponse) => void) {
    this.#app = app;
  }

  /** App requests waiting for their turn. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /** Hands `req` to the app now, or after the requests queued before it. */
  admit(req: IncomingMessage, res: ServerResponse): void {
    this.#schedule();
    if (this.#head === this.#queue.length && this.#thisTurn < SLICE_MS) {
      const start = performance.now();
      try {
        this.#app(req, res);
      } finally {
        this.#thisTurn += performance.now() - start;
      }
    } else {
      // With this request's async context: run later from the queue, its handler would otherwise
      // see the context of whichever request scheduled the turn (AsyncLocalStorage, tracing spans
      // started around the server's 'request' event). An AsyncResource, not AsyncResource.bind:
      // bind cost ~100 µs per request on Node 20 (measured), which the burst this queue exists
      // for would pay on the very turn that must reach the peer requests quickly; this ~1-5 µs.
      this.#queue.push({ context: new AsyncResource('geecache.AppQueue'), req, res });
    }
  }

  /** Ends the turn after the event loop's poll phase (setImmediate): resets the time spent, runs a slice of the queue. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#turn);
  }

  readonly #turn = (): void => {
    this.#scheduled = false;
    this.#thisTurn = 0;
    const until = performance.now() + SLICE_MS;
    try {
      while (this.#head < this.#queue.length) {
        const next = this.#queue[this.#head] as Queued;
        this.#queue[this.#head++] = undefined;
        next.context.runInAsyncScope(this.#app, undefined, next.req, next.res);
        if (performance.now() >= until) break;
      }
    } finally {
      // A handler that throws crashes the process as it would have unqueued; the rest still get their turn.
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      } else this.#schedule();
    }
  };
}
