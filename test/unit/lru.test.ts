import { expect } from 'chai';
import { ByteView } from '../../lib/cache/byteview.js';
import { CacheBudget, LRU, ENTRY_OVERHEAD_BYTES as O } from '../../lib/cache/lru.js';

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

  describe('CacheBudget (one maxBytes for several caches)', () => {
    const entry = O + 1 + 100; // a 1-character key and a 100-byte value
    /** A budget of 10 entries: `a` sure of 8 of them, `b` of 2. */
    const budget = () => {
      const shared = new CacheBudget(10 * entry);
      return { shared, a: shared.cache(8 * entry), b: shared.cache(2 * entry) };
    };
    const fill = (lru: LRU, prefix: string, n: number) => {
      for (let i = 0; i < n; i++) expect(lru.add(String.fromCharCode(prefix.charCodeAt(0) + i), bytes(100))).to.equal(true);
    };

    it('lets a cache fill what the others leave unused', () => {
      const { shared, b } = budget();
      fill(b, 'A', 10);
      expect(b.stats()).to.include({ items: 10, evictions: 0 });
      expect(b.hasRoomFor('z', bytes(100)), 'the budget is full').to.equal(false);
      fill(b, 'a', 1);
      expect(b.stats()).to.include({ items: 10, evictions: 1 });
      expect(b.has('A'), 'its own least recently used entry went').to.equal(false);
      expect(shared.used).to.equal(10 * entry);
    });

    it("takes borrowed room back, least recently used first, down to the borrower's share and no further", () => {
      const { shared, a, b } = budget();
      fill(b, 'A', 10);
      b.get('A'); // now the most recently used of b's
      expect(a.hasRoomFor('a', bytes(100)), "within a's share: b's borrowed room is a's to take").to.equal(true);
      fill(a, 'a', 7);
      expect(b.stats()).to.include({ items: 3, evictions: 7 });
      expect(gone(b, ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'])).to.deep.equal(['B', 'C', 'D', 'E', 'F', 'G', 'H']);
      fill(a, 'h', 3); // a's 9th and 10th entries are over its share: b gives back only down to its 2
      expect(b.stats()).to.include({ items: 2 });
      expect(a.stats()).to.include({ items: 8, evictions: 2 });
      expect(shared.used).to.be.at.most(shared.maxBytes);
    });

    it('a cache with no share holds nothing, however much the budget has unused', () => {
      const shared = new CacheBudget(10 * entry);
      shared.cache(10 * entry);
      const none = shared.cache(0);
      expect(none.add('k', bytes(1))).to.equal(false);
      expect(none.hasRoomFor('k', bytes(1))).to.equal(false);
      expect(shared.used).to.equal(0);
    });

    it("never stores an entry larger than the cache's own share, even with the budget unused", () => {
      const { a, b } = budget();
      expect(b.add('k', bytes(3 * entry))).to.equal(false);
      expect(b.hasRoomFor('k', bytes(3 * entry))).to.equal(false);
      expect(a.add('k', bytes(3 * entry))).to.equal(true);
    });
  });
});
