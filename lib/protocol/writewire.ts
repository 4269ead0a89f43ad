/**
 * writewire.ts puts a batch of writes into bytes: the WriteBatch a writer sends one peer as
 * `DELETE {basePath}` (the removes, clears and tag invalidations gathered while its previous write
 * to that peer was in flight) and the WriteBatchResponse with one outcome per item. Hand-written
 * against proto/geecache.proto like wire.ts (test/unit/writebatch-wire.test.ts checks them against
 * the generated code).
 */

import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { RemoveRequest } from '../cache/peers.js';
import { readRepeated } from './wire.js';

/** Content type of a WriteBatch (`DELETE {basePath}`) and of its answer, a WriteBatchResponse. */
export const WRITES_CONTENT_TYPE = 'application/x-geecache-writes';
/** Largest WriteBatch body a server reads. */
export const MAX_WRITE_BATCH_BYTES = 4 << 20;
/** Most items a writer puts in one WriteBatch (a server takes up to {@link MAX_WRITE_BATCH_BYTES} of them). */
export const MAX_WRITE_BATCH_ITEMS = 2_000;
/** Bytes of items a writer puts in one WriteBatch at most (one larger item goes alone, as a single write). */
export const WRITE_BATCH_TARGET_BYTES = 1 << 20;

/** One item's outcome: 200 applied, 409 + newer (a newer write was applied there), else refused with `error`. */
export interface WriteResult {
  status: number;
  newer?: number;
  error?: string;
}

/** The bytes one item takes in a WriteBatch, near enough to bound a batch (strings counted as UTF-16 code units × 3). */
export function writeItemSize({ group, key, tags }: RemoveRequest): number {
  let size = 32 + 3 * group.length + (key === undefined ? 0 : 3 * key.length);
  if (tags) for (const tag of tags) size += 4 + 3 * tag.length;
  return size;
}

/** `WriteBatch { repeated WriteItem items = 1; }`; each item `group = 1, key = 2, repeated tags = 3, id = 4, version = 5`. */
export function encodeWriteBatch(items: readonly RemoveRequest[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const { group, key, tags, id, version } of items) {
    writer.tag(1, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.LengthDelimited).string(group);
    if (key !== undefined) writer.tag(2, WireType.LengthDelimited).string(key);
    if (tags !== undefined) for (const tag of tags) writer.tag(3, WireType.LengthDelimited).string(tag);
    if (tags !== undefined) writer.tag(4, WireType.Varint).uint64(id ?? 0);
    if (version) writer.tag(5, WireType.Varint).uint64(version);
    writer.join();
  }
  return writer.finish();
}

/**
 * Reads a WriteBatch; throws on malformed bytes or an item without a group. An item with tags is a
 * tag invalidation (its id checked by the server), one without key nor tags a clear.
 */
export function decodeWriteBatch(bytes: Uint8Array): RemoveRequest[] {
  return readRepeated(bytes, (reader, end) => {
    let group: string | undefined;
    let key: string | undefined;
    const tags: string[] = [];
    let id: number | undefined;
    let version: number | undefined;
    while (reader.pos < end) {
      const [field, type] = reader.tag();
      if (field === 1 && type === WireType.LengthDelimited) group = reader.string();
      else if (field === 2 && type === WireType.LengthDelimited) key = reader.string();
      else if (field === 3 && type === WireType.LengthDelimited) tags.push(reader.string());
      else if (field === 4 && type === WireType.Varint) id = Number(reader.uint64());
      else if (field === 5 && type === WireType.Varint) version = Number(reader.uint64());
      else reader.skip(type, field);
    }
    if (group === undefined) throw new Error('write item without a group');
    const item: RemoveRequest = { group };
    if (key !== undefined) item.key = key;
    // A tag invalidation carries its id (and names its tags; the server refuses one of no tags).
    if (tags.length > 0 || id !== undefined) {
      item.tags = tags;
      item.id = id ?? 0;
    }
    if (version) item.version = version;
    return item;
  });
}

/** `WriteBatchResponse { repeated WriteResult results = 1; }`, each `status = 1, newer = 2, error = 3`. */
export function encodeWriteResults(results: readonly WriteResult[]): Uint8Array {
  const writer = new BinaryWriter();
  for (const { status, newer, error } of results) {
    writer.tag(1, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.Varint).int32(status);
    if (newer !== undefined) writer.tag(2, WireType.Varint).uint64(newer);
    if (error !== undefined) writer.tag(3, WireType.LengthDelimited).string(error);
    writer.join();
  }
  return writer.finish();
}

/** Reads a WriteBatchResponse; throws on malformed bytes. */
export function decodeWriteResults(bytes: Uint8Array): WriteResult[] {
  return readRepeated(bytes, (reader, end) => {
    const result: WriteResult = { status: 0 };
    while (reader.pos < end) {
      const [field, type] = reader.tag();
      if (field === 1 && type === WireType.Varint) result.status = reader.int32();
      else if (field === 2 && type === WireType.Varint) result.newer = Number(reader.uint64());
      else if (field === 3 && type === WireType.LengthDelimited) result.error = reader.string();
      else reader.skip(type, field);
    }
    return result;
  });
}
