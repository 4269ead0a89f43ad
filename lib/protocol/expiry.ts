/**
 * expiry.ts is how an expiry travels between peers: `expire` as int64 Unix nanoseconds (mailgun/groupcache's,
 * which Go peers read), and geecache's `ttl_remaining_ms` beside it, which makes expiry between
 * geecache peers independent of their clocks.
 */

import { type BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/**
 * The latest expiry the wire carries, in ms since the epoch: int64 Unix nanoseconds end in April
 * 2262. Inputs are checked long before (MAX_TTL_MS in cache/freshness.ts); the peer route fails
 * one key, not the process, should an expiry past it get here anyway.
 */
export const MAX_EXPIRES_AT_MS = Number((2n ** 63n - 1n) / 1_000_000n);

/** Milliseconds since the epoch as the wire's Unix nanoseconds; a RangeError past what an int64 holds. */
const toNanos = (ms: number): bigint => {
  if (!(ms >= -MAX_EXPIRES_AT_MS && ms <= MAX_EXPIRES_AT_MS))
    throw new RangeError(
      `expiry ${ms} (ms since the epoch) is past what the wire carries (int64 Unix nanoseconds, up to ${MAX_EXPIRES_AT_MS} ms: the year 2262)`,
    );
  return BigInt(Math.round(ms)) * 1_000_000n;
};
/**
 * The wire's Unix nanoseconds as milliseconds since the epoch; 0 (mailgun's "never") as undefined.
 * Any other value is an expiry, as mailgun reads it: one before the epoch's first millisecond
 * (negative, or under 1 ms) is long past, so it reads as 1 — already expired (never 0, "never"):
 * the value answers the get that asked, and is not kept (Freshness.copyTtl, Group.setLocally).
 */
export const fromNanos = (ns: bigint | string): number | undefined => {
  const nanos = BigInt(ns);
  if (nanos === 0n) return undefined;
  const ms = Number(nanos / 1_000_000n);
  return ms > 0 ? ms : 1;
};

/**
 * Writes an expiry twice: `expire` (field `expireField`, absolute, as mailgun/groupcache and Go
 * read it) and `ttl_remaining_ms` (field `ttlField`: `expiresAt` less this clock's `now`), which
 * a geecache receiver adds to its own clock, so expiry between geecache peers does not depend on
 * their clocks agreeing.
 */
export function writeExpiry(writer: BinaryWriter, expireField: number, ttlField: number, expiresAt: number, now: number): BinaryWriter {
  return writer
    .tag(expireField, WireType.Varint)
    .int64(toNanos(expiresAt))
    .tag(ttlField, WireType.Varint)
    .sint64(Math.round(expiresAt - now));
}

/**
 * An expiry as received, on the receiver's clock (`now`): `ttl_remaining_ms` added to it when the
 * sender sent one (a geecache peer), else `expire` as it is (Go, mailgun). `sentAt` is the
 * sender's clock when it wrote them (`expire` − `ttl_remaining_ms`): what the receiver measures
 * the sender's clock skew from (client/clockskew.ts).
 */
export interface Received {
  expiresAt?: number;
  sentAt?: number;
}

/** {@link Received} of the fields read (undefined: absent); kept within what the wire carries, and never 0 ("never"). */
export function received(expire: number | undefined, ttl: bigint | string | undefined, now: number): Received {
  if (ttl === undefined) return expire === undefined ? {} : { expiresAt: expire };
  const remaining = Number(ttl);
  const expiresAt = Math.min(Math.max(now + remaining, 1), MAX_EXPIRES_AT_MS);
  return expire === undefined ? { expiresAt } : { expiresAt, sentAt: expire - remaining };
}
