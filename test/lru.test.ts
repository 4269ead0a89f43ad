import { expect } from 'chai';
import { ByteView } from '../lib/byteview.js';
import { LRU, ENTRY_OVERHEAD_BYTES as O } from '../lib/lru.js';

/** A value of exactly `n` bytes. */
const bytes = (n: number, fill = 'v') => new ByteView(fill.repeat(n));
/** The keys among `keys` that `lru` no longer holds, looked up without touching recency. */
const gone = (lru: LRU, keys: string[]) => keys.filter((k) => !lru.has(k));

describe('LRU', () => {
  describe('entry cost', () => {
    it('is the UTF-8 byte length of the key plus the value length plus the per-entry overhead', () => {
      expect(O).to.be.within(200, 400); // the measured heap cost of an entry's objects on Node 20
      expect(LRU.cost('key', bytes(10))).to.equal(O + 13);
      expect(LRU.cost('é', bytes(3))).to.equal(O + 2 + 3); // 'é' is one UTF-16 unit but two bytes
      expect(LRU.cost('日本', new ByteView('日本'))).to.equal(O + 6 + 6);
      expect(LRU.cost('\u{1f600}', bytes(0))).to.equal(O + 4);
      expect(LRU.cost('k', bytes(0)), 'an empty value under a 1-byte key still costs its objects').to.equal(O + 1);
    });

    it('is what stats().bytes adds up', () => {
      const lru = new LRU(1_000);
      lru.add('é', bytes(3));
      lru.add('key', bytes(10));
      lru.add('日本', new ByteView('日本'));
      expect(lru.stats()).to.include({ bytes: 3 * O + 5 + 13 + 12, items: 3 });
      lru.remove('key');
      expect(lru.stats()).to.include({ bytes: 2 * O + 5 + 12, items: 2 });
    });

    it('replacing a key accounts for the new value only, and is not an eviction', () => {
      const lru = new LRU(10_000);
      lru.add('k', bytes(10));
      lru.add('k', bytes(40));
      expect(lru.stats()).to.include({ bytes: O + 41, items: 1, evictions: 0 });
      expect(lru.get('k')?.length).to.equal(40);
    });
  });

  describe('get and counters', () => {
    it('returns what was added and counts gets and hits', () => {
      const lru = new LRU(1_000);
      const value = new ByteView('hello');
      expect(lru.add('a', value)).to.equal(true);
      expect(lru.get('a')).to.equal(value);
      expect(lru.get('a')?.toString()).to.equal('hello');
      expect(lru.get('missing')).to.equal(undefined);
      expect(lru.stats()).to.deep.equal({ bytes: O + 6, items: 1, gets: 3, hits: 2, evictions: 0 });
    });

    it('remove() drops an entry without counting an eviction', () => {
      const lru = new LRU(1_000);
      lru.add('a', bytes(1));
      lru.add('b', bytes(1));
      expect(lru.remove('a')).to.equal(true);
      expect(lru.remove('a')).to.equal(false);
      expect(lru.get('a')).to.equal(undefined);
      expect(lru.has('b')).to.equal(true);
      expect(lru.stats()).to.include({ bytes: O + 2, items: 1, evictions: 0 });
    });
  });

  describe('eviction', () => {
    it('evicts the least recently used entry once maxBytes would be exceeded', () => {
      const lru = new LRU(3 * (O + 10));
      lru.add('a', bytes(9, 'A')); // each entry costs O + 10
      lru.add('b', bytes(9, 'B'));
      lru.add('c', bytes(9, 'C'));
      expect(lru.stats()).to.include({ bytes: 3 * (O + 10), items: 3, evictions: 0 });

      lru.add('d', bytes(9, 'D'));
      expect(gone(lru, ['a', 'b', 'c', 'd'])).to.deep.equal(['a']);
      expect(lru.get('a')).to.equal(undefined);
      expect(lru.stats()).to.include({ bytes: 3 * (O + 10), items: 3, evictions: 1 });
    });

    it('a get marks an entry recently used, so the next eviction skips it', () => {
      const lru = new LRU(3 * (O + 10));
      lru.add('a', bytes(9));
      lru.add('b', bytes(9));
      lru.add('c', bytes(9));
      lru.get('a');
      lru.add('d', bytes(9));
      expect(gone(lru, ['a', 'b', 'c', 'd'])).to.deep.equal(['b']);
      expect(lru.get('a')).to.not.equal(undefined);
    });

    it('a large entry evicts as many old ones as it needs', () => {
      const lru = new LRU(3 * (O + 10));
      for (const k of ['a', 'b', 'c']) lru.add(k, bytes(9));
      lru.add('big', bytes(2 * O + 22)); // costs 3 * O + 25: none of the (O + 10)-byte entries can stay
      expect(gone(lru, ['a', 'b', 'c', 'big'])).to.deep.equal(['a', 'b', 'c']);
      expect(lru.stats()).to.include({ bytes: 3 * O + 25, items: 1, evictions: 3 });
    });

    it('never holds more than maxBytes, however much is added', () => {
      const maxBytes = 10 * O;
      const lru = new LRU(maxBytes);
      let added = 0;
      let count = 0;
      for (let i = 0; added < 10 * maxBytes; i++, count++) {
        const value = bytes(1 + (i % 50));
        lru.add(`key-${i}`, value);
        added += LRU.cost(`key-${i}`, value);
        expect(lru.stats().bytes).to.be.at.most(maxBytes);
      }
      const stats = lru.stats();
      expect(stats.bytes).to.be.greaterThan(maxBytes / 2);
      // every key is new, so each one not held any more was evicted
      expect(stats.evictions)
        .to.be.greaterThan(0)
        .and.equal(count - stats.items);
    });

    it('refuses an entry that can never fit, leaving the cache as it was', () => {
      const lru = new LRU(O + 30);
      lru.add('a', bytes(9));
      expect(lru.add('huge', bytes(27))).to.equal(false); // costs O + 31
      expect(lru.get('huge')).to.equal(undefined);
      expect(lru.get('a')).to.not.equal(undefined);
      expect(lru.stats().evictions).to.equal(0);
      expect(lru.add('fits', bytes(26))).to.equal(true); // costs exactly O + 30
    });
  });

  describe('maxBytes <= 0', () => {
    for (const maxBytes of [0, -1]) {
      it(`maxBytes ${maxBytes} holds nothing but still counts gets`, () => {
        const lru = new LRU(maxBytes);
        expect(lru.add('a', bytes(1))).to.equal(false);
        expect(lru.get('a')).to.equal(undefined);
        expect(lru.remove('a')).to.equal(false);
        expect(lru.stats()).to.deep.equal({ bytes: 0, items: 0, gets: 1, hits: 0, evictions: 0 });
      });
    }
  });
});
