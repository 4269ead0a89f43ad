/**
 * registry.ts keeps one geecache instance's groups by name.
 */

import { Group } from './group.js';
import type { GroupConfig, GroupOptions } from './groupoptions.js';

/**
 * A set of groups by name. Each geecache() instance has its own (there is no process-wide one),
 * so several peers with a group of the same name can live in one process (tests, the demo).
 */
export class GroupRegistry {
  readonly #groups = new Map<string, Group>();

  /** Creates a group; the name must be new to this registry. Options geecache() checked (a GroupConfig) are not checked again. */
  newGroup(name: string, options: GroupOptions | GroupConfig): Group {
    if (this.#groups.has(name)) throw new Error(`group "${name}" already exists`);
    const group = new Group(name, options);
    this.#groups.set(name, group);
    return group;
  }

  /** The group called `name`, or undefined. */
  getGroup(name: string): Group | undefined {
    return this.#groups.get(name);
  }

  /** Stops every group's background work (retries of removes a peer missed). */
  close(): void {
    for (const group of this.#groups.values()) group.close();
  }

  /** Every group, in creation order. */
  groups(): Group[] {
    return [...this.#groups.values()];
  }
}
