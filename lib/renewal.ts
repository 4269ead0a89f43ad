/**
 * Renewal ahead of expiry for hot copies: a copy of a value another peer owns lives at most
 * `hotTtlMs` (the staleness bound for non-owners, {@link Freshness.copyTtl}); a key read past
 * the middle of its copy's life is fetched again from its owner in the background, so a key
 * that is read keeps being answered from this process instead of being refetched on the request
 * path each time its copy runs out. The renewed value is a new fetch with a new `hotTtlMs`, so
 * no copy is ever served longer than `hotTtlMs` after its owner sent it.
 */
import { ByteView } from './byteview.js';

/**
 * Share of a copy's life after which a read renews it. Half: the renewal then has the other half
 * (2.5 s by default) to cross a slow-lane batch and a busy owner before the copy runs out, and a
 * key read at least once per `hotTtlMs / 2` is never missed; a key read all the time costs its
 * owner one get per `hotTtlMs / 2`, in big batches. Later (say 0.9) would save renewals of keys
 * read all the time but miss every key read less often than once per `hotTtlMs / 10`.
 */
export const RENEW_AFTER = 0.5;

/** Most keys being renewed at once; past it, a copy due for renewal just expires as it would without. */
export const MAX_RENEWALS = 10_000;

/**
 * A value fetched from its owner, as kept in the hot cache: a ByteView that also knows when a
 * read should renew it. The hot path compares `renewAt` with the group's coarse clock and nothing
 * else, so it is a field on the value itself: no lookup, no allocation per hit.
 */
export class HotCopy extends ByteView {
  /**
   * Date.now() after which a read of this copy starts its renewal; Infinity while it is not to
   * be renewed (not kept yet, its renewal started already, or it ends with the value's own expiry).
   */
  renewAt = Number.POSITIVE_INFINITY;

  /** A value as its owner sent it: `bytes` are the response's, kept without a copy when they fill their buffer. */
  constructor(bytes: Uint8Array, expiresAt: number | undefined) {
    super(bytes, false, expiresAt);
  }

  /**
   * Sets when a read should renew this copy, now that it is kept for `ttlMs` (from
   * Freshness.copyTtl) under a cap of `hotTtlMs`: halfway through, when the cap is what ends it.
   * A copy ended by the value's own expiry is not renewed: its owner would answer the same value
   * with the same expiry (after the expiry, the next get fetches the refreshed one).
   */
  keptFor(ttlMs: number | undefined, hotTtlMs: number, now: number): void {
    this.renewAt = ttlMs !== undefined && hotTtlMs > 0 && ttlMs >= hotTtlMs ? now + ttlMs * RENEW_AFTER : Number.POSITIVE_INFINITY;
  }
}

/** The keys being renewed now, so each is renewed once at a time, and at most {@link MAX_RENEWALS} at once. */
export class Renewals {
  readonly #running = new Set<string>();
  readonly #limit: number;

  constructor(limit = MAX_RENEWALS) {
    this.#limit = limit;
  }

  /** True when a renewal of `key` may start (the caller then calls end()); false when one runs or too many do. */
  begin(key: string): boolean {
    if (this.#running.size >= this.#limit || this.#running.has(key)) return false;
    this.#running.add(key);
    return true;
  }

  end(key: string): void {
    this.#running.delete(key);
  }

  /** Keys being renewed now. */
  get size(): number {
    return this.#running.size;
  }
}
