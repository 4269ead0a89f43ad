import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { AUTH_HEADER, RequestSigner } from './auth.js';
import { ConsistentHashRing } from './consistenthash.js';
import type { Ring } from './ring.js';
import { ByteView } from './byteview.js';
import { BadKeyError } from './errors.js';
import { BATCH_CONTENT_TYPE, ERROR_HEADER, HttpGetter, MAX_BATCH } from './httpgetter.js';
import { checkPeers, ConfigError, type ResolvedOptions } from './options.js';
import type { PeerPicker } from './peers.js';
import type { GroupRegistry } from './registry.js';
import { RendezvousRing } from './rendezvous.js';
import type { RingOption } from './types.js';
import { decodeBatchRequest, decodeSegment, encodeBatchResponse, getResponsePrefix, type BatchItem, type BatchResult } from './wire.js';

/** Longest error text sent to a peer. */
const MAX_ERROR_TEXT = 1024;
/** Largest batch request body read: MAX_BATCH keys of the longest allowed length, with room. */
const MAX_BATCH_REQUEST_BYTES = 4 << 20;
const UNAUTHORIZED = 'unauthorized: missing or invalid peer signature (do all peers share the same secret?)';
/**
 * Headers of a 401: the Date is the clock the signature check used, so the client can tell
 * skewed clocks from a wrong secret (Node's own Date header comes from another clock source).
 */
const unauthorizedHeaders = (extra: Record<string, string> = {}) => ({ date: new Date(Date.now()).toUTCString(), ...extra });

/**
 * The HTTP side of a peer: a server answering other peers under `basePath`, and a
 * {@link PeerPicker} that owns one {@link HttpGetter} per remote peer and a ring to choose
 * among them. golang/groupcache's HTTPPool, wire-compatible with it.
 */
export class HttpPool implements PeerPicker {
  /** This peer's base URL. */
  readonly self: string;
  /** The peer route's path prefix. */
  readonly basePath: string;
  readonly #registry: GroupRegistry;
  readonly #options: ResolvedOptions;
  readonly #signer: RequestSigner | undefined;
  readonly #attached = new WeakSet<Server>();
  /** Scratch writer for response prefixes; finish() leaves it empty for the next one. */
  readonly #writer = new BinaryWriter();
  /** Set by set(), which the constructor calls. */
  #ring!: Ring;
  #getters = new Map<string, HttpGetter>();
  #closed = false;

  constructor(registry: GroupRegistry, options: ResolvedOptions) {
    this.self = options.self;
    this.basePath = options.basePath;
    this.#registry = registry;
    this.#options = options;
    this.#signer = options.secret ? new RequestSigner(options.secret) : undefined;
    this.set(...options.peers);
  }

  /**
   * Replaces the peer list (self included), rebuilding the ring and the getters. Every peer
   * must be given the same list. Getters of peers that stay are kept, with their sockets.
   */
  set(...peers: string[]): void {
    const checked = checkPeers(peers, this.self);
    if (this.#options.secret === undefined && checked.length > 1) {
      throw new ConfigError('secret', 'is required once the pool has other peers: pass secret to geecache(), or secret: false on a private network');
    }
    const ring = makeRing(this.#options.ring);
    ring.add(...checked);
    const getters = new Map<string, HttpGetter>();
    for (const peer of checked) {
      if (peer === this.self) continue;
      getters.set(peer, this.#getters.get(peer) ?? new HttpGetter(peer, { ...this.#options, signer: this.#signer }));
    }
    for (const [peer, getter] of this.#getters) if (!getters.has(peer)) getter.close();
    this.#ring = ring;
    this.#getters = getters;
  }

  /** The current peers, self included. */
  peers(): string[] {
    return this.#ring.peers();
  }

  /** The client of each other peer, by URL: their monitors hold requests, errors and latency. */
  getters(): ReadonlyMap<string, HttpGetter> {
    return this.#getters;
  }

  /** The owner of `key` on this pool's ring. */
  ownerOf(key: string): string | undefined {
    return this.#ring.get(key);
  }

  pickPeer(key: string): HttpGetter | undefined {
    const owner = this.#ring.get(key);
    return owner === undefined || owner === this.self ? undefined : this.#getters.get(owner);
  }

  /**
   * Answers `req` if it is a peer request (its path starts with `basePath`) and returns true;
   * returns false, touching nothing, for any other request.
   */
  handle(req: IncomingMessage, res: ServerResponse, url = req.url ?? '/'): boolean {
    if (this.#closed || !url.startsWith(this.basePath)) return false;
    // #serve answers every expected failure itself; this catches the unexpected (a client that
    // vanished mid-body), so that one bad request can never take the process down.
    this.#serve(req, res, url).catch((err) => reply(res, 500, `internal error: ${(err as Error)?.message}`));
    return true;
  }

  /**
   * Serves peer requests on `server` before its other 'request' listeners (Express) see them,
   * so peer traffic skips Express's per-request work. Idempotent.
   */
  attach(server: Server): void {
    if (this.#attached.has(server)) return;
    this.#attached.add(server);
    const others = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.handle(req, res)) return;
      for (const listener of others) listener.call(server, req, res);
    });
  }

  /** Stops serving peer requests and closes every peer connection. */
  close(): void {
    this.#closed = true;
    for (const getter of this.#getters.values()) getter.close();
  }

  async #serve(req: IncomingMessage, res: ServerResponse, url: string): Promise<void> {
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (this.#options.secret === undefined) return reply(res, 403, 'peer route disabled: this peer has no other peers and no secret');
    if (req.method === 'POST' && path === this.basePath && header(req, 'content-type') === BATCH_CONTENT_TYPE) return this.#serveBatch(req, res, path);
    if (this.#signer && !this.#signer.verify(req.method ?? '', path, header(req, AUTH_HEADER))) return reply(res, 401, UNAUTHORIZED, unauthorizedHeaders());
    if (req.method !== 'GET') return reply(res, 405, `method ${req.method} not allowed: peers use GET`, { allow: 'GET' });
    const rest = path.slice(this.basePath.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return reply(res, 400, `bad request: expected ${this.basePath}<group>/<key>`);
    const keyRaw = rest.slice(slash + 1);
    if (keyRaw.includes('/')) return reply(res, 400, "bad request: the key must be one path segment (escape '/' as %2F)");
    const name = decodeSegment(rest.slice(0, slash));
    const key = decodeSegment(keyRaw);
    if (name === undefined || key === undefined) return reply(res, 400, 'bad request: malformed %-escape or bytes that are not UTF-8');
    const answer = this.#answer(name, key);
    // A hot key is answered in this turn; only a load waits.
    const result = answer instanceof Promise ? await answer : answer;
    if (result.status !== 200) return reply(res, result.status, result.error ?? '', result.status === 500 ? { [ERROR_HEADER]: 'getter' } : {});
    const value = result.value!;
    send(res, 'application/x-protobuf', getResponsePrefix(value.length, this.#writer), value);
  }

  /** `POST {basePath}`: many gets in one request (geecache peers only; see HttpGetter). */
  async #serveBatch(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (this.#signer && !this.#signer.plausible(header(req, AUTH_HEADER))) return reply(res, 401, UNAUTHORIZED, unauthorizedHeaders({ connection: 'close' }));
    const body = await readBody(req, MAX_BATCH_REQUEST_BYTES);
    if (body === undefined) return reply(res, 413, `batch request over ${MAX_BATCH_REQUEST_BYTES} bytes`, { connection: 'close' });
    if (this.#signer && !this.#signer.verify('POST', path, header(req, AUTH_HEADER), Date.now(), body))
      return reply(res, 401, UNAUTHORIZED, unauthorizedHeaders());
    let items: BatchItem[];
    try {
      items = decodeBatchRequest(body);
    } catch (err) {
      return reply(res, 400, `bad batch request: ${(err as Error).message}`);
    }
    if (items.length > MAX_BATCH) return reply(res, 400, `bad batch request: ${items.length} gets, over the limit of ${MAX_BATCH}`);
    const results = await Promise.all(items.map(({ group, key }) => this.#answer(group, key)));
    send(res, BATCH_CONTENT_TYPE, encodeBatchResponse(results));
  }

  /** One get for a peer, as the status and body a single request would answer; synchronous on a hit. */
  #answer(name: string, key: string): BatchResult | Promise<BatchResult> {
    const group = this.#registry.getGroup(name);
    if (!group) return { status: 404, error: `no such group: ${name}` };
    try {
      const value = group.getForPeer(key);
      if (value instanceof ByteView) return { status: 200, value: ByteView.unwrap(value) };
      return value.then((v) => ({ status: 200, value: ByteView.unwrap(v) }), failure);
    } catch (err) {
      return failure(err);
    }
  }
}

function makeRing(option: RingOption): Ring {
  if (option === 'groupcache') return new ConsistentHashRing();
  if (option === 'default') return new RendezvousRing();
  return option();
}

/**
 * A request header (`name` in lower case), read from rawHeaders: touching `req.headers` makes
 * Node build the whole header object, a measurable share of serving a hot key. Repeats are
 * joined with ", " as `req.headers` joins them.
 */
function header(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === name.length && raw[i].toLowerCase() === name) value = value === undefined ? raw[i + 1] : `${value}, ${raw[i + 1]}`;
  }
  return value;
}

/** A failed get as a result: a bad key is the asker's fault (400), anything else the getter's (500). */
function failure(err: unknown): BatchResult {
  const message = ((err as Error)?.message ?? String(err)).slice(0, MAX_ERROR_TEXT);
  return { status: err instanceof BadKeyError ? 400 : 500, error: message };
}

/** Ends `res` with a 200 and `body` (+ `rest`), unless the client is gone (the load still filled the cache). */
function send(res: ServerResponse, type: string, body: Uint8Array, rest?: Uint8Array): void {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': type, 'content-length': body.length + (rest?.length ?? 0) });
  if (!rest) return void res.end(body);
  res.cork(); // one write to the socket, without copying the value into the body
  res.write(body);
  res.end(rest);
}

/** The request body, or undefined once it passes `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Ends `res` with a plain-text status, as Go's http.Error does. */
function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  const body = `${text.slice(0, MAX_ERROR_TEXT)}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
