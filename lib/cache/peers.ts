/**
 * peers.ts defines how a group finds and asks the other processes of its cluster: the
 * PeerPicker/PeerGetter seam (golang/groupcache's peers.go) and the messages that cross it. The
 * cache knows peers only through this file; cluster/ implements it, protocol/ puts its messages
 * on the wire.
 */

import type { TraceContext } from '../common/diagnostics.js';

/** What a peer is asked: golang/groupcache's `GetRequest { string group = 1; string key = 2; }`. */
export interface GetRequest {
  group: string;
  key: string;
  /**
   * How long the asker will wait for the owner's load, in ms (its group's `loadTimeoutMs`); not a
   * protobuf field: it travels as the `x-geecache-wait-ms` header (protocol/wire.ts). Absent: `timeoutMs`.
   */
  waitMs?: number;
  /**
   * A renewal of a hot copy (lib/cache/renewal.ts), not a get someone waits for: the client may hold it
   * back to send it in a big batch. In-process only: not on the wire.
   */
  renew?: boolean;
  /**
   * The W3C trace context the owner continues for this get (common/diagnostics.ts): set by the
   * peer client when a tracer subscribes (there, the PeerTrace of its request), and read from a
   * batch item on the owner. A plain GET carries it in the traceparent and tracestate headers.
   */
  trace?: TraceContext;
}

/**
 * What a peer answers: golang/groupcache's `GetResponse { bytes value = 1; double minute_qps = 2; }`
 * (qps unused), with mailgun/groupcache's `int64 expire = 3` (Unix nanoseconds on the wire).
 */
export interface GetResponse {
  value: Uint8Array;
  /** When the value expires, in milliseconds since the epoch; undefined: never (or a Go peer, which does not say). */
  expiresAt?: number;
  /** The value's tags (geecache's `tags = 20`; cache/tags.ts); absent: none. */
  tags?: readonly string[];
  /**
   * For each tag, the id of the last invalidation of it the owner had applied when it loaded the
   * value (0: none; `tag_marks = 21`); absent: none had one. See cache/tags.ts.
   */
  tagMarks?: readonly number[];
}

/** What a peer is told to store: mailgun/groupcache's `SetRequest` (expire in Unix nanoseconds on the wire). */
export interface SetRequest {
  group: string;
  key: string;
  value: Uint8Array;
  /** Milliseconds since the epoch; undefined: never. */
  expiresAt?: number;
  /**
   * The write's version (cache/writeorder.ts): the peer applies it only if newer than what it
   * applied of this key. Not a protobuf field: it travels in the signed `x-geecache-write` header.
   */
  version?: number;
  /** The value's tags (geecache's `tags = 20`); absent: none. */
  tags?: readonly string[];
}

/**
 * What a peer is told to drop: one key, or with no key the whole group (`group.clear()`), or
 * with `tags` every value carrying one of them (`group.invalidateTags()`: a TagInvalidation on
 * the wire, `id` naming it cluster-wide; see cache/tags.ts).
 */
export interface RemoveRequest {
  group: string;
  key?: string;
  tags?: readonly string[];
  id?: number;
  /** The write's version, as for SetRequest. */
  version?: number;
}

/**
 * Fetches values from one remote peer: the client side of the peer protocol. Whole messages in
 * and out, as in golang/groupcache, so the protocol can grow without changing this interface.
 */
export interface PeerGetter {
  /**
   * The peer's answer for `request`, loading the value there if needed. Rejects with an
   * OwnerLoadError when the peer's getter failed (the asker must not run it again), with a
   * NotFoundError when it threw one, with any other error when the peer could not be asked.
   * The value's bytes become the cached value as they are: return bytes nobody will modify
   * afterwards.
   */
  get(request: GetRequest): Promise<GetResponse>;
  /**
   * Drops the key (or, without one, the whole group; with `tags`, the values carrying them) at
   * the peer: mailgun/groupcache's `DELETE` (tags: geecache's TagInvalidation). Resolves true
   * once the peer applied it or had applied a newer write of it, false when it answered but refused (another secret, a golang/groupcache peer); rejects when it could
   * not be reached. Optional: a peer without it is skipped by cluster-wide removes.
   */
  remove?(request: RemoveRequest): Promise<boolean>;
  /**
   * {@link remove}, telling `done` the outcome (true, false, or an Error for "could not be
   * reached") instead of settling a promise: a write fanned out to every peer then costs no
   * promise per peer. Optional: without it, remove is used.
   */
  send?(request: RemoveRequest, done: (outcome: boolean | Error) => void): void;
  /**
   * Removes meant for the peer were dropped without reaching it (too many waited for it): its
   * next write tells it so, and it drops what it holds (the peer client's sequence numbers).
   * Optional.
   */
  dropped?(): void;
  /**
   * Stores the value at the peer (mailgun/groupcache's `PUT` with a SetRequest); rejects when it
   * did not, with a StaleWriteError (cache/writeorder.ts) when the peer applied a newer write of
   * the key. Optional.
   */
  set?(request: SetRequest): Promise<void>;
}

/** Tells a group which peer owns a key. */
export interface PeerPicker {
  /** The getter of the peer that owns `key`, or undefined when this process owns it. */
  pickPeer(key: string): PeerGetter | undefined;
  /** This peer's URL. With ownerOf and getters: what cluster-wide remove/set/clear need (optional). */
  readonly self?: string;
  /** The URL of `key`'s owner, self included. */
  ownerOf?(key: string): string | undefined;
  /** The client of every other peer, by URL. */
  getters?(): ReadonlyMap<string, PeerGetter>;
  /** A cluster-wide write was made here (its fan-out starts): the peers out of the ring now miss it. */
  wrote?(): void;
  /**
   * Warm handoff, asked by the owner of a key it does not have, before it runs the getter: the
   * value as the key's previous owner (before the last membership change) has it cached, or
   * undefined. One hop, cache only: the previous owner never loads or forwards. Never rejects.
   */
  handoff?(request: GetRequest): Promise<GetResponse | undefined>;
}
