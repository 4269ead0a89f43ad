/**
 * The tag invalidation another peer's Group.invalidateTags sends here: `PUT {basePath}{group}` with
 * content-type application/x-geecache-tags and a TagInvalidation body (every tag of one call,
 * and its cluster-wide id) — applied on this process only: every value here carrying one of the
 * tags, owned or a copy, stops being served (cache/tags.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GroupRegistry } from '../cache/registry.js';
import { checkTags, MAX_TAGS_PER_INVALIDATION } from '../cache/tags.js';
import { messageOf } from '../common/errors.js';
import { decodeTagInvalidation, MAX_TAGS_REQUEST_BYTES } from '../protocol/tagwire.js';
import { decodeSegment } from '../protocol/wire.js';
import type { Admission, PeerRequest } from './admit.js';
import { reply } from './reply.js';

/** Answers admitted tag invalidations on this process's groups. */
export class TagInvalidations {
  readonly #registry: GroupRegistry;
  readonly #admission: Admission;
  readonly #basePath: string;

  constructor(registry: GroupRegistry, admission: Admission, basePath: string) {
    this.#registry = registry;
    this.#admission = admission;
    this.#basePath = basePath;
  }

  /** `PUT {basePath}{group}` with a TagInvalidation: 200 once applied. */
  async serve(req: IncomingMessage, res: ServerResponse, request: PeerRequest): Promise<void> {
    const raw = request.path.slice(this.#basePath.length);
    const name = raw.includes('/') ? undefined : decodeSegment(raw);
    if (name === undefined || name === '') return reply(res, 400, `bad request: a tag invalidation goes to ${this.#basePath}<group>`);
    const body = await this.#admission.body(req, res, request, 'set', MAX_TAGS_REQUEST_BYTES);
    if (body === undefined) return;
    let tags: readonly string[];
    let id: number;
    try {
      const decoded = decodeTagInvalidation(body);
      tags = checkTags(decoded.tags, 'tags', MAX_TAGS_PER_INVALIDATION);
      id = decoded.id;
    } catch (err) {
      return reply(res, 400, `bad tag invalidation: ${messageOf(err)}`);
    }
    const group = this.#registry.getGroup(name);
    if (!group) return reply(res, 404, `no such group: ${name}`);
    group.forgetTags(tags, id);
    reply(res, 200, 'invalidated');
  }
}
