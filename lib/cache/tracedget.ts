/**
 * A group's get as a traced operation (the geecache:get tracing channel, common/diagnostics.ts):
 * the same steps as Group.get, telling the trace whether the get hit, where its value came from,
 * and which owner was asked. Group.get comes here only while someone subscribes to the channel.
 */
import { type GetTrace, getTrace, traced } from '../common/diagnostics.js';
import type { ByteView } from './byteview.js';
import { HotCopy } from './renewal.js';

/** Which of a group's caches a value it found there comes from: the hot cache holds only HotCopies, the main cache none. */
export const sourceOf = (cached: ByteView): 'main' | 'hot' => (cached instanceof HotCopy ? 'hot' : 'main');

/** The steps of a get, as the group takes them. */
export interface GetSteps {
  /** Checks the key (throws a BadKeyError), counts the get and answers from this process's caches. */
  lookup(key: string): ByteView | undefined;
  /** The miss: counted, and loaded once per key at a time; a `trace` given is told where the value came from. */
  load(key: string, trace?: GetTrace): Promise<ByteView>;
  /** Whether a load of `key` runs now (a get would join it). */
  loading(key: string): boolean;
}

/** Traced gets of one group. */
export class TracedGets {
  readonly #group: string;
  readonly #steps: GetSteps;
  /** The traced gets whose load of a key runs now, so that a traced get joining one can say where the value came from. */
  readonly #loadTraces = new Map<string, GetTrace>();

  constructor(group: string, steps: GetSteps) {
    this.#group = group;
    this.#steps = steps;
  }

  /** Group.get, traced. */
  get(key: string): Promise<ByteView> {
    const trace: GetTrace = { group: this.#group, key };
    return traced(getTrace, trace, (): ByteView | Promise<ByteView> => {
      let cached: ByteView | undefined;
      try {
        cached = this.#steps.lookup(key);
      } catch (err) {
        return Promise.reject(err);
      }
      trace.hit = cached !== undefined;
      if (cached) {
        trace.source = sourceOf(cached);
        return cached; // traced() publishes its end at once and wraps it in a resolved promise
      }
      if (this.#steps.loading(key)) {
        const leader = this.#loadTraces.get(key);
        trace.shared = true;
        return this.#steps.load(key).finally(() => {
          trace.source = leader?.source;
          trace.peer = leader?.peer;
        });
      }
      this.#loadTraces.set(key, trace);
      return this.#steps.load(key, trace).finally(() => {
        if (this.#loadTraces.get(key) === trace) this.#loadTraces.delete(key);
      });
    });
  }
}
