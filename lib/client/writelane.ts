// The removes, clears and tag invalidations bound for one peer, sent one request at a time: a
// write finding nothing in flight leaves at once, as the plain DELETE or PUT every peer understands;
// those made meanwhile wait, and leave together as one WriteBatch when the request in flight ends.
// Each request carries this instance's sequence number for the peer (writestreams.ts). A peer
// that refuses batches (golang/groupcache, an older geecache) gets single writes from then on.
import type { RemoveRequest } from '../cache/peers.js';
import { GET_RESPONSE_TYPE } from '../protocol/headers.js';
import { encodeTagInvalidation, TAGS_CONTENT_TYPE } from '../protocol/tagwire.js';
import { encodeSegment } from '../protocol/wire.js';
import { sequencedNonce } from '../protocol/writeheader.js';
import {
  decodeWriteResults,
  encodeWriteBatch,
  MAX_WRITE_BATCH_ITEMS,
  WRITE_BATCH_TARGET_BYTES,
  WRITES_CONTENT_TYPE,
  type WriteResult,
  writeItemSize,
} from '../protocol/writewire.js';
import type { Answer, Outgoing } from './sender.js';
import type { WriteStream } from './writestreams.js';

const LONE_SURROGATE = /\p{Cs}/u;
const isDotSegment = (segment: string) => segment === '.' || segment === '..';
/** Whether a remove's key can travel in a URL path (URL parsers drop "." and ".."; a lone surrogate has no UTF-8). */
const pathSafe = (key: string | undefined) => key === undefined || !(isDotSegment(key) || LONE_SURROGATE.test(key));

/** How the lane reaches its peer: the peer client's sender, and its way of sending a traced request. */
export interface WriteTransport {
  readonly peer: string;
  readonly basePath: string;
  /** Sends a request and reads its whole answer; rejects when the peer could not be reached. */
  whole(method: string, path: string, outgoing: Outgoing, request: RemoveRequest | undefined): Promise<Answer>;
}

/** A write's outcome as the caller takes it: true applied (or a newer write was), false refused, an Error could not tell (pending). */
export type WriteOutcome = boolean | Error;

interface Waiting {
  request: RemoveRequest;
  size: number;
  done: (outcome: WriteOutcome) => void;
}

/** The write lane of one peer client. */
export class WriteLane {
  readonly #to: WriteTransport;
  /** This instance's stream to the peer; undefined: no sequence numbers (plain random nonces). */
  readonly #stream: WriteStream | undefined;
  #queue: Waiting[] = [];
  #busy = false;
  /** The peer refused a batch as a peer that does not know them: single writes from now on. */
  #singles = false;

  constructor(to: WriteTransport, stream: WriteStream | undefined, batch: boolean) {
    this.#to = to;
    this.#stream = stream;
    this.#singles = !batch;
  }

  /** Whether the peer takes batches of writes, as far as known (false once it refused one). */
  get batches(): boolean {
    return !this.#singles;
  }

  /**
   * Sends `request` in the next request to the peer: true once the peer applied it or had applied
   * a newer write of it, false when it answered but refused it; rejects when it could not be reached.
   */
  write(request: RemoveRequest): Promise<boolean> {
    return new Promise((resolve, reject) => this.push(request, (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome))));
  }

  /**
   * {@link write}, telling `done` the outcome instead of settling a promise: a remove fanned out to
   * every peer costs no promise per peer.
   */
  push(request: RemoveRequest, done: (outcome: WriteOutcome) => void): void {
    this.#queue.push({ request, size: writeItemSize(request), done });
    if (this.#busy) return;
    this.#busy = true;
    // Writes made in this turn of the event loop (a loop of removes, the fan-out of every owner's
    // answer read in this poll) leave together.
    setImmediate(() => void this.#drain());
  }

  /** Fails every write still waiting with `err()` (the client was closed). */
  close(err: () => Error): void {
    const queue = this.#queue;
    this.#queue = [];
    if (queue.length === 0) return;
    const error = err();
    for (const w of queue) w.done(error);
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#singles) {
          const all = this.#queue;
          this.#queue = [];
          await Promise.all(all.map((w) => this.#single(w)));
          continue;
        }
        await this.#send(this.#take());
      }
    } finally {
      this.#busy = false;
    }
  }

  /** The next batch's worth of waiting writes: up to MAX_WRITE_BATCH_ITEMS and WRITE_BATCH_TARGET_BYTES (at least one). */
  #take(): Waiting[] {
    const queue = this.#queue;
    let n = 0;
    let bytes = 0;
    while (n < queue.length && n < MAX_WRITE_BATCH_ITEMS && (n === 0 || bytes + queue[n].size <= WRITE_BATCH_TARGET_BYTES)) bytes += queue[n++].size;
    const taken = queue.slice(0, n);
    this.#queue = queue.slice(n);
    return taken;
  }

  /** One request: a write alone as the plain DELETE or PUT (a batch of one when its key cannot travel in a path), more as a WriteBatch. */
  async #send(writes: Waiting[]): Promise<void> {
    if (writes.length === 1 && pathSafe(writes[0].request.key)) return this.#single(writes[0], true);
    const seq = this.#stream?.next();
    const nonce = seq && sequencedNonce(seq);
    let answer: Answer;
    try {
      answer = await this.#to.whole(
        'DELETE',
        this.#to.basePath,
        { body: encodeWriteBatch(writes.map((w) => w.request)), contentType: WRITES_CONTENT_TYPE, nonce },
        undefined,
      );
    } catch (err) {
      if (seq) this.#stream?.unanswered(seq.seq);
      const error = asError(err);
      for (const w of writes) w.done(error);
      return;
    }
    const outcomes = this.#batchOutcomes(writes, answer);
    if (seq && outcomes === undefined) this.#stream?.unanswered(seq.seq);
    if (outcomes === 'singles') {
      this.#singles = true;
      await Promise.all(writes.map((w) => this.#single(w)));
    } else if (outcomes === 'alone') {
      for (const w of writes) await this.#single(w, true);
    } else if (outcomes === undefined) {
      const err = new Error(`peer ${this.#to.peer} answered a batch of writes with ${answer.status}`);
      for (const w of writes) w.done(err);
    } else {
      for (const [i, w] of writes.entries()) w.done(outcomes[i]);
    }
  }

  /**
   * Each write's outcome from a batch's answer; 'singles' for a peer that does not take batches
   * (golang/groupcache answers 400, older geecache 404, 405 or 415), 'alone' for one that took it
   * for too large (413: these go one by one), undefined for an answer the peer did not count (the
   * writes are pending; the next request carries the same number).
   */
  #batchOutcomes(writes: Waiting[], answer: Answer): WriteOutcome[] | 'singles' | 'alone' | undefined {
    const { status, type, body } = answer;
    if (status === 400 || status === 404 || status === 405 || status === 415) return 'singles';
    if (status === 413) return 'alone';
    if (status === 401) return writes.map(() => false);
    if (status !== 200 || type !== WRITES_CONTENT_TYPE) return undefined;
    let results: WriteResult[];
    try {
      results = decodeWriteResults(body);
    } catch {
      return undefined;
    }
    if (results.length !== writes.length) return undefined;
    return results.map((r) =>
      r.status === 200 || (r.status === 409 && r.newer !== undefined)
        ? true
        : r.status >= 500
          ? new Error(`peer ${this.#to.peer} answered a write of a batch with ${r.status}`)
          : false,
    );
  }

  /**
   * One write as the plain request (golang/groupcache's and mailgun/groupcache's routes):
   * `DELETE {basePath}{group}/{key}`, `DELETE {basePath}{group}`, or for tags `PUT {basePath}{group}`
   * with a TagInvalidation. `sequenced`: it carries the stream's next number (only in the lane's
   * turn: requests numbered go one at a time).
   */
  async #single(w: Waiting, sequenced = false): Promise<void> {
    const { group, key, version, tags, id } = w.request;
    if (!pathSafe(key)) return w.done(new Error(`key ${JSON.stringify(key)} cannot travel in a URL path and peer ${this.#to.peer} takes no batches`));
    const seq = sequenced ? this.#stream?.next() : undefined;
    const nonce = seq && sequencedNonce(seq);
    const path = `${this.#to.basePath}${encodeSegment(group)}${key === undefined ? '' : `/${encodeSegment(key)}`}`;
    let answer: Answer;
    try {
      answer =
        tags !== undefined
          ? await this.#to.whole('PUT', path, { body: encodeTagInvalidation(tags, id ?? 0), contentType: TAGS_CONTENT_TYPE, nonce }, w.request)
          : await this.#to.whole('DELETE', path, { version, nonce }, w.request);
    } catch (err) {
      if (seq) this.#stream?.unanswered(seq.seq);
      return w.done(asError(err));
    }
    // Counted by the peer: it read the number (any answer from a handler; 200 and 409 + newer are sure to be).
    if (seq && !(answer.status === 200 || answer.newer !== undefined)) this.#stream?.unanswered(seq.seq);
    // A golang/groupcache peer answers a DELETE as a get: a 200 GetResponse, which applied nothing.
    if ((answer.status === 200 && answer.type !== GET_RESPONSE_TYPE) || answer.newer !== undefined) return w.done(true);
    if (answer.status >= 500) return w.done(new Error(`peer ${this.#to.peer} answered a ${tags ? 'tag invalidation' : 'remove'} with ${answer.status}`));
    w.done(false);
  }
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
