import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

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

/** One get in a batch: the fields of golang/groupcache's `GetRequest` (group = 1, key = 2). */
export interface BatchItem {
  group: string;
  key: string;
}

/**
 * One answer in a batch. `status` is what a single GET would have answered: 200 with `value`,
 * 500 with `error` when the owner's getter failed, 400 or 404 for a bad key or group.
 */
export interface BatchResult {
  status: number;
  value?: Uint8Array;
  error?: string;
}

/** `BatchRequest { repeated GetRequest items = 1; }` — geecache's own message, not groupcache's. */
export function encodeBatchRequest(items: BatchItem[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const { group, key } of items) {
    writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(group).tag(2, WireType.LengthDelimited).string(key).join();
  }
  return writer.finish();
}

/** Reads a BatchRequest; throws on malformed bytes or an item without group or key. */
export function decodeBatchRequest(bytes: Uint8Array): BatchItem[] {
  return readRepeated(bytes, (reader, end) => {
    const item: Partial<BatchItem> = {};
    while (reader.pos < end) {
      const [field, type] = reader.tag();
      if (field === 1 && type === WireType.LengthDelimited) item.group = reader.string();
      else if (field === 2 && type === WireType.LengthDelimited) item.key = reader.string();
      else reader.skip(type, field);
    }
    if (item.group === undefined || item.key === undefined) throw new Error('batch item without group or key');
    return item as BatchItem;
  });
}

/** `BatchResponse { repeated Result results = 1; }`, `Result { int32 status = 1; bytes value = 2; string error = 3; }`. */
export function encodeBatchResponse(results: BatchResult[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const { status, value, error } of results) {
    writer.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.Varint).int32(status);
    if (value) writer.tag(2, WireType.LengthDelimited).bytes(value);
    if (error !== undefined) writer.tag(3, WireType.LengthDelimited).string(error);
    writer.join();
  }
  return writer.finish();
}

/** Reads a BatchResponse; throws on malformed bytes. */
export function decodeBatchResponse(bytes: Uint8Array): BatchResult[] {
  return readRepeated(bytes, (reader, end) => {
    const result: BatchResult = { status: 0 };
    while (reader.pos < end) {
      const [field, type] = reader.tag();
      if (field === 1 && type === WireType.Varint) result.status = reader.int32();
      else if (field === 2 && type === WireType.LengthDelimited) result.value = reader.bytes();
      else if (field === 3 && type === WireType.LengthDelimited) result.error = reader.string();
      else reader.skip(type, field);
    }
    return result;
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
