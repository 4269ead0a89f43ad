/**
 * writeheader.ts is the header every geecache write carries (set, remove, clear): its version, which
 * orders it against the other writes of its key (cache/writeorder.ts), and a nonce, which makes
 * the request unique so a peer refuses a replay of it (server/nonces.ts). Both are covered by the
 * signature (auth.ts).
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

/** The write header of a write at `version` (none: 0, unordered), with a new nonce. */
export const writeHeader = (version = 0): string => `${version}.${randomUUID()}`;

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
