/**
 * What the peer route does when a get's answer cannot be encoded (an expiry past what the wire
 * carries, which the TTL checks should already have refused): that get fails with a 500 marked as
 * the owner's failure, so its asker does not load the key a second time, and the operator reads
 * one warning per cause, its text bounded. One key's answer never takes the request, or the
 * process, down with it.
 */
import { errorFacts } from '../common/errors.js';
import { type Logger, Notices } from '../common/logger.js';
import { GETTER_FAILED, MAX_ERROR_TEXT } from '../protocol/headers.js';
import type { PeerFailure } from '../protocol/wire.js';

/** Longest error text of an encoding failure logged. */
const MAX_LOGGED = 300;

/** Turns an encoding error into a get's failure, warning once per cause. */
export class EncodeGuard {
  readonly #notices: Notices | undefined;

  constructor(logger?: Pick<Logger, 'warn'>) {
    this.#notices = logger && new Notices(logger);
  }

  /** The failure a get answers instead of a result that could not be encoded (`err`, from the encoder). */
  failed(err: unknown): PeerFailure {
    const { name, message } = errorFacts(err);
    this.#notices?.warn(`encode:${name}`, () => {
      const text = message.length > MAX_LOGGED ? `${message.slice(0, MAX_LOGGED)}…` : message;
      return `the peer route could not encode a get's answer (${name}: ${text}); that get was answered 500 and the request went on`;
    });
    return { ok: false, status: 500, error: `the owner could not encode its answer: ${message}`.slice(0, MAX_ERROR_TEXT), kind: GETTER_FAILED, name };
  }
}
