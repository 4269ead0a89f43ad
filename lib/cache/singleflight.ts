/**
 * singleflight.ts merges concurrent loads of one key into one (golang/groupcache's singleflight package).
 */

/**
 * Collapses concurrent calls for the same key into one.
 *
 * While a call for a key is in flight, later callers of {@link Flight.do} with that key wait
 * for its result instead of starting their own. Once it settles — fulfilled or rejected — the
 * key is forgotten, so the next call runs again: errors are shared, never remembered.
 */
export class Flight<T> {
  readonly #inFlight = new Map<string, Promise<T>>();

  /**
   * Runs `fn` for `key` unless a call for `key` is already running, in which case its promise
   * is returned.
   */
  do(key: string, fn: () => Promise<T> | T): Promise<T> {
    const running = this.#inFlight.get(key);
    if (running) return running;
    // Promise.resolve().then() also turns a synchronous throw into a rejection, so a throwing
    // loader cannot leave the key stuck in the map.
    const promise: Promise<T> = Promise.resolve()
      .then(fn)
      .finally(() => {
        // Only its own entry: after forget() the key may already belong to a newer call.
        if (this.#inFlight.get(key) === promise) this.#inFlight.delete(key);
      });
    this.#inFlight.set(key, promise);
    return promise;
  }

  /** True while a call for `key` is in flight. */
  has(key: string): boolean {
    return this.#inFlight.has(key);
  }

  /**
   * Detaches the call in flight for `key` (it still settles for those already waiting): the next
   * do() starts a new one. For a write that must not be answered by a load that began before it.
   */
  forget(key: string): void {
    this.#inFlight.delete(key);
  }

  /** {@link forget} for every key. */
  clear(): void {
    this.#inFlight.clear();
  }

  /** Number of keys with a call in flight. */
  get size(): number {
    return this.#inFlight.size;
  }
}
