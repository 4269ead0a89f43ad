// The hand-written codecs of a batch of writes (lib/protocol/writewire.ts) against code generated
// from proto/geecache.proto (test/gen/), both ways, and the sequenced nonce a write request carries.
import { randomUUID } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { expect } from 'chai';
import fc from 'fast-check';
import type { RemoveRequest } from '../../lib/cache/peers.js';
import { MAX_SEQ, readSequence, readWriteHeader, sequencedNonce, writeHeader } from '../../lib/protocol/writeheader.js';
import { decodeWriteBatch, decodeWriteResults, encodeWriteBatch, encodeWriteResults, type WriteResult } from '../../lib/protocol/writewire.js';
import { WriteBatchResponseSchema, WriteBatchSchema } from '../gen/geecache_pb.js';

const text = fc.string({ unit: 'grapheme', maxLength: 20 });
const version = fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined });
const item: fc.Arbitrary<RemoveRequest> = fc.oneof(
  fc.record({ group: text, key: text, version }, { requiredKeys: ['group', 'key'] }),
  fc.record({ group: text, version }, { requiredKeys: ['group'] }),
  fc.record({ group: text, tags: fc.array(text, { minLength: 1, maxLength: 4 }), id: fc.integer({ min: 1, max: 2 ** 48 }) }),
);
/** An item as the decoder returns it: no `version` key when it has none. */
const plain = (r: RemoveRequest): RemoveRequest => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as RemoveRequest;

describe('WriteBatch wire format', () => {
  it('a WriteBatch the hand-written encoder writes reads back the same with the generated code, and the other way round', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 8 }), (items) => {
        const bytes = encodeWriteBatch(items);
        const generated = fromBinary(WriteBatchSchema, bytes);
        expect(generated.items.map((i) => ({ group: i.group, key: i.key, tags: i.tags, id: i.id, version: i.version }))).to.deep.equal(
          // proto2 optional fields read as their defaults when absent.
          items.map((i) => ({ group: i.group, key: i.key ?? '', tags: i.tags ?? [], id: BigInt(i.id ?? 0), version: BigInt(i.version ?? 0) })),
        );
        expect(decodeWriteBatch(toBinary(WriteBatchSchema, generated))).to.deep.equal(items.map(plain));
      }),
    );
  });

  it('a WriteBatchResponse reads back the same both ways', () => {
    const result: fc.Arbitrary<WriteResult> = fc.record(
      { status: fc.constantFrom(200, 400, 404, 409), newer: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), error: text },
      { requiredKeys: ['status'] },
    );
    fc.assert(
      fc.property(fc.array(result, { maxLength: 8 }), (results) => {
        const generated = fromBinary(WriteBatchResponseSchema, encodeWriteResults(results));
        expect(generated.results.map((r) => r.status)).to.deep.equal(results.map((r) => r.status));
        const built = create(WriteBatchResponseSchema, {
          results: results.map((r) => ({ status: r.status, newer: r.newer === undefined ? undefined : BigInt(r.newer), error: r.error })),
        });
        expect(decodeWriteResults(toBinary(WriteBatchResponseSchema, built))).to.deep.equal(results);
      }),
    );
  });

  it('refuses malformed bytes: a truncated item, an item without a group', () => {
    const bytes = encodeWriteBatch([{ group: 'g', key: 'k' }]);
    expect(() => decodeWriteBatch(bytes.subarray(0, bytes.length - 1))).to.throw();
    const keyOnly = new BinaryWriter().tag(1, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).string('k').join().finish();
    expect(() => decodeWriteBatch(keyOnly)).to.throw(/without a group/);
  });
});

describe('sequenced nonces', () => {
  it('carry their stream and number, are UUIDs a write header takes, and never look like a random one', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f]{15}$/), fc.integer({ min: 1, max: MAX_SEQ }), fc.nat(), (stream, seq, attempt) => {
        const nonce = sequencedNonce({ stream, seq, attempt });
        expect(readSequence(nonce)).to.deep.equal({ stream, seq });
        expect(readWriteHeader(writeHeader(7, nonce))).to.deep.equal({ version: 7, nonce });
      }),
    );
    for (let i = 0; i < 100; i++) expect(readSequence(randomUUID())).to.equal(undefined);
  });

  it('differ from one attempt to the next of the same number', () => {
    const a = sequencedNonce({ stream: '0123456789abcde', seq: 5, attempt: 0 });
    const b = sequencedNonce({ stream: '0123456789abcde', seq: 5, attempt: 1 });
    expect(a).to.not.equal(b);
    expect(readSequence(a)).to.deep.equal(readSequence(b));
  });
});
