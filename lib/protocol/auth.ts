/**
 * auth.ts signs and verifies peer requests: HMAC-SHA256 with the shared secret over the request line, the
 * time and the body's digest, accepted within a clock window.
 */

import { createHash, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

/**
 * How far a signed request's clock may be from ours: the window in which a captured request can
 * be replayed (to the same peer, for the same request line and body only). 30 s: NTP keeps
 * servers within milliseconds of each other, and a peer whose clock is further off is named
 * in a warning (peermonitor.ts) instead of silently refused.
 */
export const MAX_CLOCK_SKEW_MS = 30_000;

/** Most verified signatures remembered; the memo starts over when full. */
const MAX_VERIFIED = 10_000;

/** A signature header: `<milliseconds>.<64 hex digits of HMAC-SHA256>`. */
const SIGNATURE = /^([1-9][0-9]{0,15})\.([0-9a-f]{64})$/;

/** Version tag of what the MAC covers (see #mac); a change of the signed fields changes it. */
const SCHEME = 'geecache-v3';

/** What a signature covers besides the time: everything a server acts on before reading a body. */
export interface SignedRequest {
  method: string;
  /**
   * The target peer's origin and the whole request target as sent, query included:
   * `http://10.0.0.2:3000/_geecache/scores/k`. A signature for one peer is refused by every other.
   */
  url: string;
  /** The Content-Length header as sent ('' when there is none: a GET). */
  length: string;
  /** The body's SHA-256 in hex, as the digest header carries it ('' without a body). */
  digest: string;
  /** The asker's membership digest (RING_HEADER) as sent; '' or absent without one. */
  ring?: string;
  /** A write's version and nonce (WRITE_HEADER) as sent; '' or absent on anything but a write. */
  write?: string;
}

/** The headers a signature covers besides the request line and the body: see {@link SignedRequest}. */
export interface SignedHeaders {
  ring?: string;
  write?: string;
}

/** A body as a signature covers it: its length in bytes and its digest ({@link digestOf}). */
export interface BodyDigest {
  readonly length: number;
  readonly digest: string;
}

/** SHA-256 of a body in hex, as the digest header carries it. */
export const digestOf = (body: Uint8Array): string => createHash('sha256').update(body).digest('hex');

/**
 * Signs and checks requests between peers with a shared secret: an HMAC-SHA256 of the method,
 * the target peer's origin, the whole request line (path and query), a timestamp, the body's
 * length and SHA-256 digest, and the geecache headers a server acts on or logs (the membership
 * digest; a write's version and nonce). The secret never crosses the wire; a server can check all of it
 * from the headers before it reads a single body byte (then checks the body against the digest);
 * a captured request only replays against the same peer, with the same request line and body,
 * for {@link MAX_CLOCK_SKEW_MS}.
 */
export class RequestSigner {
  /**
   * The secret as a key object, made once: an HMAC from a string secret re-imports the key on
   * every call, a KeyObject is handed to OpenSSL as it is.
   */
  readonly #key: KeyObject;
  /**
   * Signatures of body-less requests already verified, by signature, with what they signed. Hot
   * keys are fetched again and again; the client signs with whole-second timestamps (signFor) so
   * those repeat, and a repeat costs a map lookup and two string comparisons instead of an HMAC.
   * Accepting a repeat is no weaker than before: any valid signature can be replayed within the
   * freshness window anyway, and only for the method and URL it was made for.
   */
  readonly #verified = new Map<string, Verified>();
  /** The client's signatures for the current second, by method and URL, with the membership digest each signed. */
  #signed = new Map<string, { ring: string; signature: string }>();
  #signedSecond = 0;

  constructor(secret: string) {
    this.#key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  /**
   * The signature header for `method` on `url` (the target peer's origin + the request target),
   * with its body if any: the body itself, or its length and digest (digestOf) when the caller
   * hashed it already. A body must also travel with its digest: see {@link bodyHeaders}.
   */
  sign(method: string, url: string, now = Date.now(), body?: Uint8Array | BodyDigest, headers: SignedHeaders = {}): string {
    const length = body ? String(body.length) : '';
    const digest = body === undefined ? '' : body instanceof Uint8Array ? digestOf(body) : body.digest;
    return `${now}.${this.#mac(method, url, length, digest, headers.ring ?? '', headers.write ?? '', now).toString('hex')}`;
  }

  /**
   * A signature for a body-less request, reused for the rest of the current second (see
   * #verified): a client asking for a hot key signs it once a second, not once a request.
   */
  signFor(method: string, url: string, now = Date.now(), ring = ''): string {
    const second = now - (now % 1000);
    if (second !== this.#signedSecond) {
      this.#signed = new Map();
      this.#signedSecond = second;
    }
    const key = `${method} ${url}`;
    const seen = this.#signed.get(key);
    if (seen !== undefined && seen.ring === ring) return seen.signature;
    const signature = this.sign(method, url, second, undefined, { ring });
    this.#signed.set(key, { ring, signature });
    return signature;
  }

  /** True when `header` is a valid, fresh signature of `request`. Constant-time in the MAC. */
  verify(request: SignedRequest, header: string | undefined, now = Date.now()): boolean {
    const { method, url, length, digest, ring = '', write = '' } = request;
    if (length === '' && digest === '' && write === '') return this.verifyBodyless(method, '', url, header, now, ring);
    return this.#verifyMac(method, url, length, digest, ring, write, header, now) !== undefined;
  }

  /**
   * {@link verify} for a request without a body, its URL given in two parts (`origin` +
   * `target`, as the server has them) so that a remembered signature is checked without
   * building the URL: the peer route's hot path. Not for writes (their WRITE_HEADER is never
   * the same twice: see verify).
   */
  verifyBodyless(method: string, origin: string, target: string, header: string | undefined, now = Date.now(), ring = ''): boolean {
    if (header === undefined) return false;
    const seen = this.#verified.get(header);
    if (
      seen !== undefined &&
      seen.method === method &&
      seen.ring === ring &&
      seen.url.length === origin.length + target.length &&
      seen.url.startsWith(origin) &&
      seen.url.endsWith(target)
    )
      return Math.abs(now - seen.ts) <= MAX_CLOCK_SKEW_MS;
    const url = origin + target;
    const ts = this.#verifyMac(method, url, '', '', ring, '', header, now);
    if (ts === undefined) return false;
    if (this.#verified.size >= MAX_VERIFIED) this.#verified.clear();
    this.#verified.set(header, { method, url, ring, ts });
    return true;
  }

  /** The timestamp of `header` when it is a valid, fresh signature of the request, else undefined. */
  #verifyMac(
    method: string,
    url: string,
    length: string,
    digest: string,
    ring: string,
    write: string,
    header: string | undefined,
    now: number,
  ): number | undefined {
    // Exactly what sign() writes: a lax parse would accept junk after the MAC, or two headers joined.
    const match = header === undefined ? null : SIGNATURE.exec(header);
    if (!match) return undefined;
    const ts = Number(match[1]);
    if (!Number.isSafeInteger(ts) || Math.abs(now - ts) > MAX_CLOCK_SKEW_MS) return undefined;
    const given = Buffer.from(match[2], 'hex');
    const expected = this.#mac(method, url, length, digest, ring, write, ts);
    return given.length === expected.length && timingSafeEqual(given, expected) ? ts : undefined;
  }

  #mac(method: string, url: string, length: string, digest: string, ring: string, write: string, ts: number): Buffer {
    return createHmac('sha256', this.#key).update(`${SCHEME}\n${ts}\n${method}\n${url}\n${length}\n${digest}\n${ring}\n${write}`).digest();
  }
}

/** What a remembered signature was made for. */
interface Verified {
  method: string;
  url: string;
  ring: string;
  ts: number;
}
