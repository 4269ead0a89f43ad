/**
 * writeorder.ts puts a group's writes in order on each peer: every set, remove and clear carries a
 * version from its writer's clock, and a peer applies a write only if it is newer than the writes
 * of that key (and the clears of the group) it applied before. A write that arrives late — held
 * back on the network, or sent again — changes nothing.
 *
 * What a version means. A hybrid logical clock (HLC), one per group on each peer: a version is
 * the writer's wall clock in microseconds-sized steps (milliseconds × 1000), but never less than
 * one more than any version this peer made or took before. So:
 * - Writes made one after the other on one peer are in that order, whatever its clock does.
 * - A write made after its writer saw another (took it, or was told of it by a refusal) is newer
 *   than it, whatever the two clocks say.
 * - Writes of one key by two peers that did not see each other's are ordered by their clocks: as
 *   NTP keeps them, within milliseconds of real time. A writer whose clock is behind is told the
 *   newer version when its set is refused (409); its clock moves past it and the set is sent once
 *   more with a newer version (cache/writes.ts), so a set that started after another one finished
 *   is not lost to clock skew.
 *
 * The guarantee (docs/freshness.md): on each peer, a set or remove of a key is applied only if
 * its version is newer than every write of that key and every clear applied there before; a
 * clear only if newer than every clear. What is refused changes nothing, and the writer is told
 * the newer version. Removes that arrive older than anything remembered are applied anyway: a
 * remove only ever makes a peer load again, never serve an older value.
 *
 * Memory is bounded: versions are remembered for {@link REMEMBER_MS} (a write can arrive at most
 * that long after a newer one: its signature is refused after 30 s, either way), at most
 * {@link MAX_REMEMBERED} keys per period. What is forgotten raises a floor instead: a set at or
 * below it is refused as older (its writer retries above it), so forgetting never lets an old set
 * through. A new WriteOrder starts with the floor 30 s ahead, so a set captured before this peer
 * (re)started is refused too.
 */

/** How long a captured signed request stays valid either way of its timestamp (protocol/auth.ts MAX_CLOCK_SKEW_MS). */
export const SIGNATURE_WINDOW_MS = 30_000;
/**
 * How long a key's last version is remembered at least. A write older than a newer one it
 * arrives after was signed before it: both signatures are within 30 s of this clock when they
 * arrive, and their writers' clocks within 30 s of each other, so 90 s covers every order.
 */
export const REMEMBER_MS = 3 * SIGNATURE_WINDOW_MS;
/** Most keys remembered per period (two periods are kept); past it the older period is forgotten early. */
export const MAX_REMEMBERED = 20_000;
/** Versions per millisecond of the clock: the logical counter's room (a version is ms × 1000 + counter). */
const STEPS_PER_MS = 1000;

/** A hybrid logical clock: versions that only grow, close to the wall clock. */
export class WriteClock {
  #last = 0;

  /** A version newer than every one this clock made or observed. */
  next(now = Date.now()): number {
    const wall = Math.floor(now) * STEPS_PER_MS;
    this.#last = wall > this.#last ? wall : this.#last + 1;
    return this.#last;
  }

  /** Moves past `version` (one taken from another peer, or the newer one a refusal named). */
  observe(version: number): void {
    if (version > this.#last) this.#last = version;
  }

  /** The newest version made or observed. */
  get last(): number {
    return this.#last;
  }
}

/** The wall-clock time (ms since the epoch) a version was made at, within its writer's clock. */
export const versionTime = (version: number): number => Math.floor(version / STEPS_PER_MS);

/** A write as the order sees it: a set or remove of a key, or a clear (no key). */
export interface VersionedWrite {
  kind: 'set' | 'remove' | 'clear';
  /** Absent for a clear. */
  key?: string;
  version: number;
}

/** A write refused because a newer one was applied: `newer` is that one's version. */
export class StaleWriteError extends Error {
  readonly newer: number;
  constructor(message: string, newer: number) {
    super(message);
    this.name = 'StaleWriteError';
    this.newer = newer;
  }
}

/** The versions of the writes a group applied on this peer, and its clock. */
export class WriteOrder {
  readonly clock = new WriteClock();
  /** Keys' last applied versions, this period and the one before. */
  #current = new Map<string, number>();
  #previous = new Map<string, number>();
  #currentMax = 0;
  #previousMax = 0;
  #periodStart: number;
  /** Every forgotten version is at most this: a set at or below it is refused. */
  #floor: number;
  /** The last clear applied. */
  #clearedAt = 0;

  constructor(now = Date.now()) {
    this.#periodStart = now;
    this.#floor = (now + SIGNATURE_WINDOW_MS) * STEPS_PER_MS;
    this.clock.observe(this.#floor);
  }

  /**
   * Whether `write` is newer than what was applied here: undefined when it is — then it is
   * remembered as applied, and the clock moves past it — else the newer version it lost to.
   */
  admit(write: VersionedWrite, now = Date.now()): number | undefined {
    this.#rotate(now);
    const { kind, key, version } = write;
    if (kind === 'clear' || key === undefined) {
      if (version <= this.#clearedAt) return this.#clearedAt;
      this.#clearedAt = version;
    } else {
      const last = this.#current.get(key) ?? this.#previous.get(key) ?? 0;
      // A set must also beat what was forgotten; a remove needs not (it never brings an old value back).
      const bar = Math.max(last, this.#clearedAt, kind === 'set' ? this.#floor : 0);
      if (version <= bar) return bar;
      if (this.#current.size >= MAX_REMEMBERED && !this.#current.has(key)) this.#forgetOlder(now);
      this.#current.set(key, version);
      if (version > this.#currentMax) this.#currentMax = version;
    }
    this.clock.observe(version);
    return undefined;
  }

  /** Keys remembered now (for tests and diagnostics). */
  get size(): number {
    return this.#current.size + this.#previous.size;
  }

  /** Starts a new period once REMEMBER_MS passed: the one before it is forgotten. */
  #rotate(now: number): void {
    if (now - this.#periodStart >= REMEMBER_MS) this.#forgetOlder(now);
  }

  #forgetOlder(now: number): void {
    if (this.#previousMax > this.#floor) this.#floor = this.#previousMax;
    this.#previous = this.#current;
    this.#previousMax = this.#currentMax;
    this.#current = new Map();
    this.#currentMax = 0;
    this.#periodStart = now;
  }
}
