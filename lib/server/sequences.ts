/**
 * The last sequence number this peer saw from each stream of writes sent to it (a writer instance's
 * removes, clears and tag invalidations to this peer: client/writestreams.ts), so it notices when
 * a writer dropped writes meant for it: the numbers jump. Only signed writes are counted (a number
 * is trusted no more than the request carrying it), after their nonce was found new.
 */

/** Most streams remembered; past it the longest unheard-of is forgotten (its next request is then taken as a first one). */
export const MAX_STREAMS_SEEN = 16_384;

/**
 * What a request's number says: `first` of a stream not known here (a writer that just started
 * writing here, or this peer just started), `next` the number after the last, `old` one seen
 * already or older (a request sent again, or held back on the network), `gap` one more than a
 * number past the last: writes meant for this peer were dropped by its writer.
 */
export type SequenceSeen = 'first' | 'next' | 'old' | 'gap';

/** The last number of each stream, bounded. */
export class SequenceLog {
  readonly #last = new Map<string, number>();

  see(stream: string, seq: number): SequenceSeen {
    const last = this.#last.get(stream);
    if (last === undefined) {
      if (this.#last.size >= MAX_STREAMS_SEEN) this.#last.delete(this.#last.keys().next().value as string);
      this.#last.set(stream, seq);
      return 'first';
    }
    // Refreshed on every request: the longest unheard-of is the first in the map.
    this.#last.delete(stream);
    this.#last.set(stream, Math.max(last, seq));
    return seq <= last ? 'old' : seq === last + 1 ? 'next' : 'gap';
  }

  /** Streams remembered now. */
  get size(): number {
    return this.#last.size;
  }
}
