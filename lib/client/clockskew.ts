// The clock skew of one peer, measured from its answers: a geecache owner writes each expiring
// value's `expire` and the time it had left, whose difference is its clock as it wrote them.
import { MAX_CLOCK_SKEW_MS } from '../protocol/auth.js';

/** Clocks further apart than this are named in a warning. */
export const CLOCK_SKEW_WARN_MS = 1_000;
/** An estimate this old is replaced by the next measurement, however loose (the clocks may have been fixed). */
const KEEP_MS = 60_000;

/**
 * What this peer knows of another's clock: its skew (the peer's clock less this one's), from the
 * tightest recent measurement, and one warning (per cause, as every warning: see Notices) once a
 * measurement shows it more than {@link CLOCK_SKEW_WARN_MS} off for certain. Expiry between
 * geecache peers does not depend on it (they send the time left); signatures do (30 s), and so do
 * golang/groupcache and mailgun peers, which send and read absolute expiry times.
 */
export class ClockSkew {
  readonly #peer: string;
  readonly #warn: (message: () => string) => void;
  #ms: number | undefined;
  #errorMs = Number.POSITIVE_INFINITY;
  #at = 0;

  constructor(peer: string, warn: (message: () => string) => void) {
    this.#peer = peer;
    this.#warn = warn;
  }

  /** The peer's clock less this one's, in ms; undefined before the peer sent an expiring value. */
  get ms(): number | undefined {
    return this.#ms;
  }

  /** How far {@link ms} may be off: half the round trip of the measurement it is from. */
  get errorMs(): number | undefined {
    return this.#ms === undefined ? undefined : this.#errorMs;
  }

  /**
   * One measurement: the peer's clock read `peerNow` while this one went from `askedAt` (the
   * request left) to `now` (its answer is read), so the skew is between `peerNow - now` and
   * `peerNow - askedAt`.
   */
  sample(peerNow: number, askedAt: number, now = Date.now()): void {
    const low = peerNow - now;
    const high = peerNow - askedAt;
    // A peer's figures are checked, not trusted; high < low: this clock stepped back meanwhile.
    if (!Number.isFinite(low) || !Number.isFinite(high) || high < low) return;
    const middle = (low + high) / 2;
    const error = (high - low) / 2;
    if (this.#ms === undefined || error <= this.#errorMs || now - this.#at > KEEP_MS) {
      this.#ms = middle;
      this.#errorMs = error;
      this.#at = now;
    }
    if (low > CLOCK_SKEW_WARN_MS || high < -CLOCK_SKEW_WARN_MS) this.#warn(() => this.#advice(middle, error));
  }

  #advice(skew: number, error: number): string {
    const seconds = (Math.abs(skew) / 1000).toFixed(1);
    return (
      `peer ${this.#peer}'s clock is ${seconds} s ${skew > 0 ? 'ahead of' : 'behind'} this one's (measured from its answers, to within ${Math.ceil(error)} ms). ` +
      `Expiry between geecache peers does not depend on it (they send the time a value has left), but a signed request is refused past ${MAX_CLOCK_SKEW_MS / 1000} s of skew, ` +
      `and golang/groupcache and mailgun peers read absolute expiry times. Synchronise the clocks on every peer (NTP: chrony or systemd-timesyncd)`
    );
  }
}
