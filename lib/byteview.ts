/**
 * An immutable view of a cached value's bytes.
 *
 * The cache hands the same value to every caller, so no caller may be able to change it:
 * the bytes are copied once on the way in and again whenever a caller asks for a Buffer.
 */
export class ByteView {
  readonly #bytes: Buffer;
  /**
   * When the value stops being fresh, in milliseconds since the epoch (as `Date.now()`), or
   * undefined for a value that never expires — groupcache's immutable model. Set by the cache
   * from the group's `ttlMs` or the getter's `setTtl`; it travels with the value between peers.
   */
  readonly expiresAt: number | undefined;

  /** Wraps `bytes`. With `copy: false` the caller promises nobody else holds a reference. */
  constructor(bytes: Buffer | Uint8Array | string, copy = true, expiresAt?: number) {
    if (typeof bytes === 'string') this.#bytes = Buffer.from(bytes, 'utf8');
    else this.#bytes = copy ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.expiresAt = expiresAt;
  }

  /** Number of bytes in the value. */
  get length(): number {
    return this.#bytes.length;
  }

  /** A copy of the bytes: mutating it does not change the cached value. */
  byteSlice(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /** The bytes decoded as UTF-8. */
  toString(): string {
    return this.#bytes.toString('utf8');
  }

  /** The bytes parsed as JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.toString()) as T;
  }

  /** True when both views hold the same bytes. */
  equals(other: ByteView | Buffer | Uint8Array | string): boolean {
    const theirs = other instanceof ByteView ? other.#bytes : typeof other === 'string' ? Buffer.from(other) : other;
    return this.#bytes.equals(theirs);
  }

  /**
   * The bytes themselves, uncopied, for the library's own writes to the network.
   * @internal The caller must not keep or modify them.
   */
  static unwrap(view: ByteView): Buffer {
    return view.#bytes;
  }
}
