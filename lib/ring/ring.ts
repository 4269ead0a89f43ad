import type { RingOption } from '../config/types.js';
import { ConsistentHashRing } from './consistenthash.js';
import { RendezvousRing } from './rendezvous.js';

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
 * Builds the ring an option names. Every peer must build the same one, or they disagree on owners
 * (peers then still answer, but keys are loaded more than once).
 */
export function makeRing(option: RingOption): Ring {
  if (option === 'groupcache') return new ConsistentHashRing();
  if (option === 'default') return new RendezvousRing();
  return option();
}
