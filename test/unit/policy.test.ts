// The adaptive cache policy (lib/cache/policy/): what it keeps that LRU does not, how its window
// moves with the traffic, its parts (the frequency sketch, the ghost lists, the read-ahead of
// oldest keys), the hot cache's use of it, and the group option that picks it.
import { expect } from 'chai';
import { LRUCache } from 'lru-cache';
import { CacheBudget, type CachePolicy } from '../../lib/cache/lru.js';
import { GhostList } from '../../lib/cache/policy/ghosts.js';
import { OldestKeys } from '../../lib/cache/policy/oldest.js';
import { FrequencySketch, hashKey } from '../../lib/cache/policy/sketch.js';
import { ByteView, ConfigError, type GetRequest, type GetResponse, Group, type PeerGetter } from '../../lib/index.js';

/** What a value costs besides its bytes (ENTRY_OVERHEAD_BYTES) and a key of `k` + 4 digits. */
const ENTRY = 256 + 5 + 100;
const value = 'v'.repeat(100);

/** A group with room for about `entries` entries of 100 bytes, counting its getter runs by key. */
function countingGroup(policy: CachePolicy, entries: number) {
  const loads = new Map<string, number>();
  const group = new Group(`policy-${policy}`, {
    maxBytes: entries * ENTRY,
    hotCacheFraction: 0,
    policy,
    getter: (key) => {
      loads.set(key, (loads.get(key) ?? 0) + 1);
      return value;
    },
  });
  return { group, loads, loadsOf: (keys: string[]) => keys.reduce((sum, k) => sum + (loads.get(k) ?? 0), 0) };
}

const keys = (prefix: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + from).padStart(4, '0')}`);

describe('adaptive policy', () => {
  it('keeps keys read again and again through a scan of one-off keys, where LRU drops them all', async () => {
    const frequent = keys('f', 50);
    const scan = keys('s', 1000);
    const reloads: Record<string, number> = {};
    for (const policy of ['adaptive', 'lru'] as const) {
      const { group, loadsOf } = countingGroup(policy, 100);
      for (let round = 0; round < 5; round++) for (const k of frequent) await group.get(k);
      for (const k of scan) await group.get(k);
      const before = loadsOf(frequent);
      for (const k of frequent) await group.get(k);
      reloads[policy] = loadsOf(frequent) - before;
      group.close();
    }
    expect(reloads.lru, 'LRU: the scan pushed out every frequent key').to.equal(50);
    expect(reloads.adaptive, 'adaptive: the frequent keys stayed').to.be.at.most(2);
  });

  it('holds part of a loop larger than the cache, where LRU misses every time', async () => {
    const loop = keys('l', 300);
    const hits: Record<string, number> = {};
    for (const policy of ['adaptive', 'lru'] as const) {
      const { group } = countingGroup(policy, 100);
      for (let round = 0; round < 30; round++) for (const k of loop) await group.get(k);
      hits[policy] = group.cacheStats().main.hits;
      group.close();
    }
    expect(hits.lru).to.equal(0);
    expect(hits.adaptive, 'about a third of the loop stays (the cache holds 100 of its 300 keys)').to.be.greaterThan(0.2 * 29 * 300);
  });

  it('grows its window towards LRU when keys come back soon after their first read, and shrinks it on a loop', () => {
    /** A main cache of room for 200 entries replaying `next(i)` for i < n: a miss adds the key. */
    const replay = (n: number, next: (i: number) => string) => {
      const cache = new CacheBudget(200 * ENTRY, 'adaptive').cache(200 * ENTRY, 'main');
      for (let i = 0; i < n; i++) {
        const key = next(i);
        if (cache.get(key) === undefined) cache.add(key, new ByteView(value));
      }
      return cache.windowShare as number;
    };
    // Phases: 150 keys read at random 3,000 times, then 150 others: what was read often before is dead now.
    let seed = 7;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const recent = replay(45_000, (i) => `p${Math.floor(i / 3000) * 150 + Math.floor(random() * 150)}`);
    const loop = replay(20_000, (i) => `l${i % 500}`);
    expect(recent, 'recency: a large window').to.be.greaterThan(0.3);
    expect(loop, 'a loop: the smallest window').to.be.lessThan(0.02);
  });

  it('keeps LRU behaviour with policy: lru (the least recently used entry goes)', async () => {
    const { group, loads } = countingGroup('lru', 3);
    for (const k of ['a', 'b', 'c', 'a', 'd', 'a', 'b']) await group.get(k);
    expect(Object.fromEntries(loads)).to.deep.equal({ a: 1, b: 2, c: 1, d: 1 });
  });
});

describe('hot cache with the adaptive policy', () => {
  class CountingPeer implements PeerGetter {
    asked = 0;
    async get({ key }: GetRequest): Promise<GetResponse> {
      this.asked++;
      return { value: Buffer.from(`got:${key}`) };
    }
  }

  it('keeps the copies read often through a scan of one-off keys of other owners, where LRU loses them', async () => {
    const entry = 256 + 5 + 9; // a key of 5 characters, its value "got:" + key
    const refetched: Record<string, number> = {};
    for (const policy of ['adaptive', 'lru'] as const) {
      const peer = new CountingPeer();
      const group = new Group(`policy-hot-${policy}`, { maxBytes: 100 * entry, policy, getter: () => 'local' });
      group.registerPeers({ pickPeer: () => peer });
      const frequent = keys('f', 30);
      for (let round = 0; round < 5; round++) for (const k of frequent) await group.get(k);
      for (const k of keys('s', 2000)) await group.get(k);
      peer.asked = 0;
      for (const k of frequent) await group.get(k);
      refetched[policy] = peer.asked;
      group.close();
    }
    expect(refetched.adaptive, 'adaptive: frequent copies fetched again after the scan').to.be.at.most(3);
    expect(refetched.lru, 'LRU (1 in 10 of the scan kept): most are gone').to.be.greaterThan(20);
  });
});

describe('group option policy', () => {
  const make = (options: Record<string, unknown>) => () => new Group('policy-option', { maxBytes: 1 << 20, getter: () => 'v', ...options } as never);

  it("takes 'adaptive' (the default) and 'lru'", () => {
    expect(make({})).not.to.throw();
    expect(make({ policy: 'adaptive' })).not.to.throw();
    expect(make({ policy: 'lru' })).not.to.throw();
  });

  it('refuses another value, naming the option, the values and the nearest one', () => {
    expect(make({ policy: 'LRU ' })).to.throw(ConfigError, /group\.policy.*must be one of 'adaptive', 'lru', got "LRU " \(did you mean "lru"\?\)/);
    expect(make({ policy: 'tinylfu' })).to.throw(ConfigError, /group\.policy.*got "tinylfu"/);
    expect(make({ policy: 1 })).to.throw(ConfigError, /group\.policy/);
  });

  it('suggests policy for a misspelled option name', () => {
    expect(make({ polcy: 'lru' })).to.throw(ConfigError, /group\.polcy.*did you mean "policy"/);
  });
});

describe('frequency sketch', () => {
  it('never estimates below the true count (up to 15), and halving halves', () => {
    const sketch = new FrequencySketch(1000);
    const truth = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor((i * 7919) % 3000 ** ((1 + (i % 2)) ** 0.5))}`;
      const h = hashKey(key, 42);
      sketch.add(h);
      truth.set(h, Math.min(15, (truth.get(h) ?? 0) + 1));
    }
    const hashes = [...truth.keys()];
    expect(
      hashes.filter((h) => sketch.frequency(h) < (truth.get(h) as number)),
      'hashes estimated below their true count',
    ).to.deep.equal([]);
    const before = hashes.map((h) => sketch.frequency(h));
    sketch.halve();
    expect(
      hashes.filter((h, i) => sketch.frequency(h) !== before[i] >> 1),
      'hashes whose estimate did not halve',
    ).to.deep.equal([]);
  });

  it('is sized for the entries held (8 bytes each), and made anew only when far off', () => {
    const sketch = new FrequencySketch(1000);
    expect(sketch.bytes).to.equal(8_000);
    expect(sketch.resized(1100), 'within a quarter').to.equal(undefined);
    expect(sketch.resized(2000)?.bytes).to.equal(16_000);
    expect(new FrequencySketch(0).bytes, 'the smallest').to.equal(256);
  });

  it('hashes keys by their whole text, seeded', () => {
    expect(hashKey('user:1', 1)).to.equal(hashKey('user:1', 1));
    expect(hashKey('user:1', 1)).not.to.equal(hashKey('user:1', 2));
    expect(hashKey(`${'x'.repeat(100)}a`, 1)).not.to.equal(hashKey(`${'x'.repeat(100)}b`, 1));
    expect(hashKey('', 1)).to.be.a('number');
  });
});

describe('ghost list', () => {
  it('remembers the last hashes up to its capacity and forgets on request', () => {
    const list = new GhostList();
    for (let h = 1; h <= 20; h++) list.remember(h, 10);
    expect(list.forget(5), 'older than the last 10').to.equal(false);
    expect(list.forget(15)).to.equal(true);
    expect(list.forget(15)).to.equal(false);
    expect(list.size).to.equal(9);
    list.remember(3, 10);
    list.remember(3, 10); // again: counts from the latest time
    expect(list.forget(3)).to.equal(true);
  });

  it('grows with the capacity asked for, keeping what it remembered', () => {
    const list = new GhostList();
    for (let h = 1; h <= 8; h++) list.remember(h, 8);
    for (let h = 9; h <= 30; h++) list.remember(h, 30);
    for (let h = 1; h <= 30; h++) expect(list.forget(h), `hash ${h}`).to.equal(true);
  });
});

describe('oldest keys read ahead', () => {
  it('answers the least recently used key as lru-cache orders them, after losses, additions and invalidated reads', () => {
    const cache = new LRUCache<string, ByteView>({ max: 100, allowStale: true });
    const oldest = new OldestKeys(cache);
    for (const k of ['a', 'b', 'c', 'd']) cache.set(k, new ByteView(k));
    expect(oldest.oldest()).to.equal('a');
    cache.delete('a');
    expect(oldest.oldest()).to.equal('b');
    cache.set('e', new ByteView('e'));
    expect(oldest.oldest()).to.equal('b');
    cache.get('b'); // now the youngest
    oldest.invalidate();
    expect(oldest.oldest()).to.equal('c');
    cache.delete('c');
    cache.set('c', new ByteView('c')); // back, young, with another value
    expect(oldest.oldest()).to.equal('d');
    cache.clear();
    expect(oldest.oldest()).to.equal(undefined);
  });
});

describe('CacheBudget with the adaptive policy', () => {
  it('counts the policy’s memory in used, out of the main cache’s share', () => {
    const budget = new CacheBudget(200 * ENTRY, 'adaptive');
    const main = budget.cache(200 * ENTRY, 'main');
    for (let i = 0; i < 1000; i++) if (main.get(`k${i}`) === undefined) main.add(`k${i}`, new ByteView(value));
    expect(budget.used).to.be.at.most(budget.maxBytes);
    expect(budget.used - main.bytes, 'sketch and ghost lists').to.be.within(256, 200 * 20);
    expect(main.stats().items).to.be.within(180, 199);
  });
});
