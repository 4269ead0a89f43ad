import { expect } from 'chai';
import { ByteView, Group } from 'geecache';

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

  it("copies a small Buffer into memory of its own, not into Node's shared 8 KB pool beside the getter's buffers", () => {
    const fromPool = Buffer.from('small value'); // Buffer.from puts small values in the pool
    expect(fromPool.buffer.byteLength).to.be.greaterThan(fromPool.length);
    const held = ByteView.unwrap(new ByteView(fromPool));
    expect(held.buffer.byteLength).to.equal(fromPool.length);
    expect(held.toString()).to.equal('small value');
  });

  it('a value that is a slice of a larger buffer (a batch answer) is copied out even with copy: false; one that fills its buffer is kept', () => {
    const batch = Buffer.alloc(64 * 1024, 1);
    const slice = batch.subarray(1000, 2024);
    const held = ByteView.unwrap(new ByteView(slice, false));
    expect(held.length).to.equal(1024);
    expect(held.buffer.byteLength, 'not the whole 64 KiB batch').to.equal(1024);
    const single = new Uint8Array(new ArrayBuffer(1027), 3); // one get's answer: 3 bytes of protobuf, then the value
    expect(ByteView.unwrap(new ByteView(single, false)).buffer).to.equal(single.buffer);
    expect(ByteView.unwrap(new ByteView(new Uint8Array(0))).length).to.equal(0);
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
