/**
 * The single get, `GET {basePath}{group}/{key}`: golang/groupcache's route, byte for byte, which
 * every get from another peer takes (and `GET {basePath}_stats`). It does little more than a bare
 * node:http server around it (BENCHMARKS.md, peer-serve): no async function, no header object,
 * no URL parsing but the path split, and a cached value is written at once
 * (Group.cachedForPeer), without the promise, the drain's count or the wait-ms timers that only
 * a load needs.
 */
import type { ServerResponse } from 'node:http';
import { ByteView } from '../cache/byteview.js';
import type { GetRequest } from '../cache/peers.js';
import type { GroupRegistry } from '../cache/registry.js';
import { wireTags } from '../cache/tags.js';
import type { ServeTrace } from '../common/diagnostics.js';
import { messageOf } from '../common/errors.js';
import { GET_RESPONSE_TYPE, PEEK_MISS, STATS_PATH, type StatsView } from '../protocol/headers.js';
import type { WireTags } from '../protocol/tagwire.js';
import { decodeSegment, getResponsePrefix, getResponseSuffix, type PeerResult } from '../protocol/wire.js';
import type { InFlight, PeerRequest } from './admit.js';
import type { EncodeGuard } from './encodeguard.js';
import { failure, failureHeaders, reply, resultOf, waitedOut, waitOf } from './reply.js';

/** A plain GET from a geecache asker still loading after this long is sent `102 Processing`. */
const PROCESSING_AFTER_MS = 100;
/** Most GetResponse prefixes kept (one per value length: see Gets#prefixes). */
const MAX_PREFIXES = 1024;

/** What the GET route needs of the configuration. */
export interface GetsOptions {
  readonly basePath: string;
  /** Whether requests are signed: with `secret: false`, no stats are served. */
  readonly signed: boolean;
  /** This peer's figures for `GET {basePath}_stats` (dashboards, health checks), in the view asked for; none: 404. */
  readonly stats?: (view: StatsView) => unknown;
  /** Counts loads in flight for the drain. */
  readonly drain?: InFlight;
  /** Answers a get whose result cannot be encoded; none: a plain 500 of the same text. */
  readonly encoding?: EncodeGuard;
}

/** Answers admitted GETs from this process's groups. */
export class Gets {
  readonly #registry: GroupRegistry;
  readonly #options: GetsOptions;
  /**
   * GetResponse prefixes (tag + length) by value length as latin1 strings (one character per
   * byte), made once: values of one length repeat (hot keys, fixed-size records). A string, so
   * that Node joins it to the response's header block (it does so for a first write that is a
   * latin1 string): the socket then gets two pieces, headers + prefix and the value, as a bare
   * server's `end(body)` gives it, not three. At most {@link MAX_PREFIXES}, then it starts over.
   */
  readonly #prefixes = new Map<number, string>();

  constructor(registry: GroupRegistry, options: GetsOptions) {
    this.#registry = registry;
    this.#options = options;
  }

  /**
   * Answers an admitted GET: the stats, a peek, a cached value at once, or a load once it settles.
   * A traced get's `trace` (server/tracing.ts) is told its group and key.
   */
  serve(res: ServerResponse, request: PeerRequest, trace?: ServeTrace) {
    const { basePath } = this.#options;
    const { path } = request;
    if (path.length === basePath.length + STATS_PATH.length && path.endsWith(STATS_PATH)) return this.#serveStats(res, request.url);
    const slash = path.indexOf('/', basePath.length);
    if (slash <= basePath.length) return reply(res, 400, `bad request: expected ${basePath}<group>/<key>`);
    if (path.indexOf('/', slash + 1) >= 0) return reply(res, 400, "bad request: the key must be one path segment (escape '/' as %2F)");
    const group = decodePlain(path.slice(basePath.length, slash));
    const key = decodePlain(path.slice(slash + 1));
    if (group === undefined || key === undefined) return reply(res, 400, 'bad request: malformed %-escape or bytes that are not UTF-8');
    if (trace) {
      trace.group = group;
      trace.key = key;
    }
    if (request.peek !== undefined) return this.#writeGet(res, this.#peek({ group, key }));
    const found = this.#registry.getGroup(group);
    if (!found) return reply(res, 404, `no such group: ${group}`);
    const cached = found.cachedForPeer(key);
    if (cached) return this.#writeView(res, cached);
    this.#answer(res, found.getForPeer(key), { group, key }, request.wait);
  }

  /**
   * Writes the answer of a plain GET once `pending` settles (a cached value: in the next
   * microtask). Only a get still loading after that arms the asker's wait (WAIT_HEADER): its
   * deadline and the `102 Processing` after {@link PROCESSING_AFTER_MS}, so a hit sets no timer.
   * Counted in flight for the drain until answered.
   */
  #answer(res: ServerResponse, pending: Promise<ByteView>, request: GetRequest, wait: string | undefined): void {
    const drain = this.#options.drain;
    drain?.enter();
    let answered = false;
    let timer: NodeJS.Timeout | undefined;
    const answer = (result: PeerResult | ByteView) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      drain?.leave();
      if (result instanceof ByteView) this.#writeView(res, result);
      else this.#writeGet(res, result);
    };
    pending.then(answer, (err) => answer(failure(err)));
    if (wait === undefined) return; // golang/groupcache askers send none: they wait for the load
    // Runs after the reaction above when `pending` was already settled (a reaction job queued first runs first).
    queueMicrotask(() => {
      const waitMs = answered ? undefined : waitOf(wait);
      if (waitMs === undefined) return;
      const expire = () => answer(waitedOut(request, waitMs));
      if (waitMs <= PROCESSING_AFTER_MS) timer = setTimeout(expire, waitMs);
      else
        timer = setTimeout(() => {
          if (!res.headersSent && !res.destroyed) res.writeProcessing();
          timer = setTimeout(expire, waitMs - PROCESSING_AFTER_MS);
        }, PROCESSING_AFTER_MS);
    });
  }

  /**
   * Ends a plain GET with its result, unless the client is gone (the load still filled the cache):
   * a 200 with the GetResponse as its prefix (tag and length), the value as cached (never copied)
   * and the expiry, corked into one write; or the failure as Go's http.Error, marked.
   */
  #writeGet(res: ServerResponse, result: PeerResult) {
    if (!result.ok) return reply(res, result.status, result.error, failureHeaders(result));
    if (res.destroyed) return;
    const { value } = result;
    const suffix = this.#suffixOf(res, result.expiresAt, result);
    if (suffix === null) return;
    const prefix = this.#prefixOf(value.length);
    // An array of headers: Node's writeHead walks it without the for-in an object takes.
    res.writeHead(200, ['content-type', GET_RESPONSE_TYPE, 'content-length', String(prefix.length + value.length + (suffix?.length ?? 0))]);
    res.cork();
    res.write(prefix, 'latin1');
    if (suffix) res.write(value);
    res.end(suffix ?? value);
  }

  /**
   * #writeGet for a value as the cache holds it. ByteView keeps values up to 16 KiB as strings
   * (byteview.ts); ByteView.unwrap would encode one into a new Buffer for every request. A
   * string one byte per character (bytes kept as latin1, or ASCII text) is written as it is
   * instead, after the prefix in the same string, which Node joins to the header block: one
   * piece, one copy into the socket (Node's own, as for any string). Other text goes as UTF-8.
   */
  #writeView(res: ServerResponse, view: ByteView) {
    const held = ByteView.held(view);
    if (typeof held !== 'string') return this.#writeGet(res, resultOf(view));
    if (res.destroyed) return;
    const suffix = this.#suffixOf(res, view.expiresAt, view.tagged && wireTags(view.tagged));
    if (suffix === null) return;
    const prefix = this.#prefixOf(view.length);
    res.writeHead(200, ['content-type', GET_RESPONSE_TYPE, 'content-length', String(prefix.length + view.length + (suffix?.length ?? 0))]);
    // Its UTF-8 length is its length only when every character is one byte: then latin1 writes exactly those bytes.
    const latin1 = held.length === view.length;
    if (latin1 && !suffix) return void res.end(prefix + held, 'latin1');
    res.cork();
    if (latin1) res.write(prefix + held, 'latin1');
    else {
      res.write(prefix, 'latin1');
      res.write(held, 'utf8');
    }
    res.end(suffix);
  }

  /**
   * The GetResponse suffix for `expiresAt` (and a tagged value's `tags`); null when it cannot be
   * encoded, after answering the get with its failure (see EncodeGuard).
   */
  #suffixOf(res: ServerResponse, expiresAt: number | undefined, tags: WireTags | undefined): Uint8Array | undefined | null {
    try {
      return getResponseSuffix(expiresAt, undefined, undefined, tags);
    } catch (err) {
      const failed = this.#options.encoding?.failed(err) ?? { ok: false, status: 500, error: `the owner could not encode its answer: ${messageOf(err)}` };
      this.#writeGet(res, failed);
      return null;
    }
  }

  /** The GetResponse prefix for a value of `length` bytes (see #prefixes). */
  #prefixOf(length: number): string {
    let prefix = this.#prefixes.get(length);
    if (prefix === undefined) {
      if (this.#prefixes.size >= MAX_PREFIXES) this.#prefixes.clear();
      prefix = getResponsePrefix(length).toString('latin1');
      this.#prefixes.set(length, prefix);
    }
    return prefix;
  }

  /** A peek: the cached value, never a load (warm handoff; see PEEK_HEADER). */
  #peek({ group: name, key }: GetRequest): PeerResult {
    const group = this.#registry.getGroup(name);
    if (!group) return { ok: false, status: 404, error: `no such group: ${name}` };
    try {
      const value = group.peek(key);
      if (!value) return { ok: false, status: 404, error: PEEK_MISS, kind: PEEK_MISS };
      return resultOf(value);
    } catch (err) {
      return failure(err);
    }
  }

  /**
   * `GET {basePath}_stats`, signed like every peer request: no secret, no stats. `?view=round`
   * asks for a stats round's answer (see StatsView); any other query, the full document.
   */
  #serveStats(res: ServerResponse, target: string): void {
    const stats = this.#options.stats;
    if (!this.#options.signed || !stats) {
      reply(res, stats ? 403 : 404, stats ? 'stats are served only to signed requests: this peer has secret: false' : 'no stats here');
      return;
    }
    const query = target.indexOf('?');
    const view: StatsView = query >= 0 && new URLSearchParams(target.slice(query + 1)).get('view') === 'round' ? 'round' : 'full';
    const body = Buffer.from(JSON.stringify(stats(view)));
    if (res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
  }
}

/** A path segment decoded, or the same string when it has nothing to decode (the common case: no decodeURIComponent call). */
function decodePlain(raw: string): string | undefined {
  return raw.indexOf('%') < 0 && raw.indexOf('+') < 0 ? raw : decodeSegment(raw);
}
