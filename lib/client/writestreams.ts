// The sequence numbers of one geecache instance's writes to each other peer: a stream per peer
// (random, drawn when this instance first writes to it), numbered request by request, that jumps
// a number when writes meant for the peer were dropped (too many waited for it, or some were made
// while it was out of the ring), so the peer knows it missed some
// (server/sequences.ts). Shared by the pool's clients: a peer that leaves the ring and comes back
// gets a new client, but the same stream, with the jump.
import { randomBytes } from 'node:crypto';
import { MAX_SEQ, type WriteSequence } from '../protocol/writeheader.js';

/** Most peers a stream is kept for; past it the longest unused is forgotten (that peer then gets a new stream, which it takes as a fresh start). */
export const MAX_STREAMS = 65_536;

/**
 * One instance's stream of write requests to one peer. Requests go one at a time (the write lane
 * sends the next once the last one ended), so numbers reach the peer in order: `seq` is one more
 * than the last request's, or the same again when the last one got no answer the peer counts (its
 * writes are in this one again), or two more after writes for the peer were dropped.
 */
export class WriteStream {
  /** Drawn on first use: a pool makes one per peer, most of which may never be written to. */
  #stream: string | undefined;
  #high = 0;
  #again = false;
  #skip = false;
  #attempt = 0;
  /** While the peer is out of the ring: how many writes this instance had made when it left. */
  #outAt: number | undefined;

  /** The sequence of the next request. */
  next(): WriteSequence {
    let seq = this.#skip ? this.#high + 2 : this.#again ? this.#high : this.#high + 1;
    // After 2^48 requests (never): a new count from 1, which the peer takes as old, not as a gap.
    if (seq > MAX_SEQ) seq = 1;
    this.#high = seq;
    this.#skip = false;
    this.#again = false;
    this.#stream ??= randomBytes(8).toString('hex').slice(0, 15);
    return { stream: this.#stream, seq, attempt: this.#attempt++ };
  }

  /**
   * The request numbered `seq` got no answer the peer counts (none at all, or a refusal before it
   * read the number: 401, 503): the next one carries the same number. Safe either way: a number
   * the peer saw already is not a gap.
   */
  unanswered(seq: number): void {
    if (seq === this.#high) this.#again = true;
  }

  /** Writes meant for the peer were dropped (too many waited for it): the next number jumps. */
  dropped(): void {
    this.#skip = true;
  }

  /** The peer left the ring when this instance had made `made` writes: those made from now on are not sent to it. */
  left(made: number): void {
    this.#outAt ??= made;
  }

  /** The peer is back in the ring, this instance having made `made` writes: if some were made while it was out, the next number jumps. */
  back(made: number): void {
    if (this.#outAt !== undefined && made > this.#outAt) this.#skip = true;
    this.#outAt = undefined;
  }
}

/** The streams of one instance, by peer URL. */
export class WriteStreams {
  readonly #streams = new Map<string, WriteStream>();
  /** Cluster-wide writes this instance made (fan-outs): those made while a peer is out of the ring, it misses. */
  #made = 0;

  /** This instance made a cluster-wide write (a fan-out): the peers out of the ring now miss it. */
  made(): void {
    this.#made++;
  }

  /** The stream to `peer`, made on first use. */
  of(peer: string): WriteStream {
    let stream = this.#streams.get(peer);
    if (stream) {
      this.#streams.delete(peer);
    } else {
      stream = new WriteStream();
      if (this.#streams.size >= MAX_STREAMS) this.#streams.delete(this.#streams.keys().next().value as string);
    }
    this.#streams.set(peer, stream);
    return stream;
  }

  /** `peer` left the ring: the writes made while it is out are not sent to it, so its stream jumps if there are any. */
  left(peer: string): void {
    this.#streams.get(peer)?.left(this.#made);
  }

  /** `peer` is back in the ring: its next write says whether it missed some while it was out. */
  back(peer: string): void {
    this.#streams.get(peer)?.back(this.#made);
  }
}
