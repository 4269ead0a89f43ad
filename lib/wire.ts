import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/**
 * The bytes of golang/groupcache's `groupcachepb.GetResponse` (proto2):
 * `optional bytes value = 1; optional double minute_qps = 2;`.
 */
export function encodeGetResponse(value: Uint8Array): Uint8Array {
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(value).finish();
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
