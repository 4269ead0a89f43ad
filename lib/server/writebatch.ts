/**
 * The batches of writes another peer's write lane sends here (client/writelane.ts): `DELETE
 * {basePath}` with a WriteBatch of removes, clears and tag invalidations, each applied here as its
 * single write would be (writes.ts), answered with one WriteResult per item: a stale or unknown
 * item is answered for itself and does not hold back the others.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Group } from '../cache/group.js';
import type { RemoveRequest } from '../cache/peers.js';
import type { GroupRegistry } from '../cache/registry.js';
import { checkTags, MAX_TAGS_PER_INVALIDATION } from '../cache/tags.js';
import { messageOf } from '../common/errors.js';
import {
  decodeWriteBatch,
  encodeWriteResults,
  MAX_WRITE_BATCH_BYTES,
  MAX_WRITE_BATCH_ITEMS,
  WRITES_CONTENT_TYPE,
  type WriteResult,
} from '../protocol/writewire.js';
import { type Admission, type PeerRequest, versionAhead } from './admit.js';
import { reply, send } from './reply.js';

/** Longest group name quoted back in an item's error. */
const MAX_QUOTED = 128;

/** Answers admitted write batches on this process's groups. */
export class WriteBatches {
  readonly #registry: GroupRegistry;
  readonly #admission: Admission;

  constructor(registry: GroupRegistry, admission: Admission) {
    this.#registry = registry;
    this.#admission = admission;
  }

  /** `DELETE {basePath}` with a WriteBatch: each item applied in order, 200 with their outcomes. */
  async serve(req: IncomingMessage, res: ServerResponse, request: PeerRequest): Promise<void> {
    const body = await this.#admission.body(req, res, request, 'set', MAX_WRITE_BATCH_BYTES);
    if (body === undefined) return;
    let items: RemoveRequest[];
    try {
      items = decodeWriteBatch(body);
    } catch (err) {
      return reply(res, 400, `bad write batch: ${messageOf(err)}`);
    }
    if (items.length > MAX_WRITE_BATCH_ITEMS)
      return reply(res, 413, `write batch of ${items.length} items, over the ${MAX_WRITE_BATCH_ITEMS} a peer takes at once`);
    const now = Date.now();
    send(res, WRITES_CONTENT_TYPE, encodeWriteResults(items.map((item) => this.#apply(item, now))));
  }

  /** One item, as its single write (writes.ts) would be answered. */
  #apply(item: RemoveRequest, now: number): WriteResult {
    const group = this.#registry.getGroup(item.group);
    if (!group) return { status: 404, error: `no such group: ${JSON.stringify(item.group.slice(0, MAX_QUOTED))}` };
    if (item.tags !== undefined) return invalidate(group, item.tags, item.id ?? 0);
    if (item.version !== undefined && versionAhead(item.version, now)) return { status: 400, error: 'the version is over 60 s ahead of this peer’s clock' };
    const outcome = group.applyPeerWrite(
      item.key === undefined ? { kind: 'clear', version: item.version } : { kind: 'remove', key: item.key, version: item.version },
    );
    return typeof outcome === 'object' ? { status: 409, newer: outcome.newer } : { status: 200 };
  }
}

/** A tag invalidation item: checked as its single PUT is (writes.ts). */
function invalidate(group: Group, tags: readonly string[], id: number): WriteResult {
  let checked: readonly string[];
  try {
    checked = checkTags(tags, 'tags', MAX_TAGS_PER_INVALIDATION);
  } catch (err) {
    return { status: 400, error: `bad tag invalidation: ${messageOf(err)}` };
  }
  if (!Number.isSafeInteger(id) || id <= 0) return { status: 400, error: 'bad tag invalidation: without a valid id' };
  group.forgetTags(checked, id);
  return { status: 200 };
}
