/**
 * The nonces of the writes this peer took, remembered while their signatures are valid, so that a
 * captured write replayed to it is refused (409) instead of applied again. Only writes pass here
 * (PUT and DELETE): gets cost nothing more.
 */
import { MAX_CLOCK_SKEW_MS } from '../protocol/auth.js';

/** Most nonces remembered at once: past it writes are refused (503) until the oldest expire. */
export const MAX_NONCES = 100_000;

/** What {@link NonceLog.see} found. */
export type Seen = 'new' | 'repeat' | 'full';

/**
 * Nonces by the second of their signature's timestamp. A signature is accepted only within
 * MAX_CLOCK_SKEW_MS of this clock, so a second's nonces are dropped once all its timestamps are
 * out of that window: a replay of one of them is refused by its signature from then on. Each
 * check is a map lookup and a set lookup; the seconds are swept at most once a second.
 */
export class NonceLog {
  readonly #bySecond = new Map<number, Set<string>>();
  #size = 0;
  #sweptSecond = 0;

  /**
   * Remembers `nonce`, signed at `signedAt` (ms since the epoch; the arrival time for an unsigned
   * write): 'new' the first time, 'repeat' after, 'full' when MAX_NONCES are remembered already.
   */
  see(nonce: string, signedAt: number, now = Date.now()): Seen {
    this.#sweep(now);
    const second = Math.floor(signedAt / 1000);
    let nonces = this.#bySecond.get(second);
    if (nonces?.has(nonce)) return 'repeat';
    if (this.#size >= MAX_NONCES) return 'full';
    if (!nonces) {
      nonces = new Set();
      this.#bySecond.set(second, nonces);
    }
    nonces.add(nonce);
    this.#size++;
    return 'new';
  }

  /** Nonces remembered now. */
  get size(): number {
    return this.#size;
  }

  /** Drops the seconds whose every timestamp is now older than the signature window. */
  #sweep(now: number): void {
    const second = Math.floor(now / 1000);
    if (second === this.#sweptSecond) return;
    this.#sweptSecond = second;
    const oldest = Math.floor((now - MAX_CLOCK_SKEW_MS) / 1000);
    for (const [s, nonces] of this.#bySecond) {
      if (s >= oldest) continue;
      this.#size -= nonces.size;
      this.#bySecond.delete(s);
    }
  }
}
