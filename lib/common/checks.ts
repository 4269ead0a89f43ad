/**
 * checks.ts holds the rules every option object is checked against, whichever layer reads it:
 * unknown keys (with a did-you-mean), numbers and flags, the longest timer, and what a peer's
 * base URL may look like. Each check throws a {@link ConfigError} naming the option and the fix.
 */

import { ConfigError } from './errors.js';

/** Longest delay a Node timer takes; a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Throws for a key of `options` that is not in `known`, suggesting the nearest one: plain
 * JavaScript gets TypeScript's check. `prefix` is how messages name the object (`groups.scores.`).
 */
export function checkKnown(options: object, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ConfigError(`${prefix}${key}`, `is not an option${suggest(key, known)}; options are: ${known.join(', ')}`);
  }
}

/** ` (did you mean "x"?)` for the known name nearest to `given`, when one is near enough; else ''. */
export function suggest(given: unknown, known: readonly string[]): string {
  if (typeof given !== 'string' || given.length > 256) return '';
  const scored = known.map((k) => ({ k, d: distance(given.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  return scored.length > 0 && scored[0].d <= Math.max(2, Math.floor(scored[0].k.length / 3)) ? ` (did you mean "${scored[0].k}"?)` : '';
}

/** Levenshtein distance: how many one-character edits turn `a` into `b`. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** `value`, a positive (with `allowZero`, non-negative) number up to `max`; `fallback` when undefined. */
export function positive(value: unknown, option: string, fallback: number, allowZero = false, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ConfigError(option, `must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(value)}`);
  }
  if (value > max) throw new ConfigError(option, `must be at most ${max}, got ${value}`);
  return value;
}

/** `value`, true or false; `fallback` when undefined. */
export function flag(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(option, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

const PEER_URL_HINT = 'must be a base URL such as "http://10.0.0.1:3000"';

/**
 * The peer-URL rule: a peer is named by a base URL, http or https, with no path, query, fragment
 * or credentials. Returns what is wrong with `value` (to follow {@link PEER_URL_HINT}), or
 * undefined when nothing is.
 */
function peerUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return '';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return '';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return ' (http or https)';
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password || !/^https?:\/\/[^\s/\\?#@]+\/?$/i.test(value)) {
    return ' with no path, query or credentials';
  }
  return undefined;
}

/**
 * `value` as a peer's name, or a ConfigError naming `option`. The ring hashes the string itself,
 * so it is kept as given (golang/groupcache does): only a trailing slash is dropped.
 */
export function checkPeerUrl(value: unknown, option: string): string {
  const problem = peerUrlProblem(value);
  if (problem !== undefined) throw new ConfigError(option, `${PEER_URL_HINT}${problem}, got ${JSON.stringify(value)}`);
  const url = value as string;
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** The origin of a peer's base URL (`http://10.0.0.1:3000`), or undefined when `value` is not one. */
export function originOf(value: unknown): string | undefined {
  return peerUrlProblem(value) === undefined ? new URL(value as string).origin : undefined;
}

/**
 * Checks a peer list: each a valid URL, no duplicates, `self` among them, spelled as `self` is.
 * `origins` (each peer of a list checked before, by its origin) spares parsing those again: a
 * discovery answer of 1,000 peers that changed by one parses one URL, not 2,000.
 */
export function checkPeers(peers: unknown, self: string, origins?: ReadonlyMap<string, string>): string[] {
  if (!Array.isArray(peers) || peers.length === 0) throw new ConfigError('peers', 'must be a non-empty array of base URLs, self included');
  const checked = peers.map((p, i) => (typeof p === 'string' && origins?.has(p) ? p : checkPeerUrl(p, `peers[${i}]`)));
  const seen = new Map<string, number>();
  checked.forEach((p, i) => {
    const origin = origins?.get(p) ?? new URL(p).origin;
    if (seen.has(origin)) throw new ConfigError(`peers[${i}]`, `duplicates peers[${seen.get(origin)}] (${p}); list each peer once`);
    seen.set(origin, i);
  });
  const selfIndex = seen.get(new URL(self).origin);
  if (selfIndex === undefined) throw new ConfigError('peers', `must include self (${self}): every peer lists the whole cluster, itself included`);
  // The ring hashes the strings: self spelled differently would own no keys and fetch its own over HTTP.
  if (checked[selfIndex] !== self) {
    throw new ConfigError('peers', `lists self as ${JSON.stringify(checked[selfIndex])} but self is ${JSON.stringify(self)}: spell it the same way in both`);
  }
  return checked;
}
