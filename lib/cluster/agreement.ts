/**
 * agreement.ts notices peers whose membership differs from this one's: a digest of the peer list travels
 * on every peer request, is compared on arrival, and a difference that lasts is warned about.
 */

import { createHash } from 'node:crypto';
import { type FullLogger, Notices } from '../common/logger.js';

/**
 * A short digest of a membership list: every peer sends its own on peer requests, so a peer
 * whose list differs from the asker's (a discovery answer not seen yet, a misconfigured replica)
 * is noticed. Order-free: the same set of peers gives the same digest.
 */
export function membershipHash(peers: readonly string[]): string {
  return createHash('sha256')
    .update([...peers].sort().join('\n'))
    .digest('hex')
    .slice(0, 16);
}

/** This peer's membership, as the agreement compares it: its digest, and its peers for a warning. */
export interface Members {
  hash(): string;
  peers(): readonly string[];
}

/** A disagreement that lasts this long is no longer a change spreading: it is warned about. */
export const PERSISTENT_MS = 30_000;
/** Distinct foreign digests remembered (a bound, whatever askers send); past it the one seen longest ago is forgotten. */
const MAX_TRACKED = 64;
/**
 * Most info lines about a change spreading while our own membership stays the same: a change
 * gives one or two foreign digests, so more is counted (stats.disagreed), not logged. Digests
 * are signed and 16 hex digits (server/admit.ts), so each line is short and names a real peer's list.
 */
const MAX_SPREADING_LINES = 8;

/**
 * Counts peer requests whose asker's membership differs from ours, and reports it. A short
 * disagreement is normal while a change spreads (peers see a DNS answer at different moments):
 * that is logged at info. One still seen after {@link PERSISTENT_MS} means the peers are
 * configured differently: warned once per digest, with the fix. Either way no get takes more
 * than two hops, since a peer never forwards another peer's request.
 */
export class RingAgreement {
  /** Peer requests that carried a membership digest, and those whose digest differed from ours. */
  readonly stats = { checked: 0, disagreed: 0 };
  readonly #logger: FullLogger;
  readonly #notices: Notices;
  readonly #members: Members;
  /** Foreign digest → when first seen (against the digest we had then), and last seen; least recently seen first. */
  readonly #seen = new Map<string, { ours: string; since: number; lastAt: number }>();
  /** Our digest when the info lines below were counted, and how many were logged since it became ours. */
  #linesFor = '';
  #lines = 0;

  /** `members`: this peer's membership (an HttpPool), read at each check. */
  constructor(logger: FullLogger, members: Members) {
    this.#logger = logger;
    this.#notices = new Notices(logger);
    this.#members = members;
  }

  /** Compares an asker's digest (undefined: a peer that sends none, e.g. golang/groupcache) with ours. */
  check(theirs: string | undefined, now = Date.now()): void {
    if (theirs === undefined) return;
    this.stats.checked++;
    const ours = this.#members.hash();
    if (theirs === ours) return;
    this.stats.disagreed++;
    const seen = this.#seen.get(theirs);
    if (!seen || seen.ours !== ours) {
      if (seen) this.#seen.delete(theirs);
      else if (this.#seen.size >= MAX_TRACKED) this.#seen.delete(this.#seen.keys().next().value as string);
      this.#seen.set(theirs, { ours, since: now, lastAt: now });
      this.#spreading(theirs, ours);
      return;
    }
    // Least recently seen first: a digest still in use is never the one forgotten.
    this.#seen.delete(theirs);
    this.#seen.set(theirs, seen);
    seen.lastAt = now;
    if (now - seen.since < PERSISTENT_MS) return;
    this.#notices.warn(
      `ring:${theirs}:${ours}`,
      () =>
        `peers have disagreed on membership for over ${PERSISTENT_MS / 1000} s (a peer asks with ${theirs}, ours is ${ours}: ${this.#describeOurs()}); ` +
        'keys are loaded more than once meanwhile. Give every peer the same peers list (or the same discovery source), spelled the same way',
    );
  }

  /**
   * False while peers disagree with ours persistently: a digest other than our current one has
   * been asked with for over {@link PERSISTENT_MS}, and within the last PERSISTENT_MS (what is
   * warned about). A change still spreading does not count. Read locally: no peer is asked.
   */
  agrees(now = Date.now()): boolean {
    const ours = this.#members.hash();
    for (const seen of this.#seen.values()) if (seen.ours === ours && now - seen.since >= PERSISTENT_MS && now - seen.lastAt < PERSISTENT_MS) return false;
    return true;
  }

  /** The info line of a change spreading, at most MAX_SPREADING_LINES while our membership stays `ours`. */
  #spreading(theirs: string, ours: string): void {
    if (ours !== this.#linesFor) {
      this.#linesFor = ours;
      this.#lines = 0;
    }
    if (this.#lines >= MAX_SPREADING_LINES) return;
    this.#lines++;
    const last = this.#lines === MAX_SPREADING_LINES ? ' (the last such line until our membership changes; further ones are counted)' : '';
    this.#logger.info(`geecache: a peer asked with membership ${theirs}, ours is ${ours}: a membership change is spreading${last}`);
  }

  #describeOurs(): string {
    const peers = this.#members.peers();
    return `${peers.length} peers: ${peers.join(', ')}`;
  }
}
