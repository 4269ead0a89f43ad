/**
 * tags.ts: the tags a cached value carries (a getter's `ctx.tags('product:42')`, set's `{ tags }`)
 * and the tag invalidations this process applied (group.invalidateTags, here or sent by a peer).
 *
 * Invalidation is lazy: each tagged value holds the group's invalidation count (its "epoch") as
 * it was when the value's load began, and a value one of whose tags was invalidated after that
 * is stale — found so when it is next read, and dropped then. So an invalidation costs the same
 * for one key or a million, a load that began before it never stores what it read (LoadGuard,
 * freshness.ts), and a get of a value without tags checks one field.
 *
 * Between peers, an invalidation carries an id, and a tagged value its "marks": for each of its
 * tags, the id of the last invalidation of that tag its owner had applied when it loaded it. A
 * peer that applied an invalidation keeps no copy from an owner that had not yet (the owner's
 * marks differ from its own), so a copy fetched while the invalidation still travels cannot
 * outlive it.
 */

import { describe } from '../common/describe.js';

/** Most tags one value may carry. */
export const MAX_TAGS_PER_VALUE = 64;
/** Longest tag, in UTF-16 code units. */
export const MAX_TAG_LENGTH = 256;
/** Most tags one invalidateTags call takes (one request per peer carries them all). */
export const MAX_TAGS_PER_INVALIDATION = 1_000;
/**
 * Most invalidated tags remembered. Past it the oldest record goes, and every tagged value loaded
 * before it counts as stale (tags are checked against a floor instead): never a value served that
 * a forgotten invalidation covered, at worst a reload of values it did not.
 */
export const MAX_TAG_RECORDS = 100_000;
/**
 * How long after applying an invalidation a peer compares an owner's marks with its own: long
 * enough for the invalidation to reach every peer it can reach (an unreachable one is then
 * pending, retried every second, and copies from it are bounded by hotTtlMs as after a missed remove).
 */
export const MARK_WINDOW_MS = 60_000;
/** Most distinct TagSets kept for values to share, and most tag strings kept to share (then each starts over). */
const MAX_SHARED = 10_000;

/**
 * What a tagged value costs beyond its bytes, counted in maxBytes: a share of its TagSet. A
 * TagSet is shared by every value loaded with the same tags between two invalidations, so what a
 * value really adds lies between nothing (a tag all values share: ~0 bytes per pair, bench row
 * tags) and ~72 bytes per pair (a tag of its own, a new string each load); this counts the middle.
 */
export const TAGGED_VALUE_BYTES = 32;
/** What each of a value's tags costs besides its text (see TAGGED_VALUE_BYTES). */
export const TAG_SLOT_BYTES = 16;

/** The empty tag list every value without tags answers. */
export const NO_TAGS: readonly string[] = Object.freeze([]);

/**
 * The tags of one value, after the epoch its load began in and its owner's marks (undefined when
 * no tag had been invalidated there): `[epoch, tagMarks, ...tags]`, one flat frozen array
 * (48 bytes + 8 per tag on a 64-bit V8; an object holding an array of the tags took 48 more),
 * shared by the values with the same three. Read it with the helpers below.
 */
export type TagSet = readonly [epoch: number, tagMarks: readonly number[] | undefined, ...tags: string[]];

/** Where a TagSet's tags start. */
const FIRST_TAG = 2;

/** A TagSet's tags (a new array: for the public ByteView.tags and the wire, not the hot path). */
export function tagList(set: TagSet): readonly string[] {
  return set.slice(FIRST_TAG) as string[];
}

/** A TagSet as it travels: its tags, and its owner's marks when it has some. */
export function wireTags(set: TagSet): { tags: readonly string[]; tagMarks?: readonly number[] } {
  return set[1] === undefined ? { tags: tagList(set) } : { tags: tagList(set), tagMarks: set[1] };
}

/** What a tagged value costs in maxBytes beyond its key and bytes (0 without tags). */
export function tagCost(set: TagSet | undefined): number {
  if (set === undefined) return 0;
  let cost = TAGGED_VALUE_BYTES;
  for (let i = FIRST_TAG; i < set.length; i++) cost += TAG_SLOT_BYTES + (set[i] as string).length;
  return cost;
}

/**
 * `tags` checked and without repeats: strings of 1 to MAX_TAG_LENGTH characters, well-formed
 * Unicode (they travel as UTF-8), at most `max` of them. Throws a TypeError or RangeError naming
 * `what` otherwise.
 */
export function checkTags(tags: unknown, what: string, max = MAX_TAGS_PER_VALUE): readonly string[] {
  if (!Array.isArray(tags)) throw new TypeError(`${what} must be an array of strings, got ${describe(tags)}`);
  if (tags.length === 0) return NO_TAGS;
  const seen = new Set<string>();
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0) throw new TypeError(`${what}: each tag must be a non-empty string, got ${describe(tag, 64)}`);
    if (tag.length > MAX_TAG_LENGTH)
      throw new RangeError(`${what}: a tag is ${tag.length} characters, over ${MAX_TAG_LENGTH}: ${JSON.stringify(tag.slice(0, 64))}…`);
    if (!(tag as string & { isWellFormed(): boolean }).isWellFormed()) throw new TypeError(`${what}: tag ${JSON.stringify(tag)} is not well-formed Unicode`);
    seen.add(tag);
  }
  if (seen.size > max) throw new RangeError(`${what}: ${seen.size} tags, over the limit of ${max}`);
  return Object.freeze([...seen]);
}

/** `current` with `more` added (a getter's tags() calls add up), checked as {@link checkTags} does. */
export function addTags(current: readonly string[] | undefined, more: unknown[], what: string): readonly string[] {
  return checkTags(current === undefined ? more : [...current, ...more], what);
}

/** One invalidation of a tag as applied here. */
interface TagRecord {
  /** The epoch it started (values loaded before it, with this tag, are stale). */
  readonly epoch: number;
  /** Its cluster-wide id (what owners' marks name). */
  readonly id: number;
  /** Date.now() when applied (marks are compared for MARK_WINDOW_MS). */
  readonly at: number;
}

/** The tag invalidations one group applied on this process, and the TagSets its values share. */
export class TagRecords {
  #epoch = 0;
  /** Tagged values loaded before this epoch are stale (records were dropped for room). */
  #floor = 0;
  /** By tag, oldest first (an invalidated tag moves to the end). */
  readonly #records = new Map<string, TagRecord>();
  readonly #shared = new Map<string, TagSet>();
  /** Tag strings seen lately, so that values share one string per tag, not one each. */
  readonly #strings = new Map<string, string>();

  /** How many invalidations were applied: a load takes it when it begins. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Tags remembered as invalidated. */
  get size(): number {
    return this.#records.size;
  }

  /** Applies an invalidation of `tags` (checked) with cluster-wide `id`: every value loaded before now carrying one of them is stale. */
  invalidate(tags: readonly string[], id: number, now = Date.now()): void {
    const epoch = ++this.#epoch;
    for (const tag of tags) {
      this.#records.delete(tag);
      this.#records.set(tag, { epoch, id, at: now });
    }
    for (const [tag, record] of this.#records) {
      if (this.#records.size <= MAX_TAG_RECORDS) break;
      this.#records.delete(tag);
      this.#floor = Math.max(this.#floor, record.epoch);
    }
    this.#shared.clear();
  }

  /** False when one of the value's tags was invalidated after its load began. */
  fresh(set: TagSet): boolean {
    const epoch = set[0];
    if (epoch === this.#epoch) return true;
    if (epoch < this.#floor) return false;
    for (let i = FIRST_TAG; i < set.length; i++) {
      const record = this.#records.get(set[i] as string);
      if (record !== undefined && record.epoch > epoch) return false;
    }
    return true;
  }

  /**
   * True when an owner that sent a value with `tags` and `marks` had applied every invalidation
   * of those tags this process applied within MARK_WINDOW_MS: only then may a copy be kept.
   */
  agrees(tags: readonly string[], marks: readonly number[] | undefined, now = Date.now()): boolean {
    if (this.#records.size === 0) return true;
    for (let i = 0; i < tags.length; i++) {
      const record = this.#records.get(tags[i]);
      if (record !== undefined && now - record.at < MARK_WINDOW_MS && record.id !== (marks?.[i] ?? 0)) return false;
    }
    return true;
  }

  /**
   * The TagSet of a value with `tags` (checked) whose load began at `epoch`, shared with every
   * other such value; `marks` are its owner's, or (undefined) this process's own. Undefined for no tags.
   */
  stamp(tags: readonly string[] | undefined, epoch: number, marks?: readonly number[]): TagSet | undefined {
    if (tags === undefined || tags.length === 0) return undefined;
    const own = marks === undefined ? this.#marksOf(tags) : marks.some((m) => m !== 0) ? marks : undefined;
    const id = `${epoch}|${own?.join(',') ?? ''}|${tags.join('\u0000')}`;
    let set = this.#shared.get(id);
    if (set === undefined) {
      if (this.#shared.size >= MAX_SHARED) this.#shared.clear();
      // concat, not a spread: an array built by spreading or pushing keeps room to grow (268 bytes
      // measured for two tags, against 140 for one of exact size).
      set = Object.freeze(([epoch, own] as unknown[]).concat(tags.map((tag) => this.#string(tag)))) as unknown as TagSet;
      this.#shared.set(id, set);
    }
    return set;
  }

  /** The shared string of `tag`. */
  #string(tag: string): string {
    const seen = this.#strings.get(tag);
    if (seen !== undefined) return seen;
    if (this.#strings.size >= MAX_SHARED) this.#strings.clear();
    this.#strings.set(tag, tag);
    return tag;
  }

  /** This process's marks for `tags`: the id of each one's last invalidation here (0: none), or undefined when none has one. */
  #marksOf(tags: readonly string[]): readonly number[] | undefined {
    if (this.#records.size === 0) return undefined;
    let marks: number[] | undefined;
    for (let i = 0; i < tags.length; i++) {
      const id = this.#records.get(tags[i])?.id;
      if (id === undefined) continue;
      marks ??= new Array<number>(tags.length).fill(0);
      marks[i] = id;
    }
    return marks;
  }
}
