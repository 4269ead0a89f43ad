// The hand-written codecs of lib/protocol/wire.ts against code generated from proto/geecache.proto by the
// protobuf library's own generator (protoc-gen-es): random messages round-trip both ways.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { expect } from 'chai';
import fc from 'fast-check';
import { MAX_EXPIRES_AT_MS } from '../../lib/protocol/expiry.js';
import {
  decodeBatchRequest,
  decodeBatchResponse,
  decodeGetResponse,
  decodeResult,
  decodeSetRequest,
  encodeBatchRequest,
  encodeBatchResponse,
  encodeGetResponse,
  encodeSetRequest,
  getResponsePrefix,
  getResponseSuffix,
  type PeerResult,
  readGetResponse,
  resultFramePrefix,
} from '../../lib/protocol/wire.js';
import { BatchRequestSchema, BatchResponseSchema, GetResponseSchema, ResultSchema, SetRequestSchema } from '../gen/geecache_pb.js';

// Keys are any string the URL or a batch can carry: well-formed Unicode.
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const bytes = fc.uint8Array({ maxLength: 200 });
const request = fc.record({ group: text, key: text });
/** An expiry in whole milliseconds since the epoch (the wire carries nanoseconds). */
const expiry = fc.integer({ min: 1, max: 8_000_000_000_000 });
const NS = 1_000_000n;
/** The clock the tests encode and decode with: an expiry sent as the time left comes back as it left. */
const NOW = 1_750_000_000_000;
/** `result` as a geecache peer decodes it after a geecache peer encoded it at NOW: with the sender's clock (sentAt). */
const received = (r: PeerResult): PeerResult => (r.ok && r.expiresAt !== undefined ? { ...r, sentAt: NOW } : r);
const result: fc.Arbitrary<PeerResult> = fc.oneof(
  fc.record({ ok: fc.constant(true as const), value: bytes }),
  fc.record({ ok: fc.constant(true as const), value: bytes, expiresAt: expiry }),
  fc.record({ ok: fc.constant(false as const), status: fc.constantFrom(400, 404, 500, 503), error: text }),
  fc.record({ ok: fc.constant(false as const), status: fc.constantFrom(404, 500), error: text, kind: fc.constantFrom('getter', 'not-found') }),
  fc.record(
    {
      ok: fc.constant(false as const),
      status: fc.constant(500),
      error: text,
      kind: fc.constant('getter'),
      name: fc.constantFrom('Error', 'NotFoundError', 'LoadTimeoutError'),
      errorStatus: fc.integer({ min: 400, max: 599 }),
    },
    { requiredKeys: ['ok', 'status', 'error', 'kind'] },
  ),
);
const asResult = (r: {
  status: number;
  value: Uint8Array;
  error: string;
  expire?: bigint;
  kind?: string;
  errorName?: string;
  errorStatus?: number;
}): PeerResult => {
  // The generated code reads an absent optional field as its default (0n, '', 0).
  if (r.status === 200) return !r.expire ? { ok: true, value: r.value } : { ok: true, value: r.value, expiresAt: Number(r.expire / NS) };
  const out: PeerResult = { ok: false, status: r.status, error: r.error };
  if (r.kind) out.kind = r.kind;
  if (r.errorName) out.name = r.errorName;
  if (r.errorStatus) out.errorStatus = r.errorStatus;
  return out;
};

describe('wire codecs against code generated from proto/geecache.proto', () => {
  it('GetResponse: hand-encoded parses with the generated code, and the generated encoding decodes by hand', () => {
    fc.assert(
      fc.property(bytes, fc.option(fc.double({ noNaN: true }), { nil: undefined }), (value, qps) => {
        expect(fromBinary(GetResponseSchema, encodeGetResponse(value)).value).to.deep.equal(value);
        const generated = toBinary(GetResponseSchema, create(GetResponseSchema, { value, minuteQps: qps }));
        expect(decodeGetResponse(generated)).to.deep.equal(value);
      }),
    );
  });

  it('GetResponse with expire (int64 Unix nanoseconds, mailgun/groupcache field 3): both ways, and as a server sends it in pieces', () => {
    fc.assert(
      fc.property(bytes, expiry, (value, expiresAt) => {
        const parsed = fromBinary(GetResponseSchema, encodeGetResponse(value, expiresAt, NOW));
        expect(parsed.value).to.deep.equal(value);
        expect(parsed.expire).to.equal(BigInt(expiresAt) * NS);
        expect(parsed.ttlRemainingMs).to.equal(BigInt(expiresAt - NOW));
        // Without ttl_remaining_ms (Go, mailgun): expire as it is.
        const generated = toBinary(GetResponseSchema, create(GetResponseSchema, { value, expire: BigInt(expiresAt) * NS }));
        expect(readGetResponse(generated)).to.deep.equal({ value, expiresAt });
        const pieces = Buffer.concat([getResponsePrefix(value.length), value, getResponseSuffix(expiresAt, undefined, NOW) ?? new Uint8Array(0)]);
        expect(fromBinary(GetResponseSchema, pieces).expire).to.equal(BigInt(expiresAt) * NS);
        expect(fromBinary(GetResponseSchema, pieces).ttlRemainingMs).to.equal(BigInt(expiresAt - NOW));
        expect(readGetResponse(pieces, NOW)).to.deep.equal({ value, expiresAt, sentAt: NOW });
      }),
    );
    // mailgun/groupcache sends expire 0 for "never".
    expect(readGetResponse(toBinary(GetResponseSchema, create(GetResponseSchema, { value: new Uint8Array([1]), expire: 0n })))).to.deep.equal({
      value: new Uint8Array([1]),
    });
  });

  it("ttl_remaining_ms wins over expire: the receiver adds it to its own clock, and learns the sender's (expire - ttl_remaining_ms)", () => {
    fc.assert(
      fc.property(bytes, expiry, fc.integer({ min: -60_000, max: 60_000 }), fc.integer({ min: -3_600_000, max: 86_400_000 }), (value, expiresAt, skew, ttl) => {
        // The sender's clock runs `skew` ms ahead of the receiver's (NOW): its expire says expiresAt, ttl is what it had left.
        const expire = BigInt(expiresAt) * NS;
        const ttlRemainingMs = BigInt(ttl);
        const sentAt = expiresAt - ttl;
        const local = Math.max(NOW + ttl, 1);
        const get = toBinary(GetResponseSchema, create(GetResponseSchema, { value, expire, ttlRemainingMs }));
        expect(readGetResponse(get, NOW - skew)).to.deep.equal({ value, expiresAt: Math.max(NOW - skew + ttl, 1), sentAt });
        const set = toBinary(SetRequestSchema, create(SetRequestSchema, { group: 'g', key: 'k', value, expire, ttlRemainingMs }));
        expect(decodeSetRequest(set, NOW)).to.deep.equal({ group: 'g', key: 'k', value, expiresAt: local });
        const batch = toBinary(BatchResponseSchema, create(BatchResponseSchema, { results: [{ status: 200, value, expire, ttlRemainingMs, index: 0 }] }));
        expect(decodeBatchResponse(batch, NOW)).to.deep.equal([{ ok: true, value, expiresAt: local, sentAt }]);
        const result = toBinary(ResultSchema, create(ResultSchema, { status: 200, value, expire, ttlRemainingMs, index: 3 }));
        expect(decodeResult(result, NOW)).to.deep.equal({ index: 3, result: { ok: true, value, expiresAt: local, sentAt } });
      }),
    );
    // A value served stale has a negative time left: it arrives expired (never as 0, which would read as "never").
    const stale = toBinary(GetResponseSchema, create(GetResponseSchema, { value: new Uint8Array([1]), expire: BigInt(NOW) * NS, ttlRemainingMs: -5_000n }));
    expect(readGetResponse(stale, NOW + 20_000).expiresAt).to.equal(NOW + 15_000);
    expect(readGetResponse(stale, 1_000).expiresAt).to.equal(1);
    // A time left past what the wire carries is cut to it: the value can travel on.
    const far = toBinary(GetResponseSchema, create(GetResponseSchema, { value: new Uint8Array([1]), ttlRemainingMs: 2n ** 62n }));
    expect(readGetResponse(far, NOW)).to.deep.equal({ value: new Uint8Array([1]), expiresAt: MAX_EXPIRES_AT_MS });
  });

  it('GetResponse prefix (written by hand): the same bytes as the generated codec, across every varint length', () => {
    for (const length of [0, 1, 127, 128, 300, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 32 - 1]) {
      const generated = new BinaryWriter().tag(1, WireType.LengthDelimited).uint32(length).finish();
      expect(getResponsePrefix(length), `length ${length}`).to.deep.equal(Buffer.from(generated));
    }
  });

  it('SetRequest: both ways', () => {
    fc.assert(
      fc.property(text, text, bytes, fc.option(expiry, { nil: undefined }), (group, key, value, expiresAt) => {
        const parsed = fromBinary(SetRequestSchema, encodeSetRequest({ group, key, value, expiresAt }, NOW));
        expect({ group: parsed.group, key: parsed.key, value: parsed.value }).to.deep.equal({ group, key, value });
        expect(parsed.expire).to.equal(expiresAt === undefined ? 0n : BigInt(expiresAt) * NS);
        expect(parsed.ttlRemainingMs).to.equal(expiresAt === undefined ? 0n : BigInt(expiresAt - NOW));
        expect(decodeSetRequest(encodeSetRequest({ group, key, value, expiresAt }, NOW), NOW)).to.deep.equal(
          expiresAt === undefined ? { group, key, value } : { group, key, value, expiresAt },
        );
        const generated = toBinary(
          SetRequestSchema,
          create(SetRequestSchema, { group, key, value, expire: expiresAt === undefined ? undefined : BigInt(expiresAt) * NS }),
        );
        expect(decodeSetRequest(generated)).to.deep.equal(expiresAt === undefined ? { group, key, value } : { group, key, value, expiresAt });
      }),
    );
  });

  it('BatchRequest: both ways', () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 20 }), (items) => {
        const parsed = fromBinary(BatchRequestSchema, encodeBatchRequest(items));
        expect(parsed.items.map(({ group, key }) => ({ group, key }))).to.deep.equal(items);
        expect(decodeBatchRequest(toBinary(BatchRequestSchema, create(BatchRequestSchema, { items })))).to.deep.equal(items);
      }),
    );
  });

  it('BatchRequest items carry their W3C trace context both ways (fields 3 and 4); a malformed one is not sent', () => {
    const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
    const traceparent = fc.tuple(hex(32), hex(16), hex(2)).map(([trace, span, flags]) => `00-${trace.replace(/^0/, '1')}-${span.replace(/^0/, '1')}-${flags}`);
    const traced = fc.record({
      group: fc.string({ minLength: 1 }),
      key: fc.string({ minLength: 1 }),
      trace: fc.record({ traceparent, tracestate: fc.constantFrom('a=1', 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7') }),
    });
    fc.assert(
      fc.property(fc.array(traced, { maxLength: 20 }), (items) => {
        const parsed = fromBinary(BatchRequestSchema, encodeBatchRequest(items));
        expect(parsed.items.map(({ group, key, traceparent, tracestate }) => ({ group, key, trace: { traceparent, tracestate } }))).to.deep.equal(items);
        const generated = items.map(({ group, key, trace }) => ({ group, key, ...trace }));
        expect(decodeBatchRequest(toBinary(BatchRequestSchema, create(BatchRequestSchema, { items: generated })))).to.deep.equal(items);
      }),
    );
    const sent = fromBinary(
      BatchRequestSchema,
      encodeBatchRequest([{ group: 'g', key: 'k', trace: { traceparent: 'not a traceparent\r\nx: y', tracestate: 'a=1' } }]),
    );
    expect(sent.items[0].traceparent).to.equal(''); // protobuf-es reads an absent proto2 string as ''
    expect(sent.items[0].tracestate).to.equal('');
    expect(decodeBatchRequest(encodeBatchRequest([{ group: 'g', key: 'k', trace: { traceparent: 'junk' } }]))).to.deep.equal([{ group: 'g', key: 'k' }]);
  });

  it('BatchResponse: both ways', () => {
    fc.assert(
      fc.property(fc.array(result, { maxLength: 20 }), (results) => {
        const parsed = fromBinary(BatchResponseSchema, encodeBatchResponse(results, NOW));
        expect(parsed.results.map(asResult)).to.deep.equal(results);
        expect(parsed.results.map((r) => r.ttlRemainingMs)).to.deep.equal(
          results.map((r) => BigInt(r.ok && r.expiresAt !== undefined ? r.expiresAt - NOW : 0)),
        );
        expect(decodeBatchResponse(encodeBatchResponse(results, NOW), NOW)).to.deep.equal(results.map(received));
        const generated = create(BatchResponseSchema, {
          results: results.map((r) =>
            r.ok
              ? { status: 200, value: r.value, expire: r.expiresAt === undefined ? undefined : BigInt(r.expiresAt) * NS }
              : { status: r.status, error: r.error, kind: r.kind, errorName: r.name, errorStatus: r.errorStatus },
          ),
        });
        expect(decodeBatchResponse(toBinary(BatchResponseSchema, generated))).to.deep.equal(results);
      }),
    );
  });

  it('streamed Result frames (prefix + value) concatenated parse as a BatchResponse with each index, and each frame decodes by hand', () => {
    fc.assert(
      fc.property(fc.array(result, { maxLength: 20 }), (results) => {
        const order = results.map((_, i) => i).reverse(); // ready in any order
        const frames = order.map((i) => {
          const r = results[i];
          return Buffer.concat([resultFramePrefix(i, r, undefined, NOW), r.ok ? r.value : new Uint8Array(0)]);
        });
        const parsed = fromBinary(BatchResponseSchema, Buffer.concat(frames));
        expect(parsed.results.map((r) => r.index)).to.deep.equal(order);
        expect(parsed.results.map(asResult)).to.deep.equal(order.map((i) => results[i]));
        frames.forEach((frame, j) => {
          // Strip BatchResponse's tag and length: what the client hands to decodeResult.
          const reader = fromBinary(BatchResponseSchema, frame).results[0];
          const inner = toBinary(ResultSchema, reader);
          expect(decodeResult(inner, NOW)).to.deep.equal({ index: order[j], result: received(results[order[j]]) });
        });
      }),
    );
  });

  it('an expiry up to MAX_EXPIRES_AT_MS (int64 Unix nanoseconds, the year 2262) round-trips; past it every encoder throws a RangeError that says so', () => {
    const latest = { ok: true as const, value: new Uint8Array([1]), expiresAt: MAX_EXPIRES_AT_MS };
    expect(fromBinary(GetResponseSchema, encodeGetResponse(latest.value, MAX_EXPIRES_AT_MS)).expire).to.equal(BigInt(MAX_EXPIRES_AT_MS) * NS);
    expect(decodeBatchResponse(encodeBatchResponse([latest], NOW), NOW)).to.deep.equal([{ ...latest, sentAt: NOW }]);
    for (const expiresAt of [MAX_EXPIRES_AT_MS + 1, 1e16, Number.MAX_VALUE, Infinity, Number.NaN]) {
      const past = { ...latest, expiresAt };
      for (const encode of [
        () => encodeGetResponse(past.value, expiresAt),
        () => getResponseSuffix(expiresAt),
        () => encodeSetRequest({ group: 'g', key: 'k', value: past.value, expiresAt }),
        () => encodeBatchResponse([past]),
        () => resultFramePrefix(0, past),
      ])
        expect(encode, String(expiresAt)).to.throw(RangeError, /past what the wire carries/);
    }
  });
});
