import v8 from 'node:v8';
import { expect } from 'chai';
import { HEAP_VALUE_MAX_BYTES, heapLimitWarning } from '../../lib/cache/byteview.js';
import { ByteView, Group, geecache } from '../../lib/index.js';

describe('ByteView', () => {
  it('holds a string as UTF-8: length counts bytes, toString decodes', () => {
    const view = new ByteView('héllo 日本');
    expect(view.length).to.equal(Buffer.byteLength('héllo 日本'));
    expect(view.length).to.equal(13);
    expect(view.toString()).to.equal('héllo 日本');
    expect(new ByteView('').length).to.equal(0);
  });

  it("holds a Buffer or a Uint8Array, honouring a subarray's offset and length", () => {
    expect(new ByteView(Buffer.from([1, 2, 3])).byteSlice()).to.deep.equal(Buffer.from([1, 2, 3]));
    const whole = new Uint8Array([9, 8, 7, 6, 5]);
    const view = new ByteView(whole.subarray(1, 4));
    expect(view.length).to.equal(3);
    expect([...view.byteSlice()]).to.deep.equal([8, 7, 6]);
  });

  it('copies the bytes it is given: changing the source afterwards changes nothing', () => {
    const source = Buffer.from('abc');
    const view = new ByteView(source);
    source[0] = 0x7a; // 'z'
    source.fill(0);
    expect(view.toString()).to.equal('abc');
  });

  it('byteSlice() returns a fresh copy each time: mutating it leaves the view unchanged', () => {
    const view = new ByteView('value');
    const slice = view.byteSlice();
    expect(Buffer.isBuffer(slice)).to.equal(true);
    slice.fill(0x21);
    expect(view.toString()).to.equal('value');
    const again = view.byteSlice();
    expect(again).to.not.equal(slice);
    expect(again.toString()).to.equal('value');
  });

  it('json() parses the bytes; invalid JSON throws a SyntaxError', () => {
    const view = new ByteView(JSON.stringify({ name: 'alice', scores: [1, 2] }));
    expect(view.json<{ name: string; scores: number[] }>()).to.deep.equal({ name: 'alice', scores: [1, 2] });
    expect(new ByteView('42').json()).to.equal(42);
    expect(() => new ByteView('{not json').json()).to.throw(SyntaxError);
  });

  it('equals() compares bytes with a ByteView, Buffer, Uint8Array or string', () => {
    const view = new ByteView('abc');
    expect(view.equals(new ByteView(Buffer.from('abc')))).to.equal(true);
    expect(view.equals(Buffer.from('abc'))).to.equal(true);
    expect(view.equals(new Uint8Array([0x61, 0x62, 0x63]))).to.equal(true);
    expect(view.equals('abc')).to.equal(true);
    expect(view.equals('abd')).to.equal(false);
    expect(view.equals('ab')).to.equal(false);
    expect(view.equals(new ByteView('abcd'))).to.equal(false);
    expect(new ByteView('é').equals(Buffer.from('é', 'utf8'))).to.equal(true);
    expect(new ByteView('').equals('')).to.equal(true);
  });

  it('keeps a string as the string; a lone surrogate reads as U+FFFD, as it would after a trip through UTF-8', () => {
    const text = 'x'.repeat(1000);
    const view = new ByteView(text);
    expect(view.toString()).to.equal(text);
    expect(view.length).to.equal(1000);
    const lone = new ByteView('a\ud800b');
    expect(lone.toString()).to.equal('a\ufffdb');
    expect(lone.length).to.equal(Buffer.byteLength('a\ufffdb'));
    expect(lone.equals(Buffer.from('a\ud800b'))).to.equal(true); // Buffer.from writes U+FFFD too
    expect(lone.byteSlice().toString()).to.equal(lone.toString());
  });

  it("keeps a small Buffer as a string of its bytes: no buffer of its own, nothing of the getter's buffer or Node's 8 KB pool", () => {
    const fromPool = Buffer.from('small value'); // Buffer.from puts small values in the pool
    expect(fromPool.buffer.byteLength).to.be.greaterThan(fromPool.length);
    const view = new ByteView(fromPool);
    expect(ByteView.held(view)).to.equal('small value');
    expect(view.toString()).to.equal(ByteView.held(view), 'ASCII bytes are their own text: toString() returns the held string');
    const atLimit = ByteView.held(new ByteView(Buffer.alloc(HEAP_VALUE_MAX_BYTES, 0xff)));
    expect(atLimit).to.be.a('string').with.length(HEAP_VALUE_MAX_BYTES);
    const over = ByteView.held(new ByteView(Buffer.alloc(HEAP_VALUE_MAX_BYTES + 1, 0xff)));
    expect(Buffer.isBuffer(over) && over.buffer.byteLength, 'a larger value is a Buffer of its own').to.equal(HEAP_VALUE_MAX_BYTES + 1);
  });

  it('bytes kept as a string read back exactly: every byte value, UTF-8 text, invalid UTF-8', () => {
    const all = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
    const view = new ByteView(all);
    expect(view.length).to.equal(512);
    expect(view.byteSlice()).to.deep.equal(all);
    expect(ByteView.unwrap(view)).to.deep.equal(all);
    expect(view.toString()).to.equal(all.toString('utf8'), 'decoded as UTF-8, invalid sequences as U+FFFD, as a Buffer would');
    expect(view.equals(all)).to.equal(true);
    const text = Buffer.from('héllo 日本 ✓', 'utf8');
    const utf8 = new ByteView(new Uint8Array(text.buffer, text.byteOffset, text.length));
    expect(utf8.length).to.equal(text.length);
    expect(utf8.toString()).to.equal('héllo 日本 ✓');
    expect(new ByteView(Buffer.from('{"é":1}')).json()).to.deep.equal({ é: 1 });
    expect(utf8.equals('héllo 日本 ✓')).to.equal(true);
    const copy = utf8.byteSlice();
    copy.fill(0);
    expect(utf8.byteSlice()).to.deep.equal(text, 'a caller changing its copy changes nothing');
    const sent = ByteView.unwrap(utf8);
    sent.fill(0);
    expect(utf8.toString()).to.equal('héllo 日本 ✓');
  });

  it('a value that is a slice of a larger buffer (a batch answer) is copied out even with copy: false; a large one that fills its buffer is kept', () => {
    const batch = Buffer.alloc(64 * 1024, 1);
    const small = ByteView.held(new ByteView(batch.subarray(1000, 2024), false));
    expect(small, 'a 1 KiB value holds only its 1 KiB (as a string), not the whole 64 KiB batch').to.be.a('string').with.length(1024);
    const large = ByteView.held(new ByteView(batch.subarray(0, 20 * 1024), false));
    expect(Buffer.isBuffer(large) && large.buffer.byteLength, 'not the whole 64 KiB batch').to.equal(20 * 1024);
    const single = new Uint8Array(new ArrayBuffer(HEAP_VALUE_MAX_BYTES + 4), 3); // one get's answer: 3 bytes of protobuf, then the value
    expect(ByteView.unwrap(new ByteView(single, false)).buffer).to.equal(single.buffer);
    expect(ByteView.unwrap(new ByteView(new Uint8Array(0))).length).to.equal(0);
  });

  it("geecache() warns once, naming --max-old-space-size, when the groups' maxBytes exceed half of the heap limit; not otherwise", async () => {
    const limit = v8.getHeapStatistics().heap_size_limit;
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m) };
    const getter = () => 'v';
    const big = geecache({
      self: 'http://127.0.0.1:1',
      logger,
      groups: { a: { maxBytes: Math.ceil(limit / 4), getter }, b: { maxBytes: Math.ceil(limit / 3), getter } },
    });
    await big.close();
    const heap = warnings.filter((w) => w.includes('--max-old-space-size'));
    expect(heap, warnings.join('\n')).to.have.length(1);
    expect(heap[0]).to.include(`${Math.ceil((Math.ceil(limit / 4) + Math.ceil(limit / 3)) / 2 ** 20)} MiB`);
    warnings.length = 0;
    const small = geecache({ self: 'http://127.0.0.1:1', logger, groups: { a: { maxBytes: Math.floor(limit / 4), getter } } });
    await small.close();
    expect(warnings.filter((w) => w.includes('--max-old-space-size'))).to.deep.equal([]);
    expect(heapLimitWarning(2 ** 30, 2 ** 31)).to.equal(undefined);
    expect(heapLimitWarning(2 ** 30 + 1, 2 ** 31)).to.include('--max-old-space-size=2562');
  });

  describe('inside a Group', () => {
    it('a caller mutating byteSlice() of a cached value does not change what the next caller gets', async () => {
      let loads = 0;
      const group = new Group('byteview-slice', {
        maxBytes: 1 << 20,
        getter: () => {
          loads++;
          return 'original';
        },
      });
      const first = await group.get('k');
      const slice = first.byteSlice();
      slice.write('XXXX');
      expect(slice.toString()).to.equal('XXXXinal');
      const second = await group.get('k');
      expect(loads).to.equal(1); // served from the cache, so the cached copy is what we check
      expect(second.toString()).to.equal('original');
    });

    it('the getter reusing its buffer after returning does not change the cached value', async () => {
      const scratch = Buffer.from('first-value');
      let loads = 0;
      const group = new Group('byteview-getter-buffer', {
        maxBytes: 1 << 20,
        getter: () => {
          loads++;
          return scratch;
        },
      });
      const got = await group.get('k');
      scratch.fill(0x2d); // the getter scribbles over its buffer, e.g. to serve the next key
      expect(got.toString()).to.equal('first-value');
      expect((await group.get('k')).toString()).to.equal('first-value');
      expect(loads).to.equal(1);
    });

    it('the same holds for a Uint8Array view over a larger buffer', async () => {
      const backing = new Uint8Array(Buffer.from('xxvaluexx'));
      const group = new Group('byteview-getter-u8', { maxBytes: 1 << 20, getter: () => backing.subarray(2, 7) });
      const got = await group.get('k');
      backing.fill(0);
      expect(got.toString()).to.equal('value');
      expect(got.length).to.equal(5);
    });
  });
});
