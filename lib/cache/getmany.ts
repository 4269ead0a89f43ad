/**
 * getmany.ts is Group.getMany: the values of many keys in one call, each key as get() answers it,
 * with one outcome per key instead of one rejection for all. The gets of the keys not cached here
 * all start in the same turn, so those bound for one owner travel in one batch request (the
 * client's Batcher), and the keys an owner misses reach its bulk getter together (bulkrun.ts).
 */
import { ByteView } from './byteview.js';

/** One key's outcome in a getMany: its value, or why it has none (what get() would have rejected with). */
export type GetManyResult = { value: ByteView; error?: undefined } | { value?: undefined; error: unknown };

/** Stands in for a key still loading, so the Map keeps the order of the keys as given. */
const LOADING = Object.freeze({ error: new Error('still loading') }) as GetManyResult;

/**
 * Each of `keys` through `one` — a value at once when cached, else a promise, or a throw for a bad
 * key — gathered into a Map in the order of `keys`, each key once.
 */
export async function getMany(keys: Iterable<string>, one: (key: string) => ByteView | Promise<ByteView>): Promise<Map<string, GetManyResult>> {
  if (typeof keys === 'string' || typeof (keys as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function')
    throw new TypeError(`getMany takes an array (or other iterable) of keys, got ${keys === null ? 'null' : typeof keys}`);
  const out = new Map<string, GetManyResult>();
  let loading: Promise<void>[] | undefined;
  for (const key of keys) {
    if (out.has(key)) continue;
    let got: ByteView | Promise<ByteView>;
    try {
      got = one(key);
    } catch (error) {
      out.set(key, { error });
      continue;
    }
    if (got instanceof ByteView) {
      out.set(key, { value: got });
      continue;
    }
    out.set(key, LOADING);
    loading ??= [];
    loading.push(
      got.then(
        (value) => {
          out.set(key, { value });
        },
        (error: unknown) => {
          out.set(key, { error });
        },
      ),
    );
  }
  if (loading) await Promise.all(loading);
  return out;
}
