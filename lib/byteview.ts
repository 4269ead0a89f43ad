/** ES2024 string methods (Node 20 has them; the build targets ES2022's library). */
type WellFormed = string & { isWellFormed(): boolean; toWellFormed(): string };

/** The one empty value: every empty ByteView shares it, so an empty value costs no buffer. */
const EMPTY = Buffer.alloc(0);

/**
 * An immutable cached value: bytes or a string, as golang/groupcache's ByteView holds either.
 *
 * The cache hands the same value to every caller, so no caller may be able to change it: bytes
 * are copied once on the way in and again whenever a caller asks for a Buffer. A string is kept
 * as the string, so a getter that returns a string and a handler that sends `toString()` never
 * encode nor decode; it is encoded to UTF-8 only when it must travel as bytes (to a peer).
 */
export class ByteView {
  /** The bytes, or the string. */
  readonly #value: Buffer | string;
  /** Bytes in the value: the UTF-8 length of a string, counted once here. */
  readonly #length: number;
  /**
   * When the value stops being fresh, in milliseconds since the epoch (as `Date.now()`), or
   * undefined for a value that never expires — groupcache's immutable model. Set by the cache
   * from the group's `ttlMs` or the getter's `setTtl`; it travels with the value between peers.
   */
  readonly expiresAt: number | undefined;

  /**
   * Wraps `value`. Bytes are copied into memory of their own (see {@link ByteView.own}); with
   * `copy: false` the caller promises nobody else holds a reference, and a view that fills its
   * whole ArrayBuffer is kept as it is.
   */
  constructor(value: Buffer | Uint8Array | string, copy = true, expiresAt?: number) {
    if (typeof value === 'string') {
      // A lone surrogate has no UTF-8 form: keep what the bytes would say (U+FFFD), so the value
      // reads the same here and on a peer that gets it as bytes.
      const wellFormed = value as WellFormed;
      this.#value = wellFormed.isWellFormed() ? value : wellFormed.toWellFormed();
      this.#length = Buffer.byteLength(this.#value, 'utf8');
    } else {
      this.#value = copy ? ByteView.own(value) : ByteView.ownIfShared(value);
      this.#length = value.byteLength;
    }
    this.expiresAt = expiresAt;
  }

  /** Number of bytes in the value (UTF-8 bytes for a string). */
  get length(): number {
    return this.#length;
  }

  /** A copy of the bytes: mutating it does not change the cached value. */
  byteSlice(): Buffer {
    return typeof this.#value === 'string' ? Buffer.from(this.#value, 'utf8') : Buffer.from(this.#value);
  }

  /** The value as a string: the string itself, or the bytes decoded as UTF-8. */
  toString(): string {
    return typeof this.#value === 'string' ? this.#value : this.#value.toString('utf8');
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

  /**
   * The bytes, uncopied (a string is encoded each time), for the library's own writes to the network.
   * @internal The caller must not keep or modify them.
   */
  static unwrap(view: ByteView): Buffer {
    const value = view.#value;
    return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  }

  /**
   * A copy of `bytes` in an ArrayBuffer of its own. Not `Buffer.from`: that copies a small value
   * into Node's shared 8 KB pool, beside the getter's own soon-dead buffers, and one cached value
   * then keeps the whole slab alive (2.5× RSS per cached MB for 1 KB values, issue 13).
   */
  static own(bytes: Uint8Array): Buffer {
    if (bytes.byteLength === 0) return EMPTY;
    const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
    copy.set(bytes);
    return copy;
  }

  /**
   * `bytes` as a Buffer without a copy when it fills (7/8 or more of) its ArrayBuffer — a peer's
   * answer to one get: the value after a few bytes of protobuf — else a copy: a value decoded
   * from a batch answer is a slice of the whole answer, and caching the slice would keep every
   * other value of that batch alive (10× retention, issue 13).
   */
  static ownIfShared(bytes: Uint8Array): Buffer {
    if (bytes.byteLength === 0) return EMPTY;
    if (bytes.byteLength * 8 >= bytes.buffer.byteLength * 7) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return ByteView.own(bytes);
  }
}
