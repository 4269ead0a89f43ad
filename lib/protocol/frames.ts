// Decoding protobuf that arrives in chunks: the head (tag and length) of a field read from the first
// bytes of a stream, with wire.ts's decoder, so a reader can size its buffer before the rest arrives.
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/** Most bytes a field head takes: a tag and a length, each a uint32 varint. */
export const MAX_FIELD_HEAD = 10;

/** The start of one field: its number, wire type, the length of a length-delimited field (else -1), and `size`, the bytes of tag and length. */
export interface FieldHead {
  field: number;
  type: WireType;
  length: number;
  size: number;
}

/**
 * The head of the field at the start of `bytes`, or undefined when `bytes` ends inside it (read
 * again with more). Throws on bytes that cannot start a field: field 0, a wire type that does not
 * exist, a tag or length over 32 bits.
 */
export function readFieldHead(bytes: Uint8Array): FieldHead | undefined {
  const reader = new BinaryReader(bytes);
  try {
    const [field, type] = reader.tag();
    if (type !== WireType.LengthDelimited) return { field, type, length: -1, size: reader.pos };
    const start = reader.pos;
    const length = reader.uint32();
    const read = reader.pos - start;
    if (read > 5 || (read === 5 && bytes[reader.pos - 1] > 0x0f)) throw new Error('field length: varint overflows uint32');
    return { field, type, length, size: reader.pos };
  } catch (err) {
    // "premature EOF": the head goes on in the next bytes, unless these are already more than any head takes.
    if (err instanceof RangeError && bytes.length < MAX_FIELD_HEAD) return undefined;
    throw err instanceof RangeError ? new Error('a field head longer than a tag and a length') : err;
  }
}

/** Room for the fields a GetResponse may carry after its value (minute_qps: 9 bytes; expire: up to 11). */
const GET_RESPONSE_TAIL = 32;

/**
 * The most bytes a GetResponse can take, read from its first bytes when they hold its value
 * field's head (golang/groupcache and geecache write the value first): undefined when more bytes
 * are needed, -1 when it starts with another field (its size is then unknown). Throws on bytes
 * that cannot be a protobuf message.
 */
export function getResponseBound(start: Uint8Array): number | undefined {
  const head = readFieldHead(start.subarray(0, MAX_FIELD_HEAD));
  if (head === undefined) return undefined;
  if (head.field !== 1 || head.type !== WireType.LengthDelimited) return -1;
  return head.size + head.length + GET_RESPONSE_TAIL;
}

/**
 * The length of the Result in the BatchResponse frame that `bytes` start with (field 1, length
 * delimited: `0x0a varint(length)`), and the bytes of its head; undefined when `bytes` end inside
 * the head. Throws on anything but a frame's head.
 */
export function readFrameHead(bytes: Uint8Array): { length: number; size: number } | undefined {
  const head = readFieldHead(bytes);
  if (head === undefined) return undefined;
  if (head.field !== 1 || head.type !== WireType.LengthDelimited) throw new Error(`a field ${head.field} of wire type ${head.type}, not a Result frame`);
  return { length: head.length, size: head.size };
}
