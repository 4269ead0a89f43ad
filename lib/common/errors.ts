/**
 * errors.ts holds the errors geecache raises, each designed for whoever has to act on it (a
 * ConfigError for the developer at start-up, the others for the code that called `get`), and the
 * rules for what may be said about any thrown value: its name, message and HTTP status.
 */

import { describe } from './describe.js';

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
 *
 * So that an error looks the same whichever peer owns the key, it carries what the owner's
 * error said: `name` is the original error's name (e.g. `'NotFoundError'`, `'LoadTimeoutError'`),
 * `message` its message, and `status`/`statusCode` its HTTP status when it had a valid 4xx/5xx.
 */
export class OwnerLoadError extends Error {
  override name = 'OwnerLoadError';
  /** The original error's HTTP status (400-599), as Express's error handler reads it; else undefined. */
  readonly status: number | undefined;
  /** The same as `status` (Express and http-errors read either). */
  readonly statusCode: number | undefined;
  constructor(
    /** The peer whose getter failed. */
    readonly peer: string,
    message: string,
    original: { name?: string; status?: number } = {},
  ) {
    super(message);
    if (original.name) this.name = original.name;
    this.status = original.status;
    this.statusCode = original.status;
  }
}

/** A key that is not a non-empty string within the length limit: the caller's fault (HTTP 400). */
export class BadKeyError extends TypeError {
  override readonly name = 'BadKeyError';
  readonly status = 400;
  readonly statusCode = 400;
}

/** A getter that did not settle within the group's `loadTimeoutMs` (HTTP 504). */
export class LoadTimeoutError extends Error {
  override readonly name = 'LoadTimeoutError';
  readonly status = 504;
  readonly statusCode = 504;
}

/** What can be safely said about a thrown value: see {@link errorFacts}. */
export interface ErrorFacts {
  /** A token-safe name (letters, digits, `_$.-`, at most 64), `'Error'` when there is none. */
  name: string;
  message: string;
  /** `status`, else `statusCode`, when it is an integer 400-599. */
  status: number | undefined;
}

/** An error name as it may be repeated, and travel between peers: a token of letters, digits and `_$.-`, at most 64. */
export const ERROR_NAME = /^[A-Za-z_$][\w$.-]{0,63}$/;

/** `status` if it is an HTTP error status (400-599), else undefined: what an error's status may be. */
export const httpErrorStatus = (status: unknown): number | undefined =>
  typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599 ? status : undefined;

/**
 * Reads the name, message and HTTP status of anything a getter may throw — an Error, a string,
 * undefined, `Object.create(null)`, a frozen object, a Proxy whose every trap throws — without
 * ever throwing itself: an error about an error must not take a peer down.
 */
export function errorFacts(err: unknown): ErrorFacts {
  const name = attempt(() => {
    const value = (err as { name?: unknown }).name;
    return typeof value === 'string' && ERROR_NAME.test(value) ? value : undefined;
  });
  const message = attempt(() => {
    if (typeof err === 'string') return err;
    const value = (err as { message?: unknown }).message;
    if (typeof value === 'string') return value;
    if (err === undefined || err === null || typeof err !== 'object') return String(err);
    return undefined;
  });
  const status = attempt(() => {
    const e = err as { status?: unknown; statusCode?: unknown };
    return httpErrorStatus(e.status) ?? httpErrorStatus(e.statusCode);
  });
  return { name: name ?? 'Error', message: message ?? `a thrown ${describe(err)} with no message`, status };
}

/** `err instanceof type`, false where that throws (a Proxy whose getPrototypeOf trap throws). */
export function isInstance(err: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  try {
    return err instanceof type;
  } catch {
    return false;
  }
}

/** The message of any thrown value (see {@link errorFacts}); never throws. */
export const messageOf = (err: unknown): string => errorFacts(err).message;

function attempt<T>(read: () => T | undefined): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/**
 * "There is no such value": a getter throws it for a key its source does not have. Unlike other
 * getter errors it may be cached (group option `notFoundTtlMs`), and it crosses the wire as
 * such, so a get on any peer rejects with a NotFoundError, whichever peer ran the getter.
 */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  /** The HTTP status an app would answer for it. */
  readonly status = 404;
}

/**
 * The peer answered that it is leaving the cluster (draining before shutdown): ask the key's
 * next owner, or load locally, at once. Not a failure of the peer: it is not backed off.
 */
export class PeerLeavingError extends Error {
  override readonly name = 'PeerLeavingError';
  constructor(
    /** The peer that is leaving. */
    readonly peer: string,
  ) {
    super(`peer ${peer} is leaving the cluster`);
  }
}
