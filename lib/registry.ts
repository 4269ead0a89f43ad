import { Group } from './group.js';
import type { GroupOptions } from './types.js';

/**
 * A set of groups by name. Each geecache() instance has its own, so several peers with a group
 * of the same name can live in one process (tests, the demo).
 */
export class GroupRegistry {
  readonly #groups = new Map<string, Group>();

  /** Creates a group; the name must be new to this registry. */
  newGroup(name: string, options: GroupOptions): Group {
    if (this.#groups.has(name)) throw new Error(`group "${name}" already exists`);
    const group = new Group(name, options);
    this.#groups.set(name, group);
    return group;
  }

  /** The group called `name`, or undefined. */
  getGroup(name: string): Group | undefined {
    return this.#groups.get(name);
  }

  /** Every group, in creation order. */
  groups(): Group[] {
    return [...this.#groups.values()];
  }
}

/** The process-wide registry behind {@link newGroup} and {@link getGroup}, for code that wants one. */
export const defaultRegistry = new GroupRegistry();

/** GeeCache's `NewGroup(name, cacheBytes, getter)` on the default registry. */
export function newGroup(name: string, maxBytes: number, getter: GroupOptions['getter']): Group {
  return defaultRegistry.newGroup(name, { maxBytes, getter });
}

/** GeeCache's `GetGroup(name)` on the default registry. */
export function getGroup(name: string): Group | undefined {
  return defaultRegistry.getGroup(name);
}
