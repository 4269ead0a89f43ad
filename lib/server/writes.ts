/**
 * The writes another peer's Group.set, remove and clear send here: `PUT {basePath}{group}/{key}`
 * stores a value as the key's owner, `DELETE {basePath}{group}/{key}` (mailgun/groupcache's route)
 * drops a key, `DELETE {basePath}{group}` drops the whole group — on this process only. Each is
 * applied only if newer than what this peer applied of its key (cache/writeorder.ts): an older
 * one is answered 409 with the newer version, and changes nothing. `PUT {basePath}{group}` with a
 * TagInvalidation (another peer's Group.invalidateTags) stops every value here carrying one of its
 * tags from being served, owned or a copy (cache/tags.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ByteView } from '../cache/byteview.js';
import type { Group } from '../cache/group.js';
import type { GroupRegistry } from '../cache/registry.js';
import { checkTags, MAX_TAGS_PER_INVALIDATION } from '../cache/tags.js';
import type { PeerWrite } from '../cache/writes.js';
import { messageOf } from '../common/errors.js';
import { MAX_SET_REQUEST_BYTES, SET_CONTENT_TYPE } from '../protocol/headers.js';
import { decodeTagInvalidation, MAX_TAGS_REQUEST_BYTES } from '../protocol/tagwire.js';
import { decodeSegment, decodeSetRequest } from '../protocol/wire.js';
import { NEWER_HEADER } from '../protocol/writeheader.js';
import type { Admission, PeerRequest } from './admit.js';
import { refuse, reply } from './reply.js';

/** Answers admitted writes on this process's groups. */
export class Writes {
  readonly #registry: GroupRegistry;
  readonly #admission: Admission;
  readonly #basePath: string;

  constructor(registry: GroupRegistry, admission: Admission, basePath: string) {
    this.#registry = registry;
    this.#admission = admission;
    this.#basePath = basePath;
  }

  /** `PUT {basePath}{group}/{key}` with a SetRequest: store the value here, as the key's owner. */
  async set(req: IncomingMessage, res: ServerResponse, request: PeerRequest): Promise<void> {
    if (request.header('content-type') !== SET_CONTENT_TYPE) return refuse(req, res, 415, `a set needs content-type ${SET_CONTENT_TYPE} and a SetRequest body`);
    const body = await this.#admission.body(req, res, request, 'set', MAX_SET_REQUEST_BYTES);
    if (body === undefined) return;
    let set: ReturnType<typeof decodeSetRequest>;
    try {
      set = decodeSetRequest(body);
    } catch (err) {
      return reply(res, 400, `bad set request: ${messageOf(err)}`);
    }
    const group = this.#registry.getGroup(set.group);
    if (!group) return reply(res, 404, `no such group: ${set.group}`);
    let outcome: ReturnType<Group['applyPeerWrite']>;
    try {
      outcome = group.applyPeerWrite({
        kind: 'set',
        key: set.key,
        value: new ByteView(set.value, true, set.expiresAt, group.stampTags(set.tags)),
        version: request.version,
      });
    } catch (err) {
      return reply(res, 400, messageOf(err));
    }
    if (outcome === 'too-big')
      return reply(res, 413, `value for key ${JSON.stringify(set.key)} is larger than group "${set.group}" caches per process (maxBytes)`);
    if (stale(res, outcome)) return;
    reply(res, 200, 'stored');
  }

  /** `DELETE {basePath}{group}/{key}` or `DELETE {basePath}{group}`. */
  delete(res: ServerResponse, { path, version }: PeerRequest) {
    const rest = path.slice(this.#basePath.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return this.#clear(res, rest, version);
    if (slash === 0) return reply(res, 400, `bad request: expected ${this.#basePath}<group>/<key>`);
    const keyRaw = rest.slice(slash + 1);
    if (keyRaw.includes('/')) return reply(res, 400, "bad request: the key must be one path segment (escape '/' as %2F)");
    const group = decodeSegment(rest.slice(0, slash));
    const key = decodeSegment(keyRaw);
    if (group === undefined || key === undefined) return reply(res, 400, 'bad request: malformed %-escape or bytes that are not UTF-8');
    this.#apply(res, group, { kind: 'remove', key, version }, 'removed');
  }

  /** Drops the whole group here (a step of Group.clear()). */
  #clear(res: ServerResponse, raw: string, version: number | undefined): void {
    const name = decodeSegment(raw);
    this.#apply(res, name ?? raw, { kind: 'clear', version }, 'cleared', name === undefined);
  }

  /** Drops a key (owner or not) or the whole group here, unless a newer write of it was applied. */
  #apply(res: ServerResponse, name: string, write: PeerWrite, done: string, malformed = false): void {
    const group = malformed ? undefined : this.#registry.getGroup(name);
    if (!group) reply(res, 404, `no such group: ${name}`);
    else if (!stale(res, group.applyPeerWrite(write))) reply(res, 200, done);
  }

  /** `PUT {basePath}{group}` with a TagInvalidation: 200 once applied. */
  async invalidateTags(req: IncomingMessage, res: ServerResponse, request: PeerRequest): Promise<void> {
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

/** Answers a write older than one applied here (409, with the newer version), and says whether it did. */
function stale(res: ServerResponse, outcome: ReturnType<Group['applyPeerWrite']>): boolean {
  if (typeof outcome !== 'object') return false;
  reply(res, 409, `stale write: this peer applied a newer write of this key or group (version ${outcome.newer}); an older write never overrides a newer one`, {
    [NEWER_HEADER]: String(outcome.newer),
  });
  return true;
}
