/**
 * groupoptions.ts says what a group is made of — its getter and its options — and checks them:
 * the one place a group's options are checked and given their defaults, whether the group comes
 * from geecache()'s `groups` or from `new Group()`.
 */

import { checkKnown, MAX_TIMER_MS, positive, suggest } from '../common/checks.js';
import { DEFAULTS } from '../common/defaults.js';
import { ConfigError } from '../common/errors.js';
import { MAX_TTL_MS } from './freshness.js';
import type { CachePolicy } from './lru.js';

/** The values of the group option `policy`. */
const POLICIES: readonly CachePolicy[] = ['adaptive', 'lru'];

/** What a getter may return: the value's bytes, or a string stored as UTF-8. */
export type Bytes = Buffer | Uint8Array | string;

/** The second argument of a {@link Getter}. */
export interface GetterContext {
  /** Aborts at the group's `loadTimeoutMs`; pass it to whatever the getter waits on. */
  signal: AbortSignal;
  /**
   * This value's time to live in milliseconds (a positive number), instead of the group's
   * `ttlMs` (and without its jitter): e.g. a token's own lifetime, or an HTTP response's max-age.
   * The last call before the getter returns counts.
   */
  setTtl(ms: number): void;
  /**
   * Tags this value (strings of 1-256 characters, at most 64 per value; calls add up), so that
   * `group.invalidateTags(['product:42'])` drops it on every peer: e.g. the tags of the rows it
   * was built from.
   */
  tags(...tags: string[]): void;
}

/** The second argument of a {@link BulkGetter}: as {@link GetterContext}, each per key. */
export interface BulkGetterContext {
  /** Aborts at the group's `loadTimeoutMs`; pass it to whatever the getter waits on. */
  signal: AbortSignal;
  /** `key`'s time to live in milliseconds, instead of the group's `ttlMs` (see GetterContext.setTtl). */
  setTtl(key: string, ms: number): void;
  /** Tags `key`'s value (see GetterContext.tags). */
  tags(key: string, ...tags: string[]): void;
}

/**
 * What a {@link BulkGetter} answers: a Map from key to value, or an array of values in the order
 * of the keys it was given. A key without a value (missing from the Map; undefined or null in the
 * array) is not found (a NotFoundError for that key, cached as `notFoundTtlMs` says); an Error in
 * place of a value fails that key alone.
 */
export type BulkResult = ReadonlyMap<string, Bytes | Error | null | undefined> | ReadonlyArray<Bytes | Error | null | undefined>;

/**
 * The bulk loader of a group: the values of many keys in one call (a `WHERE id IN (...)`). The
 * keys that miss on the owner in one turn — a getMany's, a peer's batch, concurrent gets — go to
 * it together, at most 1,000 per call; a key already loading is not asked again. Throwing fails
 * the keys of that call only.
 */
export type BulkGetter = (keys: string[], context: BulkGetterContext) => Promise<BulkResult> | BulkResult;

/**
 * The loader of a group: reads the value of `key` from the source of truth (a database, a
 * service). It runs once per key across the cluster while the value stays cached. Throw a
 * NotFoundError for a key the source does not have (cached for `notFoundTtlMs`); any other
 * error reaches the caller and is not cached.
 */
export type Getter = (key: string, context: GetterContext) => Promise<Bytes> | Bytes;

/** One group's settings. */
export interface GroupOptions {
  /** Bytes this process may cache for the group: key length + value length + 256 bytes of per-entry overhead, per entry. `<= 0` disables caching. */
  maxBytes: number;
  /**
   * Loads a value that no cache holds. Optional when `getMany` is given (a lone key then goes
   * to getMany too); with both, keys that miss together go to getMany and a key alone here.
   */
  getter?: Getter;
  /** Loads many values that no cache holds in one call (see {@link BulkGetter}). */
  getMany?: BulkGetter;
  /** A getter still running after this long fails with a LoadTimeoutError and its signal aborts. Default 30,000. */
  loadTimeoutMs?: number;
  /** Longest key accepted, in UTF-16 code units. Default 1,024. */
  maxKeyLength?: number;
  /**
   * Share of `maxBytes` kept for copies of hot keys owned by other peers (golang/groupcache's hot
   * cache). Default 1/8; 0 turns it off. Each cache is sure of its share and may fill what the
   * other leaves unused, giving it back first when the other needs it: a front that owns few
   * keys keeps copies in most of `maxBytes`, and its owned values take the room back as they come.
   */
  hotCacheFraction?: number;
  /**
   * How long a loaded value stays fresh, in milliseconds; the getter may set its own per value
   * (`setTtl`). Default 0: values never expire — groupcache's immutable model, where a value
   * changes only by `remove`, `set` or `clear`. The expiry travels with the value to other peers,
   * so no copy outlives the owner's entry.
   */
  ttlMs?: number;
  /** Cut each `ttlMs` by a random share up to this fraction (0.1: by up to 10%), so keys loaded together do not expire together. Default 0. */
  ttlJitter?: number;
  /**
   * Stale-while-revalidate, bentocache's grace: for this long after a value expires its owner
   * still answers it at once, while one refresh runs at the owner for the whole cluster; a
   * failing refresh is retried with a backoff (1 s, doubling, up to 30 s), not on every get.
   * Default 0: an expired value is never served.
   */
  staleMs?: number;
  /**
   * Longest life of a copy of a value this peer does not own: the hot cache's copies, and values
   * loaded here because the owner could not be asked. It bounds how long a peer that missed a
   * `remove` (down, paused) can serve the old value. Default 30,000 (30 s; set 5,000 for a tighter bound, at the cost of more peer traffic); 0: no cap (groupcache's copies live until evicted).
   * A hot copy read past half this life is fetched again from its owner in the background
   * (lib/cache/renewal.ts), so a key that is read stays cached without ever outliving this bound.
   */
  hotTtlMs?: number;
  /** How long a getter's NotFoundError is cached at the key's owner. Default 0: not cached, the next get asks the getter again. */
  notFoundTtlMs?: number;
  /**
   * Which entries stay when the caches are full. Default `'adaptive'`: a key's recent reads
   * count, so a scan or a burst of one-off keys cannot push out the keys read again and again,
   * and the cache learns by itself how much room to give to keys that are new (W-TinyLFU with an
   * adaptive window; docs/hit-ratio.md). `'lru'`: the least recently used entry goes, as before.
   */
  policy?: CachePolicy;
}

/** One group's options, checked, with defaults filled in; made only by {@link resolveGroup}. */
export class GroupConfig {
  readonly name: string;
  readonly maxBytes: number;
  /** The getter; undefined when only getMany was given. */
  readonly getter: Getter | undefined;
  readonly getMany: BulkGetter | undefined;
  readonly loadTimeoutMs: number;
  readonly maxKeyLength: number;
  readonly hotCacheFraction: number;
  readonly ttlMs: number;
  readonly ttlJitter: number;
  readonly staleMs: number;
  readonly hotTtlMs: number;
  readonly notFoundTtlMs: number;
  readonly policy: CachePolicy;

  /** @internal Use {@link resolveGroup}. */
  constructor(fields: GroupConfig) {
    this.name = fields.name;
    this.maxBytes = fields.maxBytes;
    this.getter = fields.getter;
    this.getMany = fields.getMany;
    this.loadTimeoutMs = fields.loadTimeoutMs;
    this.maxKeyLength = fields.maxKeyLength;
    this.hotCacheFraction = fields.hotCacheFraction;
    this.ttlMs = fields.ttlMs;
    this.ttlJitter = fields.ttlJitter;
    this.staleMs = fields.staleMs;
    this.hotTtlMs = fields.hotTtlMs;
    this.notFoundTtlMs = fields.notFoundTtlMs;
    this.policy = fields.policy;
    Object.freeze(this);
  }
}

const GROUP_OPTIONS = [
  'maxBytes',
  'getter',
  'getMany',
  'loadTimeoutMs',
  'maxKeyLength',
  'hotCacheFraction',
  'ttlMs',
  'ttlJitter',
  'staleMs',
  'hotTtlMs',
  'notFoundTtlMs',
  'policy',
];
const GROUP_NAME = /^[A-Za-z0-9._~-]{1,128}$/;

/**
 * Checks one group's options and fills in its defaults; `option` is how messages name it
 * (`groups.scores`). A {@link GroupConfig} is returned as it is: it was checked when it was made.
 */
export function resolveGroup(name: string, group: GroupOptions | GroupConfig, option = 'group'): GroupConfig {
  if (group instanceof GroupConfig && group.name === name) return group;
  if (!GROUP_NAME.test(name) || name === '.' || name === '..') {
    throw new ConfigError(option, `has an invalid name: use 1-128 letters, digits, '.', '_', '~' or '-' (not "." or "..", which URLs drop)`);
  }
  if (typeof group !== 'object' || group === null || Array.isArray(group)) throw new ConfigError(option, 'must be an object: { maxBytes, getter }');
  checkKnown(group, GROUP_OPTIONS, `${option}.`);
  if (!Number.isSafeInteger(group.maxBytes)) {
    const got = typeof group.maxBytes === 'number' ? group.maxBytes : JSON.stringify(group.maxBytes);
    throw new ConfigError(`${option}.maxBytes`, `must be a whole number of bytes (e.g. 64 << 20; 0 disables caching), got ${got}`);
  }
  if (group.getMany !== undefined && typeof group.getMany !== 'function')
    throw new ConfigError(`${option}.getMany`, 'must be a function (keys, { signal }) => Map or array of values that loads many missing values at once');
  if (typeof group.getter !== 'function' && !(group.getter === undefined && group.getMany)) {
    throw new ConfigError(
      `${option}.getter`,
      'must be a function (key, { signal }) => value that loads a missing value (or give getMany, (keys, { signal }) => Map of values, instead)',
    );
  }
  const defaults = DEFAULTS.group;
  const hot = group.hotCacheFraction ?? defaults.hotCacheFraction;
  if (!(typeof hot === 'number' && hot >= 0 && hot < 1)) {
    throw new ConfigError(`${option}.hotCacheFraction`, `must be a number from 0 up to (not including) 1, got ${JSON.stringify(hot)}`);
  }
  const jitter = group.ttlJitter ?? defaults.ttlJitter;
  if (!(typeof jitter === 'number' && jitter >= 0 && jitter < 1)) {
    throw new ConfigError(
      `${option}.ttlJitter`,
      `must be a fraction from 0 up to (not including) 1 (0.1: each TTL is cut by up to 10%), got ${JSON.stringify(jitter)}`,
    );
  }
  const ttlMs = ttlOption(group.ttlMs, `${option}.ttlMs`, defaults.ttlMs, '; 0 means values never expire');
  if (jitter > 0 && ttlMs === 0) throw new ConfigError(`${option}.ttlJitter`, 'needs ttlMs: set ttlMs (e.g. 60_000), or drop ttlJitter');
  const policy = group.policy ?? defaults.policy;
  if (!(POLICIES as readonly unknown[]).includes(policy)) {
    throw new ConfigError(
      `${option}.policy`,
      `must be one of ${POLICIES.map((p) => `'${p}'`).join(', ')}, got ${JSON.stringify(policy)}${suggest(policy, POLICIES)}`,
    );
  }
  return new GroupConfig({
    name,
    maxBytes: group.maxBytes,
    getter: group.getter,
    getMany: group.getMany,
    loadTimeoutMs: positive(group.loadTimeoutMs, `${option}.loadTimeoutMs`, defaults.loadTimeoutMs, false, MAX_TIMER_MS),
    maxKeyLength: positive(group.maxKeyLength, `${option}.maxKeyLength`, defaults.maxKeyLength),
    hotCacheFraction: hot,
    ttlMs,
    ttlJitter: jitter,
    staleMs: ttlOption(group.staleMs, `${option}.staleMs`, defaults.staleMs),
    hotTtlMs: ttlOption(group.hotTtlMs, `${option}.hotTtlMs`, defaults.hotTtlMs),
    notFoundTtlMs: ttlOption(group.notFoundTtlMs, `${option}.notFoundTtlMs`, defaults.notFoundTtlMs),
    policy: policy as CachePolicy,
  });
}

/**
 * A group's TTL option (ttlMs, staleMs, hotTtlMs, notFoundTtlMs): 0 or a positive number of ms
 * up to MAX_TTL_MS (100 years; see cache/freshness.ts: an expiry must fit the wire's int64 Unix
 * nanoseconds). A larger one is refused, not clamped.
 */
function ttlOption(value: unknown, option: string, fallback: number, zero = ''): number {
  if (typeof value === 'number' && value > MAX_TTL_MS) {
    throw new ConfigError(
      option,
      `must be at most ${MAX_TTL_MS} ms (100 years: expiries travel between peers as int64 Unix nanoseconds, which end in 2262)${zero}, got ${value}`,
    );
  }
  return positive(value, option, fallback, true);
}
