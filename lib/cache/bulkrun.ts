/**
 * bulkrun.ts gathers the keys that miss on this process in one turn — a getMany's, a peer's batch,
 * concurrent gets — for one call of the group's bulk getter (GroupOptions.getMany), under the same
 * rules as a single getter run (getterrun.ts): the loadTimeoutMs deadline with its abort signal,
 * and a call still running past it remembered as each of its keys' abandoned run. Each key then
 * gets its own outcome: its value, not found (no value for it), or the error in its place; a call
 * that throws fails its own keys only.
 */
import { describe } from '../common/describe.js';
import { LoadTimeoutError, NotFoundError } from '../common/errors.js';
import { checkTtl } from './freshness.js';
import type { BulkGetter, BulkGetterContext } from './groupoptions.js';
import { addTags } from './tags.js';

/** Most keys in one bulk getter call; more that miss together go in several calls. */
export const MAX_BULK_KEYS = 1_000;

/** What a run answered for one key: its value (not checked yet), and what setTtl and tags said of it. */
export interface Got {
  value: unknown;
  ttlMs: number | undefined;
  tags: readonly string[] | undefined;
}

/** What bulk runs need of their group's getter runs. */
export interface BulkRunsOptions {
  readonly group: string;
  readonly getMany: BulkGetter;
  readonly loadTimeoutMs: number;
  /** The group's abandoned runs by key (GetterRuns): a call past its deadline leaves one for each of its keys. */
  readonly abandoned: Map<string, Promise<Got>>;
  /** The group's single getter run, for a key that misses alone; undefined: that key goes to getMany too. */
  readonly one: ((key: string) => Promise<Got>) | undefined;
  /** Records one call: its keys, when it started (performance.now()), its error. */
  ran(keys: readonly string[], startedAt: number, error?: unknown): void;
}

type Waiter = { resolve: (got: Got) => void; reject: (err: unknown) => void };

/** The bulk getter calls of one group. */
export class BulkRuns {
  readonly #options: BulkRunsOptions;
  /** Keys waiting for the end of this turn, with whoever waits for each. */
  #pending = new Map<string, Waiter[]>();

  constructor(options: BulkRunsOptions) {
    this.#options = options;
  }

  /** `key`'s outcome from the call made at the end of this turn with every key that missed in it. */
  load(key: string): Promise<Got> {
    return new Promise((resolve, reject) => {
      let waiters = this.#pending.get(key);
      if (waiters === undefined) {
        // The end of the turn: a peer's batch and a getMany reach here in the microtasks of one turn.
        if (this.#pending.size === 0) setImmediate(() => this.#flush());
        waiters = [];
        this.#pending.set(key, waiters);
      }
      waiters.push({ resolve, reject });
    });
  }

  #flush(): void {
    const pending = this.#pending;
    this.#pending = new Map();
    const keys = [...pending.keys()];
    const one = this.#options.one;
    if (keys.length === 1 && one) {
      const waiters = pending.get(keys[0]) as Waiter[];
      one(keys[0]).then(
        (got) => {
          for (const w of waiters) w.resolve(got);
        },
        (err) => {
          for (const w of waiters) w.reject(err);
        },
      );
      return;
    }
    for (let i = 0; i < keys.length; i += MAX_BULK_KEYS) this.#call(keys.slice(i, i + MAX_BULK_KEYS), pending);
  }

  /** One call of the bulk getter for `keys`, settling each key's waiters with its own outcome. */
  #call(keys: string[], pending: Map<string, Waiter[]>): void {
    const { getMany, group, loadTimeoutMs, abandoned, ran } = this.#options;
    const controller = new AbortController();
    const asked = new Set(keys);
    const said = new Map<string, { ttlMs: number | undefined; tags: readonly string[] | undefined }>();
    const of = (key: string, what: string) => {
      if (!asked.has(key)) throw new TypeError(`${what}: key ${describe(key, 64)} is not one of the keys this getMany call was given`);
      let entry = said.get(key);
      if (entry === undefined) {
        entry = { ttlMs: undefined, tags: undefined };
        said.set(key, entry);
      }
      return entry;
    };
    const context: BulkGetterContext = {
      signal: controller.signal,
      setTtl: (key, ms) => {
        of(key, 'setTtl(key, ms)').ttlMs = checkTtl(ms, 'setTtl(key, ms): ms');
      },
      tags: (key, ...tags) => {
        const entry = of(key, 'tags(key, ...tags)');
        entry.tags = addTags(entry.tags, tags, 'tags(key, ...tags)');
      },
    };
    const gotOf = (values: ReadonlyMap<string, unknown>, key: string): Got => ({
      value: entryOf(values, key),
      ttlMs: said.get(key)?.ttlMs,
      tags: said.get(key)?.tags,
    });
    const startedAt = performance.now();
    const running = Promise.resolve()
      .then(() => getMany([...keys], context))
      .then((result) => pick(result, keys, group));
    running.catch(() => {}); // a call that rejects after the deadline must not become an unhandled rejection
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new LoadTimeoutError(
          `getMany for group "${group}" did not finish within loadTimeoutMs (${loadTimeoutMs} ms) for ${keys.length} keys (the first: ${JSON.stringify(keys[0].slice(0, 64))})`,
        );
        reject(err);
        controller.abort(err);
        // Each key's later gets wait for this call (with their own deadlines) instead of starting another.
        for (const key of keys) {
          const run = running.then((values) => gotOf(values, key));
          run.catch(() => {});
          abandoned.set(key, run);
          const settled = () => {
            if (abandoned.get(key) === run) abandoned.delete(key);
          };
          run.then(settled, settled);
        }
      }, loadTimeoutMs);
    });
    Promise.race([running, deadline])
      .finally(() => clearTimeout(timer))
      .then(
        (values) => {
          ran(keys, startedAt);
          for (const key of keys)
            for (const w of pending.get(key) as Waiter[]) {
              try {
                w.resolve(gotOf(values, key));
              } catch (err) {
                w.reject(err);
              }
            }
        },
        (err) => {
          ran(keys, startedAt, err);
          for (const key of keys) for (const w of pending.get(key) as Waiter[]) w.reject(err);
        },
      );
  }
}

/**
 * A bulk getter's answer as a Map by key: a Map as it is, an array matched with `keys` by
 * position. Throws a TypeError naming the fix for anything else (it fails every key of the call).
 */
export function pick(result: unknown, keys: readonly string[], group: string): ReadonlyMap<string, unknown> {
  if (Array.isArray(result)) {
    if (result.length !== keys.length) {
      throw new TypeError(
        `getMany for group "${group}" returned an array of ${result.length} values for ${keys.length} keys; return one value per key, in the order given (undefined for a key not found), or a Map`,
      );
    }
    return new Map(keys.map((key, i) => [key, result[i]]));
  }
  if (result instanceof Map) return result;
  throw new TypeError(
    `getMany for group "${group}" returned ${describe(result)}; return a Map from key to value, or an array of values in the order of the keys`,
  );
}

/** `key`'s value in a bulk getter's answer; throws a NotFoundError when it has none, the Error it has in its place. */
export function entryOf(values: ReadonlyMap<string, unknown>, key: string): unknown {
  const value = values.get(key);
  if (value === undefined || value === null) throw new NotFoundError(`getMany returned no value for key ${JSON.stringify(key.slice(0, 256))}`);
  if (value instanceof Error) throw value;
  return value;
}
