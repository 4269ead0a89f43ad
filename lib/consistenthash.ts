import { crc32 } from 'node:zlib';

/** A hash of a key's bytes to an unsigned 32-bit integer. */
export type HashFn = (data: Buffer) => number;

/** crc32 (IEEE), the hash golang/groupcache uses. */
export const crc32Hash: HashFn = (data) => crc32(data);

/**
 * Assigns each key to one peer so that every node with the same peer list agrees on the
 * owner, and a membership change moves few keys.
 */
export interface Ring {
  /** Adds peers; a peer already present is ignored. */
  add(...peers: string[]): void;
  /** Removes peers; unknown peers are ignored. */
  remove(...peers: string[]): void;
  /** The peer that owns `key`, or undefined when the ring is empty. */
  get(key: string): string | undefined;
  /** The peers, in the order they were added. */
  peers(): string[];
}

/**
 * golang/groupcache's consistenthash.Map: `replicas` virtual nodes per peer at
 * `hash(String(i) + peer)`, sorted; a key belongs to the first virtual node at or after
 * `hash(key)`, wrapping around. With the defaults (50 replicas, crc32) it picks the same owner
 * as a Go groupcache peer for every key, including which peer wins a hash collision (the one
 * added last, as in Go's map).
 */
export class ConsistentHashRing implements Ring {
  readonly replicas: number;
  readonly #hash: HashFn;
  #peers: string[] = [];
  #points = new Uint32Array(0);
  #owners: string[] = [];

  constructor(replicas = 50, hash: HashFn = crc32Hash) {
    if (!Number.isInteger(replicas) || replicas < 1) throw new TypeError(`replicas must be a positive integer, got ${replicas}`);
    this.replicas = replicas;
    this.#hash = hash;
  }

  add(...peers: string[]): void {
    const fresh = peers.filter((p, i) => !this.#peers.includes(p) && peers.indexOf(p) === i);
    if (fresh.length === 0) return;
    this.#peers.push(...fresh);
    this.#rebuild();
  }

  remove(...peers: string[]): void {
    const before = this.#peers.length;
    this.#peers = this.#peers.filter((p) => !peers.includes(p));
    if (this.#peers.length !== before) this.#rebuild();
  }

  peers(): string[] {
    return [...this.#peers];
  }

  get(key: string): string | undefined {
    const points = this.#points;
    if (points.length === 0) return undefined;
    const h = this.#hash(Buffer.from(key, 'utf8')) >>> 0;
    // First point >= h (Go's sort.Search), wrapping to 0 past the end.
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === points.length ? 0 : lo];
  }

  #rebuild(): void {
    // Go keeps a map hash -> peer, where the last peer added with a given hash wins.
    const ownerOf = new Map<number, string>();
    for (const peer of this.#peers) {
      for (let i = 0; i < this.replicas; i++) ownerOf.set(this.#hash(Buffer.from(String(i) + peer, 'utf8')) >>> 0, peer);
    }
    this.#points = Uint32Array.from(ownerOf.keys()).sort();
    this.#owners = Array.from(this.#points, (p) => ownerOf.get(p)!);
  }
}
