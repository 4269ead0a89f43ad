/**
 * freshness.ts decides how long values stay: a group's TTL settings turned into expiry times,
 * the checks a TTL passes, and the per-key guard that keeps a load which overlapped a remove, set,
 * clear or invalidation of one of its value's tags from storing its older value. (renewal.ts
 * keeps read copies fresh; this file says when they expire.)
 */

import { describe } from '../common/describe.js';
import type { ByteView } from './byteview.js';
import { TagRecords } from './tags.js';

/** A group's freshness settings (see GroupOptions for each); 0 turns a setting off. */
export interface FreshnessConfig {
  readonly ttlMs: number;
  readonly ttlJitter: number;
  readonly staleMs: number;
  readonly hotTtlMs: number;
  readonly notFoundTtlMs: number;
}

/**
 * Longest TTL geecache takes, in ms: 100 years. Larger ones are refused, never clamped — the
 * group's ttlMs, staleMs, hotTtlMs and notFoundTtlMs with a ConfigError, a getter's setTtl() and
 * set()'s ttlMs with a RangeError (a getter's RangeError fails that load) — because an expiry
 * travels between peers as int64 Unix nanoseconds (mailgun/groupcache's `expire`), which ends in
 * April 2262: now + 100 years (+ staleMs) stays inside it until the year 2162. For "never
 * expires" use 0 (the group's ttlMs), or no setTtl call.
 */
export const MAX_TTL_MS = 100 * 365.25 * 24 * 60 * 60 * 1000;

/**
 * `ms` if it is a TTL geecache takes (positive, finite, at most {@link MAX_TTL_MS}); throws a
 * TypeError (not a positive number) or RangeError (too large) naming `what` otherwise.
 */
export function checkTtl(ms: unknown, what: string): number {
  if (!(typeof ms === 'number' && ms > 0 && Number.isFinite(ms)))
    throw new TypeError(`${what} must be a positive number of milliseconds, got ${describe(ms, 64)}`);
  if (ms > MAX_TTL_MS)
    throw new RangeError(`${what} must be at most ${MAX_TTL_MS} (100 years: expiries travel as int64 Unix nanoseconds, which end in 2262), got ${ms}`);
  return ms;
}

/** First wait before a failed stale refresh is retried; doubled per failure up to {@link MAX_REFRESH_BACKOFF_MS}. */
export const REFRESH_BACKOFF_MS = 1_000;
/** Longest wait between retries of a failing stale refresh. */
export const MAX_REFRESH_BACKOFF_MS = 30_000;

/**
 * Date.now(), read at most once a millisecond: a hit on a group with staleMs compares each
 * entry's expiry with the clock, and reading the clock costs more than the rest of a hit on
 * some hosts (240-700 ns measured on the bench machine). The reading is kept until a 1 ms timer
 * clears it (lru-cache does the same for its TTLs), so within one long synchronous stretch it
 * can lag by that stretch's length: a stale entry may be served as fresh that much longer.
 */
export class CoarseClock {
  #now = 0;
  readonly #reset = () => {
    this.#now = 0;
  };

  now(): number {
    if (this.#now !== 0) return this.#now;
    this.#now = Date.now();
    setTimeout(this.#reset, 1).unref();
    return this.#now;
  }
}

/** Expiry arithmetic for one group. */
export class Freshness {
  readonly config: FreshnessConfig;

  constructor(config: FreshnessConfig) {
    this.config = config;
  }

  /**
   * When a value loaded now expires: `ttlMs` from the getter's setTtl, else the group's `ttlMs`
   * shortened by up to `ttlJitter` of itself (never lengthened: the configured TTL stays a
   * bound). undefined: never.
   */
  expiryOf(ttlMs: number | undefined, now = Date.now()): number | undefined {
    if (ttlMs !== undefined) return now + ttlMs;
    const { ttlMs: groupTtl, ttlJitter } = this.config;
    if (groupTtl <= 0) return undefined;
    return now + groupTtl * (1 - ttlJitter * Math.random());
  }

  /**
   * How long the owner keeps an entry expiring at `expiresAt` in its main cache: until it
   * expires plus `staleMs`, the window in which it is served stale while one refresh runs.
   */
  mainTtl(expiresAt: number | undefined, now = Date.now()): number | undefined {
    if (expiresAt === undefined) return undefined;
    return expiresAt - now + this.config.staleMs;
  }

  /**
   * How long a copy of a value this peer does not own may stay (hot copies, and values loaded
   * here because the owner could not be asked): until the value expires, and never longer than
   * `hotTtlMs`, so a copy that missed a remove heals by itself. undefined: forever; <= 0: do not
   * keep it at all (it is already expired, e.g. served stale by its owner). A hot copy's renewal
   * (lib/cache/renewal.ts) stores a value fetched anew, with a new copyTtl: never an old copy extended.
   */
  copyTtl(expiresAt: number | undefined, now = Date.now()): number | undefined {
    const cap = this.config.hotTtlMs > 0 ? this.config.hotTtlMs : undefined;
    if (expiresAt === undefined) return cap;
    const left = expiresAt - now;
    return cap === undefined ? left : Math.min(cap, left);
  }
}

/** One load of one key; `current` turns false when a remove, set or clear of the key overtakes it. */
export interface LoadTicket {
  readonly key: string;
  current: boolean;
  /** The tag epoch it began in (TagRecords): a tag invalidated since then is not stored with the value. */
  readonly epoch: number;
}

/**
 * Tickets of the loads in flight, by key. A load takes a ticket when it starts and stores its
 * result only if the ticket is still current when it ends: a remove, set or clear that arrives
 * meanwhile withdraws the key's tickets, so the older value a slow load read cannot win over it.
 * Holds only loads in flight, so it stays as small as they are.
 */
export class LoadGuard {
  readonly #loads = new Map<string, Set<LoadTicket>>();
  /** The group's tag invalidations: a load's value carrying a tag invalidated since it began is not stored either. */
  readonly tags = new TagRecords();

  /** A ticket for a load of `key` starting now. */
  begin(key: string): LoadTicket {
    const ticket = { key, current: true, epoch: this.tags.epoch };
    let set = this.#loads.get(key);
    if (!set) {
      set = new Set();
      this.#loads.set(key, set);
    }
    set.add(ticket);
    return ticket;
  }

  /** The load of `ticket` ended (stored or not). */
  end(ticket: LoadTicket): void {
    const set = this.#loads.get(ticket.key);
    if (!set) return;
    set.delete(ticket);
    if (set.size === 0) this.#loads.delete(ticket.key);
  }

  /** A remove or set of `key` happened: loads in flight may not store what they read. */
  withdraw(key: string): void {
    const set = this.#loads.get(key);
    if (!set) return;
    for (const ticket of set) ticket.current = false;
    this.#loads.delete(key);
  }

  /**
   * Whether the load of `ticket` may store `value`: no remove, set or clear of its key overtook it,
   * and none of the value's tags was invalidated since it began.
   */
  keeps(ticket: LoadTicket, value: ByteView): boolean {
    return ticket.current && (value.tagged === undefined || this.tags.fresh(value.tagged));
  }

  /** A clear happened: no load in flight may store anything. */
  withdrawAll(): void {
    for (const set of this.#loads.values()) for (const ticket of set) ticket.current = false;
    this.#loads.clear();
  }
}

/**
 * When a failed stale refresh of a key may run again: {@link REFRESH_BACKOFF_MS}, doubled per
 * failure, so a failing backend sees one retry per interval, not one per get. Forgets a key on
 * success, on a write of it, and forgets everything when it grows past `limit` keys.
 */
export class RefreshBackoff {
  readonly #next = new Map<string, { at: number; failures: number }>();
  readonly #limit: number;

  constructor(limit = 10_000) {
    this.#limit = limit;
  }

  /** True when a refresh of `key` may start now. */
  allowed(key: string, now = Date.now()): boolean {
    const entry = this.#next.get(key);
    return entry === undefined || now >= entry.at;
  }

  failed(key: string, now = Date.now()): void {
    const failures = (this.#next.get(key)?.failures ?? 0) + 1;
    if (this.#next.size >= this.#limit) this.#next.clear();
    this.#next.set(key, { at: now + Math.min(MAX_REFRESH_BACKOFF_MS, REFRESH_BACKOFF_MS * 2 ** (failures - 1)), failures });
  }

  forget(key: string): void {
    this.#next.delete(key);
  }

  clear(): void {
    this.#next.clear();
  }
}
