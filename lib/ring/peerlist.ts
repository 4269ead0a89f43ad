/**
 * peerlist.ts is what every ring shipped here shares: the ordered peer list, rebuilt on each change.
 */

import type { Ring } from './types.js';

/**
 * The membership half of a ring: an ordered peer list, and a call to {@link rebuild} whenever
 * it changes. Subclasses keep whatever lookup structure `get` needs.
 */
export abstract class PeerListRing implements Ring {
  /** The peers, in the order they were added (the order can matter: see ConsistentHashRing). */
  protected members: string[] = [];

  add(...peers: string[]): void {
    // Sets, not includes(): a list of 1,000 peers is 1,000 comparisons, not a million.
    const seen = new Set(this.members);
    const before = this.members.length;
    for (const p of peers) {
      if (seen.has(p)) continue;
      seen.add(p);
      this.members.push(p);
    }
    if (this.members.length !== before) this.rebuild();
  }

  remove(...peers: string[]): void {
    const before = this.members.length;
    const gone = new Set(peers);
    this.members = this.members.filter((p) => !gone.has(p));
    if (this.members.length !== before) this.rebuild();
  }

  peers(): string[] {
    return [...this.members];
  }

  abstract get(key: string): string | undefined;

  /** Recomputes the lookup structure from `members`. */
  protected abstract rebuild(): void;
}
