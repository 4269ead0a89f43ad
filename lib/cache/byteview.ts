/**
 * byteview.ts holds a cached value: ByteView, the immutable bytes (or string) a get returns, laid out in
 * memory so that a full cache costs about what maxBytes says.
 */

import { isAscii } from 'node:buffer';
import { NO_TAGS, type TagSet, tagList } from './tags.js';

/** ES2024 string methods (Node 20 has them; the build targets ES2022's library). */
type WellFormed = string & { isWellFormed(): boolean; toWellFormed(): string };

/** The one empty value: every empty ByteView shares it, so an empty value costs no buffer. */
const EMPTY = Buffer.alloc(0);

/**
 * Values up to this many bytes are kept as strings in V8's heap, larger ones as Buffers of their
 * own. A Buffer of its own is a malloc'd block (plus its ArrayBuffer's bookkeeping, ~200 B), and
 * after a cache churned, glibc keeps the freed blocks scattered between the live ones: RSS per
 * byte held was 1.9× for 1 KB values, 2.4× for 256 B, 1.6× for 4 KB, and 1.41-1.45× from 16 KB
 * up; held as strings it is 1.19-1.30× at every size, because V8's compacting GC moves live
 * strings together and gives whole pages back (BENCHMARKS.md, "memory"). Above this size the
 * gain is small and a send would copy more: large values stay Buffers, sent without a copy.
 */
export const HEAP_VALUE_MAX_BYTES = 16 * 1024;

/**
 * The warning to give when caches of `totalMaxBytes` (the sum of a process's groups' maxBytes)
 * may not fit V8's heap of `heapLimit` bytes (`v8.getHeapStatistics().heap_size_limit`), or
 * undefined. Values up to HEAP_VALUE_MAX_BYTES live in that heap: a process whose full caches
 * need more would die of "heap out of memory". Half the limit leaves room for the app's own heap
 * and for the garbage of a churning cache.
 */
export function heapLimitWarning(totalMaxBytes: number, heapLimit: number): string | undefined {
  if (totalMaxBytes * 2 <= heapLimit) return undefined;
  const mib = (bytes: number) => Math.ceil(bytes / 2 ** 20);
  return (
    `geecache: the groups' maxBytes add up to ${mib(totalMaxBytes)} MiB, more than half of V8's heap limit (${mib(heapLimit)} MiB), ` +
    `and values up to ${HEAP_VALUE_MAX_BYTES / 1024} KiB are kept in that heap: full caches of small values could end the process with "heap out of memory". ` +
    `Start node with --max-old-space-size=${mib(totalMaxBytes) * 2 + 512} (twice maxBytes, plus 512 MiB for the app; or NODE_OPTIONS), or lower maxBytes. ` +
    'Values over that size live outside the heap: if all of yours are larger, ignore this.'
  );
}

/**
 * An immutable cached value: bytes or a string, as golang/groupcache's ByteView holds either.
 *
 * The cache hands the same value to every caller, so no caller may be able to change it: bytes
 * are copied once on the way in, and a caller asking for a Buffer gets a copy. A string is kept
 * as the string, so a getter that returns a string and a handler that sends `toString()` never
 * encode nor decode; it is encoded to UTF-8 only when it must travel as bytes (to a peer).
 *
 * Bytes up to {@link HEAP_VALUE_MAX_BYTES} are copied into a string of one character per byte
 * (latin1), which V8 keeps in its heap at one byte per character: no malloc'd block per value
 * (see HEAP_VALUE_MAX_BYTES for why). Bytes that are ASCII are then the very string their UTF-8
 * decoding is, so `toString()` of them costs nothing; other bytes are decoded on each call.
 */
export class ByteView {
  /** The bytes (a value over HEAP_VALUE_MAX_BYTES), or the string. */
  readonly #value: Buffer | string;
  /** Bytes in the value: the UTF-8 length of a string, counted once here. */
  readonly #length: number;
  /**
   * True when #value is bytes kept one per character (latin1) that are not all ASCII: their
   * text is their UTF-8 decoding, not the string. False for a string whose bytes are its UTF-8
   * encoding (a getter's string, or ASCII bytes, where latin1 and UTF-8 agree).
   */
  readonly #latin1: boolean;
  /**
   * When the value stops being fresh, in milliseconds since the epoch (as `Date.now()`), or
   * undefined for a value that never expires — groupcache's immutable model. Set by the cache
   * from the group's `ttlMs` or the getter's `setTtl`; it travels with the value between peers.
   */
  readonly expiresAt: number | undefined;
  /**
   * @internal The adaptive cache policy's count of this value's reads while it is cached, and the
   * period it was counted in (cache/policy/tinylfu.ts): a hit bumps it instead of hashing its key.
   */
  policyTally = 0;
  /**
   * The value's tags, with the epoch its load began in and its owner's marks (cache/tags.ts);
   * undefined for a value without tags, so a get of one checks this field and nothing else.
   * @internal Read {@link ByteView.tags}.
   */
  readonly tagged: TagSet | undefined;

  /**
   * Wraps `value`. Bytes are copied into memory of their own (a string, or see
   * {@link ByteView.own}); with `copy: false` the caller promises nobody else holds a reference,
   * and a large view that fills its whole ArrayBuffer is kept as it is.
   */
  constructor(value: Buffer | Uint8Array | string, copy = true, expiresAt?: number, tagged?: TagSet) {
    if (typeof value === 'string') {
      // A lone surrogate has no UTF-8 form: keep what the bytes would say (U+FFFD), so the value
      // reads the same here and on a peer that gets it as bytes.
      const wellFormed = value as WellFormed;
      this.#value = wellFormed.isWellFormed() ? value : wellFormed.toWellFormed();
      this.#length = Buffer.byteLength(this.#value, 'utf8');
      this.#latin1 = false;
    } else if (value.byteLength <= HEAP_VALUE_MAX_BYTES) {
      const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      this.#value = bytes.toString('latin1');
      this.#length = bytes.byteLength;
      this.#latin1 = !isAscii(bytes);
    } else {
      this.#value = copy ? ByteView.own(value) : ByteView.ownIfShared(value);
      this.#length = value.byteLength;
      this.#latin1 = false;
    }
    this.expiresAt = expiresAt;
    this.tagged = tagged;
  }

  /** The tags the value carries (a getter's `ctx.tags(...)`, set's `{ tags }`); empty for most values. */
  get tags(): readonly string[] {
    return this.tagged === undefined ? NO_TAGS : tagList(this.tagged);
  }

  /** Number of bytes in the value (UTF-8 bytes for a string). */
  get length(): number {
    return this.#length;
  }

  /** A copy of the bytes: mutating it does not change the cached value. */
  byteSlice(): Buffer {
    const value = this.#value;
    return typeof value === 'string' ? this.#encode(value) : Buffer.from(value);
  }

  /** The value as a string: the string itself, or the bytes decoded as UTF-8. */
  toString(): string {
    const value = this.#value;
    if (typeof value !== 'string') return value.toString('utf8');
    return this.#latin1 ? Buffer.from(value, 'latin1').toString('utf8') : value;
  }

  /** The value parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.toString()) as T;
  }

  /** True when both views hold the same bytes. */
  equals(other: ByteView | Buffer | Uint8Array | string): boolean {
    const theirs = other instanceof ByteView ? ByteView.unwrap(other) : typeof other === 'string' ? Buffer.from(other) : other;
    return ByteView.unwrap(this).equals(theirs);
  }

  /** The bytes of a string #value: latin1 when it has one character per byte (bytes kept as latin1, or ASCII), else UTF-8. */
  #encode(value: string): Buffer {
    return Buffer.from(value, this.#latin1 || value.length === this.#length ? 'latin1' : 'utf8');
  }

  /**
   * The bytes, for the library's own writes to the network: a large value's own Buffer, uncopied;
   * a value held as a string is encoded each time (a copy of at most HEAP_VALUE_MAX_BYTES).
   * @internal The caller must not keep or modify them.
   */
  static unwrap(view: ByteView): Buffer {
    const value = view.#value;
    if (typeof value !== 'string') return value;
    return value.length === 0 ? EMPTY : view.#encode(value);
  }

  /**
   * What the view holds: its string, or its Buffer (whose ArrayBuffer is then all it keeps alive).
   * @internal For tests of what a cached value retains.
   */
  static held(view: ByteView): Buffer | string {
    return view.#value;
  }

  /**
   * A copy of `bytes` in an ArrayBuffer of its own (for values over HEAP_VALUE_MAX_BYTES). Not
   * `Buffer.from`: that copies a small value into Node's shared 8 KB pool, beside the getter's own
   * soon-dead buffers, and one cached value then keeps the whole slab alive (2.5× RSS per cached
   * MB for 1 KB values, measured by the memory bench row).
   */
  static own(bytes: Uint8Array): Buffer {
    if (bytes.byteLength === 0) return EMPTY;
    const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
    copy.set(bytes);
    return copy;
  }

  /**
   * `bytes` (over HEAP_VALUE_MAX_BYTES) as a Buffer without a copy when it fills (7/8 or more of)
   * its ArrayBuffer — a peer's answer to one get: the value after a few bytes of protobuf — else a copy: a value decoded
   * from a batch answer is a slice of the whole answer, and caching the slice would keep every
   * other value of that batch alive (10× retention, measured by the memory bench row).
   */
  static ownIfShared(bytes: Uint8Array): Buffer {
    if (bytes.byteLength === 0) return EMPTY;
    if (bytes.byteLength * 8 >= bytes.buffer.byteLength * 7) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return ByteView.own(bytes);
  }
}
