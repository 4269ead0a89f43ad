/**
 * keyhash.ts hashes keys for the rings: crc32 (IEEE) of a string's UTF-8 bytes, computed in
 * JavaScript for short keys. The value is zlib's, byte for byte; for a key of a few dozen
 * characters the call into zlib (and the UTF-8 copy it makes) costs more than the hash itself.
 */

import { crc32 } from 'node:zlib';

/** The reflected IEEE polynomial's byte table (the same table zlib uses). */
const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** Keys longer than this (in UTF-16 code units) go to zlib, which is faster on long input. */
const JS_MAX = 128;

/**
 * crc32 of `key` encoded as UTF-8, as `zlib.crc32(key)` computes it: a lone surrogate counts as
 * U+FFFD, as Buffer.from(key, 'utf8') encodes it.
 */
export function crc32String(key: string): number {
  const length = key.length;
  if (length > JS_MAX) return crc32(key);
  const table = TABLE;
  let c = -1;
  for (let i = 0; i < length; i++) {
    let code = key.charCodeAt(i);
    if (code < 0x80) {
      c = table[(c ^ code) & 0xff] ^ (c >>> 8);
      continue;
    }
    if (code < 0x800) {
      c = table[(c ^ (0xc0 | (code >> 6))) & 0xff] ^ (c >>> 8);
      c = table[(c ^ (0x80 | (code & 0x3f))) & 0xff] ^ (c >>> 8);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < length ? key.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        c = table[(c ^ (0xf0 | (code >> 18))) & 0xff] ^ (c >>> 8);
        c = table[(c ^ (0x80 | ((code >> 12) & 0x3f))) & 0xff] ^ (c >>> 8);
        c = table[(c ^ (0x80 | ((code >> 6) & 0x3f))) & 0xff] ^ (c >>> 8);
        c = table[(c ^ (0x80 | (code & 0x3f))) & 0xff] ^ (c >>> 8);
        continue;
      }
      code = 0xfffd; // a lone surrogate
    }
    c = table[(c ^ (0xe0 | (code >> 12))) & 0xff] ^ (c >>> 8);
    c = table[(c ^ (0x80 | ((code >> 6) & 0x3f))) & 0xff] ^ (c >>> 8);
    c = table[(c ^ (0x80 | (code & 0x3f))) & 0xff] ^ (c >>> 8);
  }
  return ~c >>> 0;
}

/** murmur3's 32-bit finalizer: a bijection that spreads every input bit over the output. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The default key hash: crc32 then mixed, so that similar keys score unalike. */
export const mixedCrc32 = (key: string): number => mix32(crc32String(key));
