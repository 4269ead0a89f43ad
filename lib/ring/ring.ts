/**
 * ring.ts builds the ring an option names: the one place that knows every ring geecache ships.
 */

import { BoundedRing } from './bounded.js';
import { ConsistentHashRing } from './consistenthash.js';
import { MaglevRing } from './maglev.js';
import { RendezvousRing } from './rendezvous.js';
import type { Ring, RingOption } from './types.js';

/**
 * Builds the ring an option names. Every peer must build the same one, or they disagree on owners
 * (peers then still answer, but keys are loaded more than once).
 */
export function makeRing(option: RingOption): Ring {
  if (option === 'groupcache') return new ConsistentHashRing();
  if (option === 'default') return new RendezvousRing();
  if (option === 'maglev') return new MaglevRing();
  if (option === 'bounded') return new BoundedRing();
  return option();
}
