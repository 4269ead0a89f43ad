// lib/protocol/frames.ts, the decoding of protobuf that arrives in chunks: a streamed batch answer cut
// into chunks anywhere yields the same frames as in one piece, and bytes that cannot be a frame's
// head are refused, not misread.
import { expect } from 'chai';
import fc from 'fast-check';
import { FrameHeads, getResponseBound, readFieldHead } from '../../lib/protocol/frames.js';
import { decodeResult, encodeBatchResponse, encodeGetResponse, type PeerResult } from '../../lib/protocol/wire.js';

/** The Results in `chunks` of a batch answer, read as the client reads them: each frame's head, then its bytes. */
function framesOf(chunks: Uint8Array[]): { results: PeerResult[]; partial: boolean } {
  const heads = new FrameHeads();
  const results: PeerResult[] = [];
  let frame: Uint8Array | undefined;
  let filled = 0;
  for (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      if (frame === undefined) {
        const head = heads.read(chunk, at);
        if (head === undefined) break;
        at = head.end;
        frame = new Uint8Array(head.length);
        filled = 0;
      } else {
        const n = Math.min(frame.length - filled, chunk.length - at);
        frame.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
      }
      if (frame.length === filled) {
        results.push(decodeResult(frame).result);
        frame = undefined;
      }
    }
  }
  return { results, partial: heads.partial || frame !== undefined };
}

const result: fc.Arbitrary<PeerResult> = fc.oneof(
  fc.record({ ok: fc.constant(true as const), value: fc.uint8Array({ maxLength: 400 }) }),
  fc.record({ ok: fc.constant(false as const), status: fc.constantFrom(404, 500), error: fc.string({ maxLength: 30 }) }),
);

describe('protocol/frames: protobuf read in chunks', () => {
  it('a batch answer cut into chunks anywhere gives the frames it gives in one piece', () => {
    fc.assert(
      fc.property(fc.array(result, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (results, cuts) => {
        const whole = encodeBatchResponse(results);
        const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((from, i) => whole.subarray(from, [...points, whole.length][i]));
        expect(framesOf(chunks)).to.deep.equal({ results, partial: false });
      }),
    );
  });

  it('a head cut short is partial; bytes that are not a frame head are refused', () => {
    expect(framesOf([Uint8Array.of(0x0a, 0x85)]).partial).to.equal(true);
    expect(() => new FrameHeads().read(Uint8Array.of(0x12, 0x01, 0x00), 0), 'field 2').to.throw(/not a Result frame/);
    expect(() => new FrameHeads().read(Uint8Array.of(0x00), 0), 'field 0').to.throw(/illegal tag/);
    // A length over 32 bits is refused, not cut to its low bits.
    expect(() => readFieldHead(Uint8Array.of(0x0a, 0x80, 0x80, 0x80, 0x80, 0x10))).to.throw(/overflows uint32/);
    expect(() => readFieldHead(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))).to.throw();
  });

  it("sizes a GetResponse from its value's head: more bytes needed, unknown (another field first), or its bound", () => {
    const value = new Uint8Array(300);
    const body = encodeGetResponse(value, Date.now());
    expect(getResponseBound(body.subarray(0, 2))).to.equal(undefined);
    expect(getResponseBound(body.subarray(0, 3))).to.be.at.least(body.length);
    expect(getResponseBound(Uint8Array.of(0x11))).to.equal(-1); // minute_qps first
    expect(() => getResponseBound(Uint8Array.of(0x00, 0x00))).to.throw();
  });
});
