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
  return fieldHeadAt(new BinaryReader(bytes), bytes, 0);
}

/** {@link readFieldHead} at offset `at` of `bytes`, with a reader over them (reused: making one costs more than reading a head). */
function fieldHeadAt(reader: BinaryReader, bytes: Uint8Array, at: number): FieldHead | undefined {
  reader.pos = at;
  try {
    const [field, type] = reader.tag();
    if (type !== WireType.LengthDelimited) return { field, type, length: -1, size: reader.pos - at };
    const start = reader.pos;
    const length = reader.uint32();
    const read = reader.pos - start;
    if (read > 5 || (read === 5 && bytes[reader.pos - 1] > 0x0f)) throw new Error('field length: varint overflows uint32');
    return { field, type, length, size: reader.pos - at };
  } catch (err) {
    // "premature EOF": the head goes on in the next bytes, unless these are already more than any head takes.
    if (err instanceof RangeError && reader.len - at < MAX_FIELD_HEAD) return undefined;
    throw err instanceof RangeError ? new Error('a field head longer than a tag and a length') : err;
  }
}

/** Room for the fields a GetResponse may carry after its value (minute_qps: 9 bytes; expire and ttl_remaining_ms: up to 11 each). */
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
 * Finds the Result frames of a streamed batch answer (BatchResponse's field 1, length-delimited:
 * `0x0a varint(length) Result`) in its chunks as they arrive, a head split over two chunks included.
 */
export class FrameHeads {
  /** The start of a head that the last chunk ended inside. */
  readonly #held = new Uint8Array(MAX_FIELD_HEAD);
  #heldBytes = 0;
  #chunk: Uint8Array | undefined;
  #reader: BinaryReader | undefined;

  /** True while a head has begun in an earlier chunk and not ended. */
  get partial(): boolean {
    return this.#heldBytes > 0;
  }

  /**
   * The length of the frame whose head starts at `at` in `chunk` (or began in the chunk before),
   * and `end`, the offset in `chunk` just past the head; undefined when `chunk` ends inside the
   * head (the next call, with the next chunk at 0, goes on). Throws on anything but a frame's head.
   */
  read(chunk: Uint8Array, at: number): { length: number; end: number } | undefined {
    const held = this.#heldBytes;
    let head: FieldHead | undefined;
    let taken: number;
    if (held === 0) {
      if (this.#chunk !== chunk) {
        this.#chunk = chunk;
        this.#reader = new BinaryReader(chunk);
      }
      head = fieldHeadAt(this.#reader as BinaryReader, chunk, at);
      taken = chunk.length - at;
    } else {
      taken = Math.min(MAX_FIELD_HEAD - held, chunk.length - at);
      this.#held.set(chunk.subarray(at, at + taken), held);
      head = readFieldHead(this.#held.subarray(0, held + taken));
    }
    if (head === undefined) {
      if (held === 0) this.#held.set(chunk.subarray(at));
      this.#heldBytes += taken;
      return undefined;
    }
    if (head.field !== 1 || head.type !== WireType.LengthDelimited) throw new Error(`a field ${head.field} of wire type ${head.type}, not a Result frame`);
    this.#heldBytes = 0;
    return { length: head.length, end: at + head.size - held };
  }
}
