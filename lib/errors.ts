/**
 * The errors geecache raises, each designed for whoever has to act on it: a ConfigError for the
 * developer at start-up, the others for the code that called `get`.
 */

/** A configuration mistake found at start-up; the message names the option and the fix. */
export class ConfigError extends TypeError {
  override readonly name = 'ConfigError';
  constructor(option: string, problem: string) {
    super(`geecache: option "${option}" ${problem}`);
  }
}

/**
 * The owner was reached and its getter failed. Thrown by a PeerGetter so the group reports the
 * error instead of running the getter a second time locally (golang/groupcache does run it
 * twice). Any other error from a peer means "could not ask", and the group loads locally.
 */
export class OwnerLoadError extends Error {
  override readonly name = 'OwnerLoadError';
  constructor(
    /** The peer whose getter failed. */
    readonly peer: string,
    message: string,
  ) {
    super(message);
  }
}

/** A key that is not a non-empty string within the length limit. */
export class BadKeyError extends TypeError {
  override readonly name = 'BadKeyError';
}

/** A getter that did not settle within the group's `loadTimeoutMs`. */
export class LoadTimeoutError extends Error {
  override readonly name = 'LoadTimeoutError';
}
