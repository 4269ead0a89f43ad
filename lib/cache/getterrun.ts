/**
 * Runs a group's getter for one key: with an abort signal and the loadTimeoutMs deadline (never
 * waiting past it), at most one abandoned run per key, the value it returns checked and kept as a
 * ByteView with its expiry (the group's TTL, or the getter's setTtl) and tags (ctx.tags), and each
 * run recorded (the group's getterLatency, and the diagnostics channel if anyone listens). With a
 * bulk getter (getMany), the keys that miss together go to it in one call (bulkrun.ts).
 */
import { describe } from '../common/describe.js';
import { type LoadMessage, type LoadTrace, loadChannel, loadTrace, traced } from '../common/diagnostics.js';
import { LoadTimeoutError } from '../common/errors.js';
import type { Histogram } from '../common/histogram.js';
import { BulkRuns, entryOf, type Got, pick } from './bulkrun.js';
import { ByteView } from './byteview.js';
import { checkTtl, type Freshness } from './freshness.js';
import type { BulkGetter, Getter } from './groupoptions.js';
import { addTags, type TagRecords, type TagSet } from './tags.js';

/** The getter runs of one group. */
export class GetterRuns {
  readonly #group: string;
  readonly #getter: Getter | undefined;
  readonly #getMany: BulkGetter | undefined;
  readonly #loadTimeoutMs: number;
  readonly #fresh: Freshness;
  readonly #latency: Histogram;
  readonly #tags: TagRecords;
  /** Getter runs that outlived loadTimeoutMs and still run, by key: at most one per key. */
  readonly #abandoned = new Map<string, Promise<Got>>();
  /** With a bulk getter: the keys that miss together, gathered for one call. */
  readonly #bulk: BulkRuns | undefined;

  /** `getters`: the group's getter and bulk getter (at least one); `tags`: the group's tag records (LoadGuard.tags). */
  constructor(
    group: string,
    getters: { getter?: Getter; getMany?: BulkGetter },
    loadTimeoutMs: number,
    fresh: Freshness,
    latency: Histogram,
    tags: TagRecords,
  ) {
    this.#group = group;
    this.#getter = getters.getter;
    this.#getMany = getters.getMany;
    this.#loadTimeoutMs = loadTimeoutMs;
    this.#fresh = fresh;
    this.#latency = latency;
    this.#tags = tags;
    if (getters.getMany)
      this.#bulk = new BulkRuns({
        group,
        getMany: getters.getMany,
        loadTimeoutMs,
        abandoned: this.#abandoned,
        one: getters.getter ? (key) => this.#one(key) : undefined,
        ran: (keys, startedAt, error) => this.#ran(keys, startedAt, error),
      });
  }

  /**
   * The getter's value of `key`, with its expiry and tags (stamped with `epoch`, when its load
   * began: LoadTicket.epoch); rejects with what it threw, a LoadTimeoutError, or a TypeError for
   * a value that is not bytes. With a bulk getter, waits for the end of this turn, gathering the
   * other keys that miss in it for one call. Traced (LOAD_TRACE) when anyone subscribes: the
   * getter then runs inside the trace, so a database call it makes nests under the run.
   */
  run(key: string, epoch = this.#tags.epoch): Promise<ByteView> {
    if (!loadTrace.hasSubscribers) return this.#run(key, epoch);
    const trace: LoadTrace = { group: this.#group, key };
    return traced(loadTrace, trace, () => this.#run(key, epoch));
  }

  async #run(key: string, epoch: number): Promise<ByteView> {
    if (this.#bulk && !this.#abandoned.has(key)) return this.#view(key, await this.#bulk.load(key), epoch);
    return this.#view(key, await this.#one(key), epoch);
  }

  /** One run for `key` alone (joining its abandoned run, if any), recorded. */
  async #one(key: string): Promise<Got> {
    const startedAt = performance.now();
    try {
      const got = await this.#race(key);
      this.#ran([key], startedAt);
      return got;
    } catch (err) {
      this.#ran([key], startedAt, err);
      throw err;
    }
  }

  /** What a run answered as the cached value: checked bytes, with its expiry and TagSet. */
  #view(key: string, got: Got, epoch: number): ByteView {
    return toByteView(got.value, this.#group, key, this.#fresh.expiryOf(got.ttlMs), this.#tags.stamp(got.tags, epoch));
  }

  /**
   * Records one run of the getter (or of the bulk getter, for `keys`): the latency histogram
   * once, and the diagnostics channel per key if anyone listens.
   */
  #ran(keys: readonly string[], startedAt: number, error?: unknown): void {
    const ms = performance.now() - startedAt;
    this.#latency.observe(ms / 1000);
    if (loadChannel.hasSubscribers)
      for (const key of keys) loadChannel.publish({ group: this.#group, key, durationMs: ms, ...(error === undefined ? {} : { error }) } satisfies LoadMessage);
  }

  /**
   * Runs the getter with a signal that aborts at the deadline; never waits past it. A getter that
   * ignores its signal keeps running after the deadline: that run is remembered as abandoned
   * until it settles, and the gets of its key meanwhile wait for it (each with its own deadline)
   * instead of starting another, so a key never has more than one abandoned run.
   */
  #race(key: string): Promise<Got> {
    const abandoned = this.#abandoned.get(key);
    const controller = abandoned ? undefined : new AbortController();
    const running = abandoned ?? this.#start(key, (controller as AbortController).signal);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new LoadTimeoutError(
          `getter for group "${this.#group}" did not finish within loadTimeoutMs (${this.#loadTimeoutMs} ms) for key ${JSON.stringify(key)}` +
            (abandoned ? ': this get waited for an earlier run of it that timed out and is still running (no new run starts until it settles)' : ''),
        );
        reject(err);
        if (!controller) return;
        controller.abort(err);
        this.#abandoned.set(key, running);
        const settled = () => {
          if (this.#abandoned.get(key) === running) this.#abandoned.delete(key);
        };
        running.then(settled, settled);
      }, this.#loadTimeoutMs);
    });
    return Promise.race([running, deadline]).finally(() => clearTimeout(timer));
  }

  /**
   * Starts the getter (or, with only a bulk getter, that for this one key): its value with what it
   * set through setTtl and tags, so a get that joins an abandoned run gets those too.
   */
  #start(key: string, signal: AbortSignal): Promise<Got> {
    const got: Got = { value: undefined, ttlMs: undefined, tags: undefined };
    const setTtl = (ms: number) => {
      got.ttlMs = checkTtl(ms, 'setTtl(ms): ms');
    };
    const tags = (...more: string[]) => {
      got.tags = addTags(got.tags, more, 'tags(...tags)');
    };
    const getter = this.#getter;
    const getMany = this.#getMany as BulkGetter;
    const run = Promise.resolve()
      .then(() =>
        getter
          ? getter(key, { signal, setTtl, tags })
          : Promise.resolve(getMany([key], { signal, setTtl: (_, ms) => setTtl(ms), tags: (_, ...more) => tags(...more) })).then((result) =>
              entryOf(pick(result, [key], this.#group), key),
            ),
      )
      .then((value) => {
        got.value = value;
        return got;
      });
    run.catch(() => {}); // a getter that rejects after the deadline must not become an unhandled rejection
    return run;
  }
}

/** What the getter returned, as a ByteView (copied: the getter may reuse or change its buffer after returning). */
function toByteView(value: unknown, group: string, key: string, expiresAt: number | undefined, tagged: TagSet | undefined): ByteView {
  if (typeof value === 'string') return new ByteView(value, true, expiresAt, tagged);
  let got: string;
  try {
    if (value instanceof Uint8Array) return new ByteView(value, true, expiresAt, tagged);
    got = describe(value);
  } catch {
    got = 'an object whose properties throw when read'; // e.g. a Proxy: never let it throw from here
  }
  throw new TypeError(`getter for group "${group}" returned ${got} for key ${JSON.stringify(key)}; return a Buffer, Uint8Array or string`);
}
