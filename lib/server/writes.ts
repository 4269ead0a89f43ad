/**
 * The writes another peer's Group.set, remove and clear send here: `PUT {basePath}{group}/{key}`
 * stores a value as the key's owner, `DELETE {basePath}{group}/{key}` (mailgun/groupcache's route)
 * drops a key, `DELETE {basePath}{group}` drops the whole group — on this process only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ByteView } from '../cache/byteview.js';
import type { GroupRegistry } from '../cache/registry.js';
import { messageOf } from '../common/errors.js';
import { decodeSegment, decodeSetRequest, MAX_SET_REQUEST_BYTES, SET_CONTENT_TYPE } from '../protocol/wire.js';
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
    try {
      if (!group.setLocally(set.key, new ByteView(set.value, true, set.expiresAt)))
        return reply(res, 413, `value for key ${JSON.stringify(set.key)} is larger than group "${set.group}" caches per process (maxBytes)`);
    } catch (err) {
      return reply(res, 400, messageOf(err));
    }
    reply(res, 200, 'stored');
  }

  /** `DELETE {basePath}{group}/{key}` or `DELETE {basePath}{group}`. */
  delete(res: ServerResponse, { path }: PeerRequest) {
    const rest = path.slice(this.#basePath.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return this.#clear(res, rest);
    if (slash === 0) return reply(res, 400, `bad request: expected ${this.#basePath}<group>/<key>`);
    const keyRaw = rest.slice(slash + 1);
    if (keyRaw.includes('/')) return reply(res, 400, "bad request: the key must be one path segment (escape '/' as %2F)");
    const group = decodeSegment(rest.slice(0, slash));
    const key = decodeSegment(keyRaw);
    if (group === undefined || key === undefined) return reply(res, 400, 'bad request: malformed %-escape or bytes that are not UTF-8');
    this.#remove(res, group, key);
  }

  /** Drops `key` here, owner or not. */
  #remove(res: ServerResponse, name: string, key: string): void {
    const group = this.#registry.getGroup(name);
    if (!group) reply(res, 404, `no such group: ${name}`);
    else {
      group.forget(key);
      reply(res, 200, 'removed');
    }
  }

  /** Drops the whole group here (a step of Group.clear()). */
  #clear(res: ServerResponse, raw: string): void {
    const name = decodeSegment(raw);
    const group = name === undefined ? undefined : this.#registry.getGroup(name);
    if (!group) reply(res, 404, `no such group: ${name ?? raw}`);
    else {
      group.forgetAll();
      reply(res, 200, 'cleared');
    }
  }
}
