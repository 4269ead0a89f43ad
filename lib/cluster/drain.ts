/**
 * drain.ts is how a peer leaves the cluster gracefully: new peer gets are answered "leaving" while those
 * in flight finish; and the SIGTERM hook that starts it.
 */

import type { Logger } from '../common/logger.js';

/**
 * A peer leaving the cluster, gracefully: once {@link start}ed, the peer server answers new peer
 * gets with a "leaving" status (askers go to the next owner or load locally at once, with no
 * timeout and no backoff), while the gets already in flight finish. {@link start} resolves when
 * none is left (or after `timeoutMs`, for a get stuck in a slow getter).
 */
export class Drain {
  #inFlight = 0;
  #leaving = false;
  #idle: (() => void) | undefined;

  /** True once leaving: new peer gets are refused with the leaving status. */
  get leaving(): boolean {
    return this.#leaving;
  }

  /** Peer requests being answered now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** A peer request started; call {@link leave} when its answer is sent. */
  enter(): void {
    this.#inFlight++;
  }

  leave(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#idle?.();
  }

  /** Starts leaving; resolves once no peer request is in flight, or after `timeoutMs`. Idempotent. */
  start(timeoutMs: number): Promise<void> {
    this.#leaving = true;
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      const previous = this.#idle;
      function done() {
        clearTimeout(timer);
        previous?.();
        resolve();
      }
      this.#idle = done;
    });
  }
}

/**
 * Runs `close` on the first SIGTERM, then lets the signal do what it would have done: with no
 * other listener, Node's default (exit), so a container stops once the drain is over. Returns a
 * function that removes the hook (close() calls it).
 */
export function drainOnSigterm(close: () => Promise<void>, logger: Logger): () => void {
  const onSignal = () => {
    process.removeListener('SIGTERM', onSignal);
    logger.info?.('geecache: SIGTERM: leaving the cluster (peers go to the next owner), finishing peer requests in flight');
    close().then(
      () => {
        // Re-raised with our listener gone: the other listeners, or the default exit, take over.
        if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
      },
      (err: unknown) => {
        logger.warn(`geecache: drain on SIGTERM failed: ${(err as Error)?.message ?? err}; exiting anyway`);
        if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
      },
    );
  };
  process.on('SIGTERM', onSignal);
  return () => process.removeListener('SIGTERM', onSignal);
}
