import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/*
 * The peer protocol: golang/groupcache's `GET {basePath}{group}/{key}` answered with a protobuf
 * GetResponse, plus geecache's own batch request. proto/geecache.proto is the schema; the
 * codecs below are written by hand against it because they are faster than generated code on
 * the hot path (test/wire.test.ts checks them against code generated from that file).
 */

/** The header that carries a peer request's signature (see auth.ts). */
export const AUTH_HEADER = 'x-geecache-auth';
/** Set by a geecache server on a 500 caused by its getter, so the asker does not run the getter again. */
export const ERROR_HEADER = 'x-geecache-error';
/** The value of {@link ERROR_HEADER} that marks a getter failure. */
export const GETTER_FAILED = 'getter';
/** Content type of a GetResponse. */
export const GET_RESPONSE_TYPE = 'application/x-protobuf';
/** Content type of a batch request and its answer: `POST {basePath}` with a BatchRequest body. */
export const BATCH_CONTENT_TYPE = 'application/x-geecache-batch';
/** Most gets in one batch request. */
export const MAX_BATCH = 256;
/** Largest batch request body a server reads: MAX_BATCH keys of the longest allowed length, with room. */
export const MAX_BATCH_REQUEST_BYTES = 4 << 20;
/** Longest error text sent to a peer. */
export const MAX_ERROR_TEXT = 1024;
/** `GET {basePath}_stats`, signed like every peer request: a peer's figures as JSON (geecache peers only). */
export const STATS_PATH = '_stats';

/** What a peer is asked: golang/groupcache's `GetRequest { string group = 1; string key = 2; }`. */
export interface GetRequest {
  group: string;
  key: string;
}

/** What a peer answers: golang/groupcache's `GetResponse { bytes value = 1; double minute_qps = 2; }` (qps unused). */
export interface GetResponse {
  value: Uint8Array;
}

/**
 * One get's outcome as a server produces it and a batch carries it. A failure keeps the status a
 * single GET would have answered: 500 when the owner's getter failed, 400 for a bad key, 404 for
 * an unknown group.
 */
export type PeerResult = { ok: true; value: Uint8Array } | { ok: false; status: number; error: string };

/**
 * The bytes of golang/groupcache's `groupcachepb.GetResponse` (proto2):
 * `optional bytes value = 1; optional double minute_qps = 2;`.
 */
export function encodeGetResponse(value: Uint8Array): Uint8Array {
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(value).finish();
}

/**
 * The bytes of a GetResponse that come before its value (field 1's tag and length), so a server
 * can send `prefix + value` without copying the value. Pass a writer to reuse (finish() resets it).
 */
export function getResponsePrefix(valueLength: number, writer = new BinaryWriter()): Uint8Array {
  return writer.tag(1, WireType.LengthDelimited).uint32(valueLength).finish();
}

/** The value field of a GetResponse; throws on bytes that are not one. */
export function decodeGetResponse(bytes: Uint8Array): Uint8Array {
  const reader = new BinaryReader(bytes);
  let value: Uint8Array | undefined;
  while (reader.pos < reader.len) {
    const [field, type] = reader.tag();
    if (field === 1 && type === WireType.LengthDelimited) value = reader.bytes();
    else if (field === 2 && type === WireType.Bit64) reader.double();
    else reader.skip(type, field);
  }
  if (reader.pos !== reader.len) throw new Error('truncated GetResponse');
  return value ?? new Uint8Array(0);
}

/** `BatchRequest { repeated GetRequest items = 1; }` — geecache's own message, not groupcache's. */
export function encodeBatchRequest(items: GetRequest[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const { group, key } of items) {
    writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(group).tag(2, WireType.LengthDelimited).string(key).join();
  }
  return writer.finish();
}

/** Reads a BatchRequest; throws on malformed bytes or an item without group or key. */
export function decodeBatchRequest(bytes: Uint8Array): GetRequest[] {
  return readRepeated(bytes, (reader, end) => {
    const item: Partial<GetRequest> = {};
    while (reader.pos < end) {
      const [field, type] = reader.tag();
      if (field === 1 && type === WireType.LengthDelimited) item.group = reader.string();
      else if (field === 2 && type === WireType.LengthDelimited) item.key = reader.string();
      else reader.skip(type, field);
    }
    if (item.group === undefined || item.key === undefined) throw new Error('batch item without group or key');
    return item as GetRequest;
  });
}

/** `BatchResponse { repeated Result results = 1; }`, `Result { int32 status = 1; bytes value = 2; string error = 3; }`. */
export function encodeBatchResponse(results: PeerResult[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const result of results) {
    writer
      .tag(1, WireType.LengthDelimited)
      .fork()
      .tag(1, WireType.Varint)
      .int32(result.ok ? 200 : result.status);
    if (result.ok) writer.tag(2, WireType.LengthDelimited).bytes(result.value);
    else writer.tag(3, WireType.LengthDelimited).string(result.error);
    writer.join();
  }
  return writer.finish();
}

/** Reads a BatchResponse; throws on malformed bytes. */
export function decodeBatchResponse(bytes: Uint8Array): PeerResult[] {
  return readRepeated(bytes, (reader, end) => {
    let status = 0;
    let value: Uint8Array | undefined;
    let error = '';
    while (reader.pos < end) {
      const [field, type] = reader.tag();
      if (field === 1 && type === WireType.Varint) status = reader.int32();
      else if (field === 2 && type === WireType.LengthDelimited) value = reader.bytes();
      else if (field === 3 && type === WireType.LengthDelimited) error = reader.string();
      else reader.skip(type, field);
    }
    return status === 200 ? { ok: true, value: value ?? new Uint8Array(0) } : { ok: false, status, error };
  });
}

/** Reads `repeated <message> = 1`, handing each embedded message's bounds to `readOne`. */
function readRepeated<T>(bytes: Uint8Array, readOne: (reader: BinaryReader, end: number) => T): T[] {
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
