import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a signed request's clock may be from ours: bounds replays, tolerates skew. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Most verified signatures remembered; the memo starts over when full. */
const MAX_VERIFIED = 10_000;

/** A signature header: `<milliseconds>.<64 hex digits of HMAC-SHA256>`. */
const SIGNATURE = /^([1-9][0-9]{0,15})\.([0-9a-f]{64})$/;

/**
 * Signs and checks requests between peers with a shared secret: an HMAC-SHA256 of the request's
 * method, raw path and a timestamp, so the secret never crosses the wire and a captured request
 * cannot be replayed after {@link MAX_CLOCK_SKEW_MS}.
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
  /** The client's signatures for the current second, by method and path. */
  #signed = new Map<string, string>();
  #signedSecond = 0;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /** The header value for a request to `path` (the raw, escaped path), with its body if any. */
  sign(method: string, path: string, now = Date.now(), body?: Uint8Array): string {
    return `${now}.${this.#mac(method, path, now, body).toString('hex')}`;
  }

  /**
   * A signature for a body-less request, reused for the rest of the current second (see
   * #verified): a client asking for a hot key signs it once a second, not once a request.
   */
  signFor(method: string, path: string, now = Date.now()): string {
    const second = now - (now % 1000);
    if (second !== this.#signedSecond) {
      this.#signed = new Map();
      this.#signedSecond = second;
    }
    const key = `${method} ${path}`;
    let signature = this.#signed.get(key);
    if (signature === undefined) {
      signature = this.sign(method, path, second);
      this.#signed.set(key, signature);
    }
    return signature;
  }

  /**
   * True when `header` has the form sign() writes and a fresh timestamp: checked before a body
   * is read, so an unsigned client cannot make the server buffer one.
   */
  plausible(header: string | undefined, now = Date.now()): boolean {
    return this.#parse(header, now) !== undefined;
  }

  /** True when `header` is a valid, fresh signature of the request. Constant-time in the MAC. */
  verify(method: string, path: string, header: string | undefined, now = Date.now(), body?: Uint8Array): boolean {
    const memo = body ? undefined : `${method} ${path} ${header}`;
    const seen = memo && this.#verified.get(memo);
    if (seen) return Math.abs(now - seen) <= MAX_CLOCK_SKEW_MS;
    const parsed = this.#parse(header, now);
    if (!parsed) return false;
    const { ts, given } = parsed;
    const expected = this.#mac(method, path, ts, body);
    const valid = given.length === expected.length && timingSafeEqual(given, expected);
    if (valid && memo) {
      if (this.#verified.size >= MAX_VERIFIED) this.#verified.clear();
      this.#verified.set(memo, ts);
    }
    return valid;
  }

  #parse(header: string | undefined, now: number): { ts: number; given: Buffer } | undefined {
    // Exactly what sign() writes: a lax parse would accept junk after the MAC, or two headers joined.
    const match = header === undefined ? null : SIGNATURE.exec(header);
    if (!match) return undefined;
    const ts = Number(match[1]);
    if (!Number.isSafeInteger(ts) || Math.abs(now - ts) > MAX_CLOCK_SKEW_MS) return undefined;
    return { ts, given: Buffer.from(match[2], 'hex') };
  }

  #mac(method: string, path: string, ts: number, body?: Uint8Array): Buffer {
    const hmac = createHmac('sha256', this.#secret).update(`${ts}\n${method}\n${path}\n`);
    if (body) hmac.update(body);
    return hmac.digest();
  }
}
