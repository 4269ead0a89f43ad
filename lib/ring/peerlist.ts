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
    const fresh = peers.filter((p, i) => !this.members.includes(p) && peers.indexOf(p) === i);
    if (fresh.length === 0) return;
    this.members.push(...fresh);
    this.rebuild();
  }

  remove(...peers: string[]): void {
    const before = this.members.length;
    this.members = this.members.filter((p) => !peers.includes(p));
    if (this.members.length !== before) this.rebuild();
  }

  peers(): string[] {
    return [...this.members];
  }

  abstract get(key: string): string | undefined;

  /** Recomputes the lookup structure from `members`. */
  protected abstract rebuild(): void;
}
