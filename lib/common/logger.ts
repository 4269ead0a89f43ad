/**
 * logger.ts is how geecache speaks to the operator: the Logger it accepts, the default one, and Notices,
 * which say each problem once.
 */

/**
 * Where geecache tells the operator what went wrong and how to fix it. Any object with `warn`
 * (pino, winston, bunyan, console) works; every call passes one string, which all of them accept.
 */
export interface Logger {
  warn(message: string): void;
  error?(message: string): void;
  info?(message: string): void;
  debug?(message: string): void;
}

/** A {@link Logger} with every level present. */
export interface FullLogger {
  warn(message: string): void;
  error(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

const noop = (): void => {};

/** Drops everything: `logger: false`. */
export const SILENT: FullLogger = Object.freeze({ warn: noop, error: noop, info: noop, debug: noop });

/**
 * The logger an option asks for: the console by default (debug dropped, so a library does not
 * write per-request lines to stdout), nothing for `false`, else the given one with missing levels
 * filled in. Methods are called on the object, so pino's and winston's `this` stays bound.
 */
export function resolveLogger(option: Logger | false | undefined): FullLogger {
  if (option === false) return SILENT;
  if (option === undefined) {
    return {
      warn: (m) => console.warn(m),
      error: (m) => console.error(m),
      info: (m) => console.info(m),
      debug: noop,
    };
  }
  return {
    warn: guard(() => option.warn.bind(option)),
    error: guard(() => (option.error ? option.error.bind(option) : option.warn.bind(option))),
    info: guard(() => option.info?.bind(option)),
    debug: guard(() => option.debug?.bind(option)),
  };
}

/**
 * A logger call that cannot throw: geecache logs from timers and request paths, where a logger
 * that throws (a closed stream, a bad transport) would otherwise crash the process or fail a get.
 */
function guard(pick: () => ((message: string) => void) | undefined): (message: string) => void {
  return (message) => {
    try {
      pick()?.(message);
    } catch {}
  };
}

/** A problem quiet this long is warned about again when it comes back. */
export const REARM_MS = 10 * 60_000;
/** Most problems one Notices remembers; past it the one seen longest ago is forgotten. */
export const MAX_NOTICES = 1024;

/**
 * "Warn once, then count": the first occurrence of a problem (a peer and a cause) is logged at
 * warn with its fix; repeats within {@link REARM_MS} of the last one are only counted, so a
 * peer that is down for an hour costs one line, not one per request. After a quiet spell the
 * next occurrence is a new incident and is warned about again.
 */
export class Notices {
  readonly #logger: Pick<Logger, 'warn'>;
  /** By key, in the order last seen (a repeat moves to the end), so the first is the one to forget. */
  readonly #seen = new Map<string, { count: number; lastAt: number }>();

  constructor(logger: Pick<Logger, 'warn'>) {
    this.#logger = logger;
  }

  /** Records an occurrence of `key`; logs `message()` at warn if it is the first. True if logged. */
  warn(key: string, message: () => string, now = Date.now()): boolean {
    const seen = this.#seen.get(key);
    if (seen) this.#seen.delete(key);
    if (seen && now - seen.lastAt < REARM_MS) {
      seen.count++;
      seen.lastAt = now;
      this.#seen.set(key, seen);
      return false;
    }
    const before = seen?.count ?? 0;
    if (this.#seen.size >= MAX_NOTICES) this.#seen.delete(this.#seen.keys().next().value as string);
    this.#seen.set(key, { count: before + 1, lastAt: now });
    this.#logger.warn(`geecache: ${message()} (warned once; repeats are counted, not logged)`);
    return true;
  }

  /** How many times `key` occurred. */
  count(key: string): number {
    return this.#seen.get(key)?.count ?? 0;
  }
}
