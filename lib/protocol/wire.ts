/**
 * wire.ts puts the peer protocol into bytes: golang/groupcache's `GET {basePath}{group}/{key}`
 * answered with a protobuf GetResponse, plus geecache's own batch request, set and remove, and the
 * headers that go with them. proto/geecache.proto is the schema; the codecs below are written by
 * hand against it because they are faster than generated code on the hot path
 * (test/unit/wire.test.ts checks them against code generated from that file).
 */

import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { GetRequest, GetResponse, SetRequest } from '../cache/peers.js';
import { traceContextOf } from '../common/diagnostics.js';
import { fromNanos, type Received, received, writeExpiry } from './expiry.js';
import { isTagField, type ReadTags, readTagField, type WireTags, writeTags } from './tagwire.js';

/**
 * One get's outcome as a server produces it and a batch carries it. A failure keeps the status a
 * single GET would have answered: 500 when the owner's getter failed, 400 for a bad key, 404 for
 * an unknown group — or, with kind NOT_FOUND (headers.ts), for a getter's NotFoundError.
 */
export type PeerResult = ({ ok: true; value: Uint8Array; expiresAt?: number; sentAt?: number } & WireTags) | PeerFailure;

/**
 * A failed get. A getter's failure also carries its error's `name` and HTTP `errorStatus` (a valid
 * 4xx/5xx `status`/`statusCode` of the error), so the error an asker raises looks the same as on
 * the owner (OwnerLoadError).
 */
export type PeerFailure = { ok: false; status: number; error: string; kind?: string; name?: string; errorStatus?: number };

/** A failure with only the fields that are set (decoders build results that compare equal to encoded ones). */
function failed(status: number, error: string, kind: string | undefined, name: string | undefined, errorStatus: number | undefined): PeerFailure {
  const out: PeerFailure = { ok: false, status, error };
  if (kind !== undefined) out.kind = kind;
  if (name !== undefined) out.name = name;
  if (errorStatus !== undefined) out.errorStatus = errorStatus;
  return out;
}

/** Writes a failure's fields of Result: error = 3, kind = 5, error_name = 7, error_status = 8. */
function writeFailure(writer: BinaryWriter, result: PeerFailure): void {
  writer.tag(3, WireType.LengthDelimited).string(result.error);
  if (result.kind !== undefined) writer.tag(5, WireType.LengthDelimited).string(result.kind);
  if (result.name !== undefined) writer.tag(7, WireType.LengthDelimited).string(result.name);
  if (result.errorStatus !== undefined) writer.tag(8, WireType.Varint).int32(result.errorStatus);
}

/**
 * The bytes of golang/groupcache's `groupcachepb.GetResponse` (proto2):
 * `optional bytes value = 1; optional double minute_qps = 2;`, with `expire = 3` and
 * `ttl_remaining_ms = 4` for a value that expires (see writeExpiry).
 */
export function encodeGetResponse(value: Uint8Array, expiresAt?: number, now = Date.now(), tags: WireTags = {}): Uint8Array {
  const writer = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(value);
  if (expiresAt !== undefined) writeExpiry(writer, 3, 4, expiresAt, now);
  return writeTags(writer, tags.tags, tags.tagMarks).finish();
}

/**
 * The bytes of a GetResponse that come before its value (field 1's tag and length), so a server
 * can send `prefix + value` without copying the value. Written by hand into a Buffer (a few
 * bytes: the tag, then the length as a varint; test/wire.test.ts checks them against the
 * generated codec): a BinaryWriter's Uint8Array costs its chunk bookkeeping and, on every
 * socket write, a conversion to a Buffer — both on the peer route's hot path.
 */
export function getResponsePrefix(valueLength: number): Buffer {
  let size = 2;
  for (let n = valueLength >>> 7; n > 0; n >>>= 7) size++;
  const prefix = Buffer.allocUnsafe(size);
  prefix[0] = (1 << 3) | WireType.LengthDelimited;
  let n = valueLength >>> 0;
  let i = 1;
  for (; n >= 0x80; n >>>= 7) prefix[i++] = (n & 0x7f) | 0x80;
  prefix[i] = n;
  return prefix;
}

/**
 * The bytes of a GetResponse that come after its value: the expire and ttl_remaining_ms fields,
 * and a tagged value's tags and marks (tagwire.ts), or nothing for a value that never expires and
 * has no tags (fields may come in any order in protobuf).
 */
export function getResponseSuffix(expiresAt: number | undefined, writer = new BinaryWriter(), now = Date.now(), tags?: WireTags): Uint8Array | undefined {
  if (tags?.tags !== undefined) {
    if (expiresAt !== undefined) writeExpiry(writer, 3, 4, expiresAt, now);
    return writeTags(writer, tags.tags, tags.tagMarks).finish();
  }
  return expiresAt === undefined ? undefined : writeExpiry(writer, 3, 4, expiresAt, now).finish();
}

/** The value field of a GetResponse; throws on bytes that are not one. */
export function decodeGetResponse(bytes: Uint8Array): Uint8Array {
  return readGetResponse(bytes).value;
}

/**
 * A whole GetResponse: its value, and its expiry on this clock (`now`; see {@link Received});
 * throws on bytes that are not one.
 */
export function readGetResponse(bytes: Uint8Array, now = Date.now()): GetResponse & Received {
  const reader = new BinaryReader(bytes);
  let value: Uint8Array | undefined;
  let expire: number | undefined;
  let ttl: bigint | string | undefined;
  let tags: ReadTags | undefined;
  while (reader.pos < reader.len) {
    const [field, type] = reader.tag();
    if (field === 1 && type === WireType.LengthDelimited) value = reader.bytes();
    else if (field === 2 && type === WireType.Bit64) reader.double();
    else if (field === 3 && type === WireType.Varint) expire = fromNanos(reader.int64());
    else if (field === 4 && type === WireType.Varint) ttl = reader.sint64();
    else if (isTagField(field, type)) tags = readTagField(reader, field, type, tags);
    else reader.skip(type, field);
  }
  if (reader.pos !== reader.len) throw new Error('truncated GetResponse');
  return { value: value ?? new Uint8Array(0), ...received(expire, ttl, now), ...tags };
}

/**
 * `SetRequest { string group = 1; string key = 2; bytes value = 3; int64 expire = 4; }`
 * (mailgun/groupcache's), with geecache's `ttl_remaining_ms = 5` beside `expire` (see writeExpiry).
 */
export function encodeSetRequest({ group, key, value, expiresAt, tags }: SetRequest, now = Date.now()): Uint8Array {
  const writer = new BinaryWriter()
    .tag(1, WireType.LengthDelimited)
    .string(group)
    .tag(2, WireType.LengthDelimited)
    .string(key)
    .tag(3, WireType.LengthDelimited)
    .bytes(value);
  if (expiresAt !== undefined) writeExpiry(writer, 4, 5, expiresAt, now);
  return writeTags(writer, tags).finish();
}

/**
 * Reads a SetRequest, its expiry on this clock (`now`; see {@link Received}); throws on malformed
 * bytes or one without group or key.
 */
export function decodeSetRequest(bytes: Uint8Array, now = Date.now()): SetRequest {
  const reader = new BinaryReader(bytes);
  const request: Partial<SetRequest> = {};
  let expire: number | undefined;
  let ttl: bigint | string | undefined;
  let tags: ReadTags | undefined;
  while (reader.pos < reader.len) {
    const [field, type] = reader.tag();
    if (field === 1 && type === WireType.LengthDelimited) request.group = reader.string();
    else if (field === 2 && type === WireType.LengthDelimited) request.key = reader.string();
    else if (field === 3 && type === WireType.LengthDelimited) request.value = reader.bytes();
    else if (field === 4 && type === WireType.Varint) expire = fromNanos(reader.int64());
    else if (field === 5 && type === WireType.Varint) ttl = reader.sint64();
    else if (isTagField(field, type)) tags = readTagField(reader, field, type, tags);
    else reader.skip(type, field);
  }
  if (tags?.tags !== undefined) request.tags = tags.tags;
  if (reader.pos !== reader.len) throw new Error('truncated SetRequest');
  if (request.group === undefined || request.key === undefined) throw new Error('SetRequest without group or key');
  const { expiresAt } = received(expire, ttl, now);
  if (expiresAt !== undefined) request.expiresAt = expiresAt;
  return { value: new Uint8Array(0), ...request } as SetRequest;
}

/**
 * `BatchRequest { repeated GetRequest items = 1; }` — geecache's own message, not groupcache's —
 * each item with its trace context, when it has a well-formed one, in geecache's
 * `traceparent = 3` and `tracestate = 4`.
 */
export function encodeBatchRequest(items: GetRequest[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const { group, key, trace } of items) {
    writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(group).tag(2, WireType.LengthDelimited).string(key);
    if (trace?.traceparent !== undefined) {
      const { traceparent, tracestate } = traceContextOf(trace.traceparent, trace.tracestate);
      if (traceparent) writer.tag(3, WireType.LengthDelimited).string(traceparent);
      if (tracestate) writer.tag(4, WireType.LengthDelimited).string(tracestate);
    }
    writer.join();
  }
  return writer.finish();
}

/**
 * Reads a BatchRequest; throws on malformed bytes or an item without group or key. An item's trace
 * context is taken as sent: check it (traceContextOf) before use.
 */
export function decodeBatchRequest(bytes: Uint8Array): GetRequest[] {
  return readRepeated(bytes, (reader, end) => {
    const item: Partial<GetRequest> = {};
    while (reader.pos < end) {
      const [field, type] = reader.tag();
      if (field === 1 && type === WireType.LengthDelimited) item.group = reader.string();
      else if (field === 2 && type === WireType.LengthDelimited) item.key = reader.string();
      else if (field === 3 && type === WireType.LengthDelimited) item.trace = { ...item.trace, traceparent: reader.string() };
      else if (field === 4 && type === WireType.LengthDelimited) item.trace = { ...item.trace, tracestate: reader.string() };
      else reader.skip(type, field);
    }
    if (item.group === undefined || item.key === undefined) throw new Error('batch item without group or key');
    return item as GetRequest;
  });
}

/**
 * `BatchResponse { repeated Result results = 1; }`,
 * `Result { int32 status = 1; bytes value = 2; string error = 3; int64 expire = 4; string kind = 5; sint64 ttl_remaining_ms = 9; }`.
 */
export function encodeBatchResponse(results: PeerResult[], now = Date.now()): Uint8Array {
  const writer = new BinaryWriter();
  for (const result of results) {
    writer
      .tag(1, WireType.LengthDelimited)
      .fork()
      .tag(1, WireType.Varint)
      .int32(result.ok ? 200 : result.status);
    if (result.ok) {
      writer.tag(2, WireType.LengthDelimited).bytes(result.value);
      if (result.expiresAt !== undefined) writeExpiry(writer, 4, 9, result.expiresAt, now);
      writeTags(writer, result.tags, result.tagMarks);
    } else writeFailure(writer, result);
    writer.join();
  }
  return writer.finish();
}

/** Reads a BatchResponse, its expiries on this clock (`now`; see {@link Received}); throws on malformed bytes. */
export function decodeBatchResponse(bytes: Uint8Array, now = Date.now()): PeerResult[] {
  return readRepeated(bytes, (reader, end) => readResult(reader, end, now).result);
}

/**
 * The bytes of one streamed Result frame that come before its value: BatchResponse's field 1
 * (tag, length) around `Result { status = 1; index = 6; expire = 4, ttl_remaining_ms = 9 | error = 3, kind = 5; value = 2 }`,
 * the value last so a server sends `prefix + value` without copying the value. Frames
 * concatenated are a valid BatchResponse (in the order the gets became ready; `index` says which
 * get each answers).
 */
export function resultFramePrefix(index: number, result: PeerResult, writer = new BinaryWriter(), now = Date.now()): Uint8Array {
  const inner = writer
    .tag(1, WireType.Varint)
    .int32(result.ok ? 200 : result.status)
    .tag(6, WireType.Varint)
    .uint32(index);
  if (result.ok) {
    if (result.expiresAt !== undefined) writeExpiry(inner, 4, 9, result.expiresAt, now);
    writeTags(inner, result.tags, result.tagMarks);
    inner.tag(2, WireType.LengthDelimited).uint32(result.value.length);
  } else writeFailure(inner, result);
  const head = inner.finish();
  const length = head.length + (result.ok ? result.value.length : 0);
  return writer.tag(1, WireType.LengthDelimited).uint32(length).raw(head).finish();
}

/**
 * Reads one Result (the bytes inside a frame, without BatchResponse's tag and length), its
 * expiry on this clock (`now`; see {@link Received}). The value is a view into `bytes`, not a
 * copy. `index` is undefined in a Result without one (an unstreamed BatchResponse, where
 * position says which get it answers).
 */
export function decodeResult(bytes: Uint8Array, now = Date.now()): { index: number | undefined; result: PeerResult } {
  const reader = new BinaryReader(bytes);
  const read = readResult(reader, reader.len, now);
  if (reader.pos !== reader.len) throw new Error('truncated Result');
  return read;
}

/** Reads a Result's fields from `reader` up to `end`: the one Result reader of a BatchResponse and a streamed frame. */
function readResult(reader: BinaryReader, end: number, now: number): { index: number | undefined; result: PeerResult } {
  let status = 0;
  let index: number | undefined;
  let value: Uint8Array | undefined;
  let error = '';
  let expire: number | undefined;
  let ttl: bigint | string | undefined;
  let kind: string | undefined;
  let name: string | undefined;
  let errorStatus: number | undefined;
  let tags: ReadTags | undefined;
  while (reader.pos < end) {
    const [field, type] = reader.tag();
    if (field === 1 && type === WireType.Varint) status = reader.int32();
    else if (field === 6 && type === WireType.Varint) index = reader.uint32();
    else if (field === 2 && type === WireType.LengthDelimited) value = reader.bytes();
    else if (field === 3 && type === WireType.LengthDelimited) error = reader.string();
    else if (field === 4 && type === WireType.Varint) expire = fromNanos(reader.int64());
    else if (field === 5 && type === WireType.LengthDelimited) kind = reader.string();
    else if (field === 7 && type === WireType.LengthDelimited) name = reader.string();
    else if (field === 8 && type === WireType.Varint) errorStatus = reader.int32();
    else if (field === 9 && type === WireType.Varint) ttl = reader.sint64();
    else if (isTagField(field, type)) tags = readTagField(reader, field, type, tags);
    else reader.skip(type, field);
  }
  if (status === 200) return { index, result: { ok: true, value: value ?? new Uint8Array(0), ...received(expire, ttl, now), ...tags } };
  return { index, result: failed(status, error, kind, name, errorStatus) };
}

/** Reads `repeated <message> = 1`, handing each embedded message's bounds to `readOne`. */
export function readRepeated<T>(bytes: Uint8Array, readOne: (reader: BinaryReader, end: number) => T): T[] {
  const reader = new BinaryReader(bytes);
  const out: T[] = [];
  while (reader.pos < reader.len) {
    const [field, type] = reader.tag();
    if (field !== 1 || type !== WireType.LengthDelimited) {
      reader.skip(type, field);
      continue;
    }
    const length = reader.uint32();
    const end = reader.pos + length;
    if (end > reader.len) throw new Error('truncated message');
    out.push(readOne(reader, end));
    if (reader.pos !== end) throw new Error('malformed embedded message');
  }
  return out;
}

/**
 * Escapes a group name or key for one path segment. Space becomes `%20`, `+` `%2B`, `/` `%2F`:
 * golang/groupcache's server decodes these intact (Go's own client sends a space as `+`, which
 * Go's server keeps literally).
 */
export function encodeSegment(text: string): string {
  return encodeURIComponent(text);
}

/**
 * Undoes {@link encodeSegment} and Go's `url.QueryEscape`: `+` is a space, `%XX` a byte, the
 * bytes UTF-8. Returns undefined for a malformed escape or bytes that are not UTF-8.
 */
export function decodeSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.includes('+') ? raw.replaceAll('+', ' ') : raw);
  } catch {
    return undefined;
  }
}
