import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

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
const SCHEME = 'geecache-v2';

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
}

/** SHA-256 of a body in hex, as the digest header carries it. */
export const digestOf = (body: Uint8Array): string => createHash('sha256').update(body).digest('hex');

/**
 * Signs and checks requests between peers with a shared secret: an HMAC-SHA256 of the method,
 * the target peer's origin, the whole request line (path and query), a timestamp, and the body's
 * length and SHA-256 digest. The secret never crosses the wire; a server can check all of it
 * from the headers before it reads a single body byte (then checks the body against the digest);
 * a captured request only replays against the same peer, with the same request line and body,
 * for {@link MAX_CLOCK_SKEW_MS}.
 */
export class RequestSigner {
  readonly #secret: string;
  /**
   * Signatures of body-less requests already verified, with their timestamps. Hot keys are
   * fetched again and again; the client signs with whole-second timestamps (signFor) so those
   * repeat, and a repeat costs a map lookup instead of an HMAC. Accepting a repeat is no weaker
   * than before: any valid signature can be replayed within the freshness window anyway.
   */
  readonly #verified = new Map<string, number>();
  /** The client's signatures for the current second, by method and URL. */
  #signed = new Map<string, string>();
  #signedSecond = 0;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /**
   * The signature header for `method` on `url` (the target peer's origin + the request target),
   * with its body if any. A body must also travel with its digest: see {@link bodyHeaders}.
   */
  sign(method: string, url: string, now = Date.now(), body?: Uint8Array): string {
    const request = { method, url, length: body ? String(body.length) : '', digest: body ? digestOf(body) : '' };
    return `${now}.${this.#mac(request, now).toString('hex')}`;
  }

  /**
   * A signature for a body-less request, reused for the rest of the current second (see
   * #verified): a client asking for a hot key signs it once a second, not once a request.
   */
  signFor(method: string, url: string, now = Date.now()): string {
    const second = now - (now % 1000);
    if (second !== this.#signedSecond) {
      this.#signed = new Map();
      this.#signedSecond = second;
    }
    const key = `${method} ${url}`;
    let signature = this.#signed.get(key);
    if (signature === undefined) {
      signature = this.sign(method, url, second);
      this.#signed.set(key, signature);
    }
    return signature;
  }

  /** True when `header` is a valid, fresh signature of `request`. Constant-time in the MAC. */
  verify(request: SignedRequest, header: string | undefined, now = Date.now()): boolean {
    const bodyless = request.length === '' && request.digest === '';
    const memo = bodyless ? `${request.method} ${request.url} ${header}` : undefined;
    const seen = memo && this.#verified.get(memo);
    if (seen) return Math.abs(now - seen) <= MAX_CLOCK_SKEW_MS;
    // Exactly what sign() writes: a lax parse would accept junk after the MAC, or two headers joined.
    const match = header === undefined ? null : SIGNATURE.exec(header);
    if (!match) return false;
    const ts = Number(match[1]);
    if (!Number.isSafeInteger(ts) || Math.abs(now - ts) > MAX_CLOCK_SKEW_MS) return false;
    const given = Buffer.from(match[2], 'hex');
    const expected = this.#mac(request, ts);
    const valid = given.length === expected.length && timingSafeEqual(given, expected);
    if (valid && memo) {
      if (this.#verified.size >= MAX_VERIFIED) this.#verified.clear();
      this.#verified.set(memo, ts);
    }
    return valid;
  }

  #mac({ method, url, length, digest }: SignedRequest, ts: number): Buffer {
    return createHmac('sha256', this.#secret).update(`${SCHEME}\n${ts}\n${method}\n${url}\n${length}\n${digest}`).digest();
  }
}
