/**
 * writeheader.ts is the header every geecache write carries (set, remove, clear): its version, which
 * orders it against the other writes of its key (cache/writeorder.ts), and a nonce, which makes
 * the request unique so a peer refuses a replay of it (server/nonces.ts), and on the removes, clears
 * and tag invalidations a writer's place in its stream of writes to that peer (a sequenced nonce).
 * All are covered by the signature (auth.ts).
 */
import { randomUUID } from 'node:crypto';

/**
 * `<version>.<nonce>` on every PUT and DELETE: the version in decimal (0: a write that is not
 * ordered against others, only applied at most once), the nonce a random UUID.
 */
export const WRITE_HEADER = 'x-geecache-write';
/**
 * On a 409 to a write older than one the peer applied: the newer version, in decimal. The
 * writer's clock moves past it (a set is then sent once more, newer).
 */
export const NEWER_HEADER = 'x-geecache-newer';

/** Exactly what {@link writeHeader} makes: a version without leading zeros, a lower-case UUID. */
const SHAPE = /^(0|[1-9][0-9]{0,15})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
/** A version in NEWER_HEADER. */
const VERSION = /^[1-9][0-9]{0,15}$/;

/** The write header of a write at `version` (none: 0, unordered), with `nonce` (default: a new random UUID). */
export const writeHeader = (version = 0, nonce: string = randomUUID()): string => `${version}.${nonce}`;

/**
 * A write request's place in its writer's stream of writes to one peer: `stream` (15 hex digits,
 * random, drawn when a writer instance first writes to that peer), `seq` the request's sequence
 * number in it (1, 2, ...; the same again when a request whose answer never came is sent again),
 * `attempt` which sending of it this is. A peer that sees `seq` jump by more than one knows the
 * writer dropped writes meant for it (server/sequences.ts).
 */
export interface WriteSequence {
  stream: string;
  seq: number;
  attempt: number;
}

/** Largest sequence number: 12 hex digits. */
export const MAX_SEQ = 2 ** 48 - 1;
/** A sequenced nonce: a UUID of version 8 (RFC 9562's custom layout), never what randomUUID() makes (version 4). */
const SEQUENCED = /^([0-9a-f]{8})-([0-9a-f]{4})-8[0-9a-f]{3}-a([0-9a-f]{3})-([0-9a-f]{12})$/;

/**
 * The nonce of a sequenced write: `SSSSSSSS-SSSS-8AAA-aSSS-QQQQQQQQQQQQ`, S the stream, A the
 * attempt (mod 4096), Q the sequence number, in hex. Still a UUID, unique per request (a stream
 * is random, its numbers and attempts grow), so a peer that does not read sequences (an older
 * geecache) takes it as any nonce; signed like every write header.
 */
export function sequencedNonce({ stream, seq, attempt }: WriteSequence): string {
  const a = (attempt % 4096).toString(16).padStart(3, '0');
  return `${stream.slice(0, 8)}-${stream.slice(8, 12)}-8${a}-a${stream.slice(12, 15)}-${seq.toString(16).padStart(12, '0')}`;
}

/** The stream and sequence number a nonce carries, or undefined for a plain (random) one. */
export function readSequence(nonce: string): { stream: string; seq: number } | undefined {
  const match = SEQUENCED.exec(nonce);
  return match ? { stream: match[1] + match[2] + match[3], seq: Number.parseInt(match[4], 16) } : undefined;
}

/** The version (undefined for 0) and nonce of a write header, or undefined when it is not exactly one. */
export function readWriteHeader(value: string): { version: number | undefined; nonce: string } | undefined {
  const match = SHAPE.exec(value);
  if (!match) return undefined;
  const version = Number(match[1]);
  return Number.isSafeInteger(version) ? { version: version === 0 ? undefined : version, nonce: match[2] } : undefined;
}

/** The version a NEWER_HEADER names, or undefined when it is absent or not one. */
export function readNewer(value: string | null | undefined): number | undefined {
  if (!value || !VERSION.test(value)) return undefined;
  const version = Number(value);
  return Number.isSafeInteger(version) ? version : undefined;
}
