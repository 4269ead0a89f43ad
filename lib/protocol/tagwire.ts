/**
 * tagwire.ts puts tags into bytes: a value's tags and its owner's marks beside the value
 * (GetResponse, Result, SetRequest: `repeated string tags = 20; repeated uint64 tag_marks = 21`,
 * fields golang/groupcache peers skip), and the TagInvalidation a group.invalidateTags sends each
 * peer (`PUT {basePath}{group}`, content-type {@link TAGS_CONTENT_TYPE}). wire.ts's codecs call
 * these; proto/geecache.proto is the schema.
 */

import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** The field of a value's tags in GetResponse, Result and SetRequest. */
export const TAGS_FIELD = 20;
/** The field of the owner's marks, one per tag, in GetResponse and Result. */
export const TAG_MARKS_FIELD = 21;
/** Content type of a TagInvalidation: `PUT {basePath}{group}`. */
export const TAGS_CONTENT_TYPE = 'application/x-geecache-tags';
/** Largest TagInvalidation body a server reads: 1,000 tags of 256 characters (up to 4 UTF-8 bytes each), with room. */
export const MAX_TAGS_REQUEST_BYTES = 1_100_000;

/** A value's tags and marks as they travel (both absent for a value without tags). */
export interface WireTags {
  tags?: readonly string[];
  tagMarks?: readonly number[];
}

/** WireTags as a decoder fills them in. */
export interface ReadTags {
  tags?: string[];
  tagMarks?: number[];
}

/** Writes `tags` (and `marks`, when some is not 0) as fields 20 and 21; nothing for no tags. */
export function writeTags(writer: BinaryWriter, tags: readonly string[] | undefined, marks?: readonly number[]): BinaryWriter {
  if (tags === undefined) return writer;
  for (const tag of tags) writer.tag(TAGS_FIELD, WireType.LengthDelimited).string(tag);
  if (marks !== undefined) for (const mark of marks) writer.tag(TAG_MARKS_FIELD, WireType.Varint).uint64(mark);
  return writer;
}

/** True for field 20 (a tag) or 21 (marks, packed or not, as protobuf allows) in a wire type {@link readTagField} reads. */
export function isTagField(field: number, type: WireType): boolean {
  return (
    (field === TAGS_FIELD && type === WireType.LengthDelimited) ||
    (field === TAG_MARKS_FIELD && (type === WireType.Varint || type === WireType.LengthDelimited))
  );
}

/** Reads the tag field just started ({@link isTagField}) into `into` (made when undefined), and returns it. */
export function readTagField(reader: BinaryReader, field: number, type: WireType, into: ReadTags = {}): ReadTags {
  if (field === TAGS_FIELD) {
    into.tags ??= [];
    into.tags.push(reader.string());
    return into;
  }
  into.tagMarks ??= [];
  const marks = into.tagMarks;
  if (type === WireType.Varint) marks.push(Number(reader.uint64()));
  else {
    const end = reader.uint32() + reader.pos;
    while (reader.pos < end) marks.push(Number(reader.uint64()));
  }
  return into;
}

/** `TagInvalidation { repeated string tags = 1; uint64 id = 2; }`: drop every value carrying one of `tags`. */
export function encodeTagInvalidation(tags: readonly string[], id: number, writer = new BinaryWriter()): Uint8Array {
  for (const tag of tags) writer.tag(1, WireType.LengthDelimited).string(tag);
  return writer.tag(2, WireType.Varint).uint64(id).finish();
}

/** Reads a TagInvalidation; throws on malformed bytes or one without an id. */
export function decodeTagInvalidation(bytes: Uint8Array): { tags: string[]; id: number } {
  const reader = new BinaryReader(bytes);
  const tags: string[] = [];
  let id: number | undefined;
  while (reader.pos < reader.len) {
    const [field, type] = reader.tag();
    if (field === 1 && type === WireType.LengthDelimited) tags.push(reader.string());
    else if (field === 2 && type === WireType.Varint) id = Number(reader.uint64());
    else reader.skip(type, field);
  }
  if (reader.pos !== reader.len) throw new Error('truncated TagInvalidation');
  if (id === undefined || !Number.isSafeInteger(id) || id <= 0) throw new Error('TagInvalidation without a valid id');
  return { tags, id };
}
