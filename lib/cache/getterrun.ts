/**
 * Runs a group's getter for one key: with an abort signal and the loadTimeoutMs deadline (never
 * waiting past it), at most one abandoned run per key, the value it returns checked and kept as a
 * ByteView with its expiry (the group's TTL, or the getter's setTtl), and each run recorded (the
 * group's getterLatency, and the diagnostics channels if anyone listens).
 */
import { describe } from '../common/describe.js';
import { type LoadMessage, type LoadTrace, loadChannel, loadTrace, traced } from '../common/diagnostics.js';
import { LoadTimeoutError } from '../common/errors.js';
import type { Histogram } from '../common/histogram.js';
import { ByteView } from './byteview.js';
import { checkTtl, type Freshness } from './freshness.js';
import type { Getter } from './groupoptions.js';

/** The getter runs of one group. */
export class GetterRuns {
  readonly #group: string;
  readonly #getter: Getter;
  readonly #loadTimeoutMs: number;
  readonly #fresh: Freshness;
  readonly #latency: Histogram;
  /** Getter runs that outlived loadTimeoutMs and still run, by key: at most one per key. */
  readonly #abandoned = new Map<string, Promise<unknown>>();

  constructor(group: string, getter: Getter, loadTimeoutMs: number, fresh: Freshness, latency: Histogram) {
    this.#group = group;
    this.#getter = getter;
    this.#loadTimeoutMs = loadTimeoutMs;
    this.#fresh = fresh;
    this.#latency = latency;
  }

  /**
   * The getter's value of `key`, with its expiry; rejects with what it threw, a LoadTimeoutError,
   * or a TypeError for a value that is not bytes. Traced (LOAD_TRACE) when anyone subscribes:
   * the getter then runs inside the trace, so a database call it makes nests under the run.
   */
  run(key: string): Promise<ByteView> {
    if (!loadTrace.hasSubscribers) return this.#run(key);
    const trace: LoadTrace = { group: this.#group, key };
    return traced(loadTrace, trace, () => this.#run(key));
  }

  async #run(key: string): Promise<ByteView> {
    let ttlMs: number | undefined;
    const setTtl = (ms: number) => {
      ttlMs = checkTtl(ms, 'setTtl(ms): ms');
    };
    const startedAt = performance.now();
    let value: ByteView;
    try {
      const got = await this.#race(key, setTtl);
      value = toByteView(got, this.#group, key, this.#fresh.expiryOf(ttlMs));
    } catch (err) {
      this.#ran(key, startedAt, err);
      throw err;
    }
    this.#ran(key, startedAt);
    return value;
  }

  /** Records one getter run: the latency histogram, and the diagnostics channel if anyone listens. */
  #ran(key: string, startedAt: number, error?: unknown): void {
    const ms = performance.now() - startedAt;
    this.#latency.observe(ms / 1000);
    if (loadChannel.hasSubscribers)
      loadChannel.publish({ group: this.#group, key, durationMs: ms, ...(error === undefined ? {} : { error }) } satisfies LoadMessage);
  }

  /**
   * Runs the getter with a signal that aborts at the deadline; never waits past it. A getter that
   * ignores its signal keeps running after the deadline: that run is remembered as abandoned
   * until it settles, and the gets of its key meanwhile wait for it (each with its own deadline)
   * instead of starting another, so a key never has more than one abandoned run.
   */
  #race(key: string, setTtl: (ms: number) => void): Promise<unknown> {
    const abandoned = this.#abandoned.get(key);
    const controller = abandoned ? undefined : new AbortController();
    const running = abandoned ?? this.#start(key, (controller as AbortController).signal, setTtl);
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

  /** A get that joins an abandoned run gets its value with the group's TTL: setTtl there reaches the run that timed out. */
  #start(key: string, signal: AbortSignal, setTtl: (ms: number) => void): Promise<unknown> {
    const run = Promise.resolve().then(() => this.#getter(key, { signal, setTtl }));
    run.catch(() => {}); // a getter that rejects after the deadline must not become an unhandled rejection
    return run;
  }
}

/** What the getter returned, as a ByteView (copied: the getter may reuse or change its buffer after returning). */
function toByteView(value: unknown, group: string, key: string, expiresAt: number | undefined): ByteView {
  if (typeof value === 'string') return new ByteView(value, true, expiresAt);
  let got: string;
  try {
    if (value instanceof Uint8Array) return new ByteView(value, true, expiresAt);
    got = describe(value);
  } catch {
    got = 'an object whose properties throw when read'; // e.g. a Proxy: never let it throw from here
  }
  throw new TypeError(`getter for group "${group}" returned ${got} for key ${JSON.stringify(key)}; return a Buffer, Uint8Array or string`);
}
