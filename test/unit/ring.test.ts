import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { expect } from 'chai';
import { BoundedRing, ConsistentHashRing, MAGLEV_TABLE_SIZE, MaglevRing, RendezvousRing, type Ring } from '../../lib/index.js';
import { crc32String } from '../../lib/ring/keyhash.js';

const peerNames = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `http://10.0.0.${i + from}:3000`);
const keys = (n: number) => Array.from({ length: n }, (_, i) => `key${i}`);

/** The keys of the recorded tables: ASCII, multi-byte, astral, and one longer than the 128 characters hashed in JavaScript. */
const RECORDED_KEYS = ['a', 'user:42', 'scores/alice', 'héllo', '日本', '\u{1f600}', 'key-131', 'x'.repeat(300)];

/**
 * Checks `ring`, given the peers peerNames(5), against a recorded table: `owners[i]` is the number
 * n of the peer (http://10.0.0.n:3000) that owns RECORDED_KEYS[i].
 */
function expectRecordedOwners(ring: Ring, owners: number[]): void {
  ring.add(...peerNames(5));
  for (const [i, key] of RECORDED_KEYS.entries()) expect(ring.get(key), key.slice(0, 20)).to.equal(peerNames(1, owners[i])[0]);
}

/** Keys per owner over `keyList`. */
function shares(ring: Ring, keyList: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const key of keyList) {
    const owner = ring.get(key)!;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}

/** Keys owned by the busiest peer, as a multiple of the mean (peers owning nothing count too). */
function busiestOverMean(ring: Ring, keyList: string[], counts = shares(ring, keyList)): number {
  return Math.max(...counts.values()) / (keyList.length / ring.peers().length);
}

/** The empty-ring test every ring passes: no owner before a peer is added, nor after the last one left. */
function itAnswersNothingWhenEmpty(make: () => Ring): void {
  it('returns undefined on an empty ring, and again once every peer is removed', () => {
    const ring = make();
    expect(ring.get('k')).to.equal(undefined);
    ring.add('http://10.0.0.1:3000', 'http://10.0.0.2:3000');
    expect(ring.get('k')).to.be.oneOf(['http://10.0.0.1:3000', 'http://10.0.0.2:3000']);
    ring.remove('http://10.0.0.1:3000', 'http://10.0.0.2:3000');
    expect(ring.get('k')).to.equal(undefined);
    expect(ring.peers()).to.deep.equal([]);
  });
}

/** Keys that, after `gone` left, are still on it or moved though their owner stayed. */
function wronglyMoved(ring: Ring, keyList: string[], before: (string | undefined)[], gone: string): string[] {
  return keyList.flatMap((k, i) => {
    const owner = ring.get(k);
    return owner === gone || (before[i] !== gone && owner !== before[i]) ? [`${k}: ${before[i]} -> ${owner}`] : [];
  });
}

/**
 * A deliberately naive golang/groupcache consistenthash.Map: every (hash, peer) point in a
 * list, sorted by hash (stable, so equal hashes keep insertion order); a key goes to the first
 * point >= hash(key), wrapping. On a tie Go's map keeps the peer added last.
 */
function referenceOwner(peers: string[], replicas: number, key: string): string | undefined {
  const points: { hash: number; peer: string }[] = [];
  for (const peer of peers) for (let i = 0; i < replicas; i++) points.push({ hash: crc32(String(i) + peer), peer });
  if (points.length === 0) return undefined;
  points.sort((a, b) => a.hash - b.hash);
  const h = crc32(key);
  const first = points.find((p) => p.hash >= h) ?? points[0];
  return points.filter((p) => p.hash === first.hash).at(-1)!.peer;
}

describe('ConsistentHashRing (golang/groupcache consistenthash)', () => {
  // golang/groupcache consistenthash_test.go TestHashing, with the same identity "hash".
  const identity = (data: Buffer) => parseInt(data.toString(), 10);

  it('reproduces TestHashing with an identity hash', () => {
    const ring = new ConsistentHashRing(3, identity);
    // Replica points: 2, 4, 6, 12, 14, 16, 22, 24, 26.
    ring.add('6', '4', '2');
    const cases: Record<string, string> = { '2': '2', '11': '2', '23': '4', '27': '2' };
    for (const [key, owner] of Object.entries(cases)) expect(ring.get(key), `key ${key}`).to.equal(owner);

    // Adds 8, 18, 28: 27 now belongs to 8, the rest stay.
    ring.add('8');
    cases['27'] = '8';
    for (const [key, owner] of Object.entries(cases)) expect(ring.get(key), `key ${key}`).to.equal(owner);
  });

  itAnswersNothingWhenEmpty(() => new ConsistentHashRing());

  it('rejects a replica count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, NaN]) expect(() => new ConsistentHashRing(bad), String(bad)).to.throw(TypeError, /replicas/);
  });

  it('add is idempotent: re-adding peers changes neither peers() nor any owner', () => {
    const ring = new ConsistentHashRing();
    ring.add(...peerNames(4));
    const before = keys(2_000).map((k) => ring.get(k));
    ring.add(...peerNames(4));
    ring.add('http://10.0.0.2:3000', 'http://10.0.0.2:3000');
    expect(ring.peers()).to.deep.equal(peerNames(4));
    expect(keys(2_000).map((k) => ring.get(k))).to.deep.equal(before);
  });

  it("remove moves only the removed peer's keys, and re-adding restores every owner", () => {
    const ring = new ConsistentHashRing();
    ring.add(...peerNames(4));
    const gone = 'http://10.0.0.3:3000';
    const before = keys(5_000).map((k) => ring.get(k));
    expect(before).to.include(gone);

    ring.remove(gone, 'http://not-a-member:1');
    expect(ring.peers()).to.deep.equal(peerNames(4).filter((p) => p !== gone));
    expect(wronglyMoved(ring, keys(5_000), before, gone)).to.deep.equal([]);

    ring.add(gone);
    expect(keys(5_000).map((k) => ring.get(k))).to.deep.equal(before);
  });

  it('agrees with a brute-force reference (crc32, sorted points, first >= hash, wrap)', () => {
    for (const [replicas, peers] of [
      [1, ['Bill', 'Bob', 'Bonny']],
      [3, peerNames(5)],
      [50, peerNames(10)],
    ] as const) {
      const ring = new ConsistentHashRing(replicas);
      ring.add(...peers);
      for (const key of [...keys(300), '', 'héllo', '日本', '\u{1f600}']) {
        expect(ring.get(key), `replicas=${replicas} key=${key}`).to.equal(referenceOwner([...peers], replicas, key));
      }
    }
  });

  describe('agrees with golang/groupcache', () => {
    // Every expected owner below was printed by github.com/golang/groupcache/consistenthash
    // (consistenthash.New(50, nil), i.e. crc32 IEEE and groupcache's default 50 replicas) in a
    // small Go program, not computed by this library.
    const three = peerNames(3);
    const goOwnersOfThree: Record<string, string> = {
      a: 'http://10.0.0.1:3000',
      key0: 'http://10.0.0.3:3000',
      key2: 'http://10.0.0.3:3000',
      key3: 'http://10.0.0.1:3000',
      key7: 'http://10.0.0.1:3000',
      key14: 'http://10.0.0.2:3000',
      key15: 'http://10.0.0.2:3000',
      'user:42': 'http://10.0.0.3:3000',
      'scores/alice': 'http://10.0.0.1:3000',
      héllo: 'http://10.0.0.1:3000',
      日本: 'http://10.0.0.3:3000',
      Bobby: 'http://10.0.0.3:3000',
    };
    // After m.Add("http://10.0.0.4:3000").
    const goOwnersOfFour: Record<string, string> = {
      ...goOwnersOfThree,
      key0: 'http://10.0.0.4:3000',
      key2: 'http://10.0.0.4:3000',
      key3: 'http://10.0.0.4:3000',
      key7: 'http://10.0.0.4:3000',
    };

    it('on owners of sample keys, before and after a peer joins', () => {
      const ring = new ConsistentHashRing(50);
      ring.add(...three);
      for (const [key, owner] of Object.entries(goOwnersOfThree)) expect(ring.get(key), key).to.equal(owner);
      ring.add('http://10.0.0.4:3000');
      for (const [key, owner] of Object.entries(goOwnersOfFour)) expect(ring.get(key), key).to.equal(owner);
    });

    it('on the share of each of 10 peers over key0..key9999', () => {
      const ring = new ConsistentHashRing();
      ring.add(...peerNames(10));
      const counts = shares(ring, keys(10_000));
      expect(peerNames(10).map((p) => counts.get(p) ?? 0)).to.deep.equal([1132, 911, 1252, 977, 1038, 1023, 828, 1004, 950, 885]);
    });

    it('on which peer wins a crc32 collision (the one added last)', () => {
      // crc32("6http://3vve5g:8080") === crc32("33http://hgku:8080"): one point for two peers,
      // and key-131 hashes just below it. Go answered hgku for Add(a, b), 3vve5g for Add(b, a).
      const a = 'http://3vve5g:8080';
      const b = 'http://hgku:8080';
      expect(crc32(`6${a}`)).to.equal(crc32(`33${b}`));
      const ab = new ConsistentHashRing();
      ab.add(a, b);
      const ba = new ConsistentHashRing();
      ba.add(b, a);
      expect(ab.get('key-131')).to.equal(b);
      expect(ba.get('key-131')).to.equal(a);
    });

    it('on TestConsistency (1 replica): add order does not matter, new peers take over', () => {
      const h1 = new ConsistentHashRing(1);
      const h2 = new ConsistentHashRing(1);
      h1.add('Bill', 'Bob', 'Bonny');
      h2.add('Bob', 'Bonny', 'Bill');
      expect(h1.get('Ben')).to.equal(h2.get('Ben')).and.equal('Bonny');
      h2.add('Becky', 'Ben', 'Bobby');
      expect([h2.get('Ben'), h2.get('Bob'), h2.get('Bonny')]).to.deep.equal(['Bonny', 'Bob', 'Bonny']);
    });
  });
});

describe('RendezvousRing (the default ring)', () => {
  const N_KEYS = 100_000;
  const manyKeys = keys(N_KEYS);

  itAnswersNothingWhenEmpty(() => new RendezvousRing());

  it('add is idempotent and peers() keeps insertion order', () => {
    const ring = new RendezvousRing();
    ring.add('http://10.0.0.2:3000', 'http://10.0.0.1:3000', 'http://10.0.0.2:3000');
    ring.add('http://10.0.0.1:3000');
    expect(ring.peers()).to.deep.equal(['http://10.0.0.2:3000', 'http://10.0.0.1:3000']);
  });

  it('gives the same owners whatever order the peers were added in', () => {
    const forward = new RendezvousRing();
    forward.add(...peerNames(10));
    const backward = new RendezvousRing();
    for (const p of peerNames(10).reverse()) backward.add(p);
    const ks = keys(10_000);
    expect(ks.map((k) => backward.get(k))).to.deep.equal(ks.map((k) => forward.get(k)));
  });

  for (const n of [3, 5, 10]) {
    it(`balances ${N_KEYS} keys over ${n} peers: the busiest owns <= 1.05x the mean`, () => {
      const ring = new RendezvousRing();
      ring.add(...peerNames(n));
      const counts = shares(ring, manyKeys);
      expect(counts.size, 'every peer owns keys').to.equal(n);
      expect(busiestOverMean(ring, manyKeys, counts)).to.be.at.most(1.05);
    });
  }

  // At 50 peers, 100k keys give each peer ~2,000 ± 44 keys by chance alone: the busiest of 50
  // is expected at ~1.05x the mean even for a perfectly random assignment, so the 1.05 target
  // is met or missed by luck of the key set. What the ring controls is the expected share, so
  // we check it with enough keys for the noise to shrink, and keep a floor-level bound at 100k.
  it(`balances ${N_KEYS} keys over 50 peers within the sampling floor (<= 1.08x; random assignment expects ~1.05x)`, () => {
    const ring = new RendezvousRing();
    ring.add(...peerNames(50));
    const counts = shares(ring, manyKeys);
    expect(counts.size, 'every peer owns keys').to.equal(50);
    expect(busiestOverMean(ring, manyKeys, counts)).to.be.at.most(1.08);
  });

  it('gives 50 peers equal expected shares: over 1M keys the busiest owns <= 1.05x the mean', function () {
    this.timeout(20_000);
    const ring = new RendezvousRing();
    ring.add(...peerNames(50));
    expect(busiestOverMean(ring, keys(1_000_000))).to.be.at.most(1.05);
  });

  for (const n of [3, 5, 10, 50]) {
    it(`moves <= 1.1/(N+1) of the keys, all to the new peer, when a peer joins ${n}`, () => {
      const ring = new RendezvousRing();
      ring.add(...peerNames(n));
      const before = manyKeys.map((k) => ring.get(k));
      const joiner = `http://10.0.0.${n + 1}:3000`;
      ring.add(joiner);
      let moved = 0;
      const elsewhere: string[] = [];
      manyKeys.forEach((k, i) => {
        const owner = ring.get(k);
        if (owner === before[i]) return;
        moved++;
        if (owner !== joiner) elsewhere.push(`${k}: ${before[i]} -> ${owner}`);
      });
      expect(elsewhere, 'keys that moved between old peers').to.deep.equal([]);
      expect(moved, 'some keys move to the joiner').to.be.greaterThan(0);
      expect(moved / N_KEYS).to.be.at.most(1.1 / (n + 1));
    });
  }

  it('when a peer leaves, only its keys move, and re-adding it restores every owner', () => {
    const ring = new RendezvousRing();
    ring.add(...peerNames(10));
    const ks = keys(20_000);
    const before = ks.map((k) => ring.get(k));
    const gone = 'http://10.0.0.4:3000';
    ring.remove(gone);
    expect(wronglyMoved(ring, ks, before, gone)).to.deep.equal([]);
    ring.add(gone);
    expect(ks.map((k) => ring.get(k))).to.deep.equal(before);
  });

  it('is better balanced than the groupcache preset (why it is the default)', () => {
    for (const n of [3, 5, 10, 50]) {
      const rendezvous = new RendezvousRing();
      rendezvous.add(...peerNames(n));
      const groupcache = new ConsistentHashRing(50);
      groupcache.add(...peerNames(n));
      // crc32 with 50 replicas misses the 1.05 target at every size (about 1.07 at 3 peers,
      // 1.6 at 50); these are deterministic, so the comparison cannot flake.
      const gc = busiestOverMean(groupcache, manyKeys);
      expect(gc, `groupcache preset, ${n} peers`).to.be.greaterThan(1.05);
      expect(busiestOverMean(rendezvous, manyKeys), `${n} peers`).to.be.lessThan(gc);
    }
  });
});

describe("the rings' key hash (crc32 of the UTF-8 bytes, in JavaScript for short keys)", () => {
  it("equals zlib's crc32 on ASCII, multi-byte, astral and lone-surrogate keys, short and long", () => {
    const samples = ['', 'a', 'user:42', 'héllo', '日本', '\u{1f600}', '\ud800', 'x\udc00y', '\ud800\ud800', '\udbff', 'a'.repeat(500), 'ü'.repeat(130)];
    let seed = 0x2545f491;
    for (let i = 0; i < 5_000; i++) {
      let key = '';
      for (let j = 0; j < i % 40; j++) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        // Every third key draws from all of UTF-16 (surrogates included), the rest from ASCII.
        key += String.fromCharCode((seed >>> 0) % (i % 3 === 0 ? 0x10000 : 0x80));
      }
      samples.push(key);
    }
    const wrong = samples.filter((key) => crc32String(key) !== crc32(key)).map((key) => JSON.stringify(key));
    expect(wrong).to.deep.equal([]);
  });
});

describe('RendezvousRing owners are fixed by the peer list alone', () => {
  it('gives the owners every earlier version and every other process gives (a recorded table)', () => {
    // Recorded from the implementation before the lookup was unrolled and the key hash moved
    // into JavaScript: a peer running either version, in any process, agrees with this table.
    expectRecordedOwners(new RendezvousRing(), [1, 4, 3, 1, 5, 4, 5, 2]);
  });
});

describe("MaglevRing (ring: 'maglev')", () => {
  /** A ring whose key hash is the key's number: key String(s) is slot s, so every slot can be read. */
  const slotRing = (tableSize = MAGLEV_TABLE_SIZE) => new MaglevRing({ tableSize, hash: (key) => Number(key) });
  const slotOwners = (ring: Ring, tableSize = MAGLEV_TABLE_SIZE) => Array.from({ length: tableSize }, (_, s) => ring.get(String(s)));

  itAnswersNothingWhenEmpty(() => new MaglevRing());

  it('gives the same owners whatever order the peers were added in', () => {
    const forward = new MaglevRing();
    forward.add(...peerNames(10));
    const backward = new MaglevRing();
    for (const p of peerNames(10).reverse()) backward.add(p);
    const ks = keys(10_000);
    expect(ks.map((k) => backward.get(k))).to.deep.equal(ks.map((k) => forward.get(k)));
  });

  it('gives the owners every other process gives for the same list (a recorded table)', () => {
    expectRecordedOwners(new MaglevRing(), [3, 3, 2, 3, 3, 5, 2, 2]);
  });

  for (const n of [3, 10, 100]) {
    it(`gives each of ${n} peers the same number of slots, give or take one`, () => {
      const ring = slotRing();
      ring.add(...peerNames(n));
      const counts = new Map<string | undefined, number>();
      for (const owner of slotOwners(ring)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
      expect(counts.size).to.equal(n);
      expect(Math.max(...counts.values()) - Math.min(...counts.values())).to.be.at.most(1);
    });
  }

  // Maglev's price, measured over every slot: a join moves the newcomer's 1/(N+1) and shifts
  // some slots between the others; the more slots per peer, the fewer (1.01x at 10 peers, 1.36x
  // at 100, ~6.4x at 1,000 with the default table). Rendezvous moves exactly the minimum.
  for (const [n, bound] of [
    [10, 1.05],
    [100, 1.5],
  ] as const) {
    it(`moves at most ${bound}x the minimum 1/(N+1) of the slots when a peer joins ${n}, most of them to the joiner`, () => {
      const ring = slotRing();
      ring.add(...peerNames(n));
      const before = slotOwners(ring);
      const joiner = `http://10.0.1.${n + 1}:3000`;
      ring.add(joiner);
      const after = slotOwners(ring);
      let moved = 0;
      let toJoiner = 0;
      after.forEach((owner, s) => {
        if (owner === before[s]) return;
        moved++;
        if (owner === joiner) toJoiner++;
      });
      expect(moved / MAGLEV_TABLE_SIZE).to.be.at.most(bound / (n + 1));
      expect(toJoiner / moved).to.be.at.least(1 / bound);
    });
  }

  it('when a peer leaves, its keys all move, and re-adding it restores every owner', () => {
    const ring = new MaglevRing();
    ring.add(...peerNames(10));
    const ks = keys(20_000);
    const before = ks.map((k) => ring.get(k));
    const gone = 'http://10.0.0.4:3000';
    ring.remove(gone);
    expect(ks.filter((k) => ring.get(k) === gone)).to.deep.equal([]);
    ring.add(gone);
    expect(ks.map((k) => ring.get(k))).to.deep.equal(before);
  });

  it('refuses a table size that is not a prime, and more peers than slots, naming the fix', () => {
    for (const bad of [0, 1, 4, 65_536, 1.5, NaN])
      expect(() => new MaglevRing({ tableSize: bad }), String(bad)).to.throw(TypeError, /tableSize must be a prime/);
    const tiny = new MaglevRing({ tableSize: 3 });
    expect(() => tiny.add(...peerNames(4))).to.throw(RangeError, /larger tableSize/);
  });
});

describe("BoundedRing (ring: 'bounded')", () => {
  /** A ring whose key String(s) lands in slot s, so that every slot can be read. */
  const slotRing = (tableSize: number, slack?: number) =>
    new BoundedRing({ tableSize, slack, hash: (key) => (Number(key) << (32 - Math.log2(tableSize))) >>> 0 });
  const slotOwners = (ring: BoundedRing) => Array.from({ length: ring.tableSize }, (_, s) => ring.get(String(s)));
  const movedOverMinimum = (before: (string | undefined)[], after: (string | undefined)[], n: number) =>
    (before.filter((owner, s) => owner !== after[s]).length / before.length) * n;

  /**
   * The same table computed the slow way: every (slot, peer) pair, ranked by the step at which the
   * peer's walk reaches the slot (ties: the peer whose seed sorts first), taken greedily.
   */
  function referenceTable(peers: string[], tableSize: number, cap: number): string[] {
    const walks = peers
      .map((peer) => {
        const d = createHash('sha256').update(peer).digest();
        return { peer, order: d.readUInt32BE(0), offset: d.readUInt32BE(4) % tableSize, step: (d.readUInt32BE(8) % tableSize) | 1 };
      })
      .sort((a, b) => a.order - b.order || (a.peer < b.peer ? -1 : 1));
    const pairs: [number, number, number][] = [];
    walks.forEach((w, i) => {
      for (let rank = 0; rank < tableSize; rank++) pairs.push([rank, i, (w.offset + rank * w.step) % tableSize]);
    });
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const table: string[] = new Array(tableSize);
    const held = new Array(walks.length).fill(0);
    for (const [, i, s] of pairs) {
      if (table[s] !== undefined || held[i] === cap) continue;
      table[s] = walks[i].peer;
      held[i]++;
    }
    return table;
  }

  itAnswersNothingWhenEmpty(() => new BoundedRing({ tableSize: 1 << 12 }));

  for (const [n, tableSize] of [
    [3, 64],
    [12, 256],
    [40, 256],
    [100, 1024],
  ] as const) {
    it(`is the stable matching of slots and peers under each peer's cap (${n} peers, ${tableSize} slots)`, () => {
      const ring = slotRing(tableSize);
      ring.add(...peerNames(n));
      expect(slotOwners(ring)).to.deep.equal(referenceTable(peerNames(n), tableSize, ring.capFor(n)));
    });
  }

  it('gives the same owners whatever the order and history of joins and leaves', () => {
    const forward = slotRing(1 << 14);
    forward.add(...peerNames(60));
    const history = slotRing(1 << 14);
    for (const p of peerNames(70).reverse()) history.add(p);
    history.remove(...peerNames(10, 61));
    history.remove('http://10.0.0.7:3000');
    history.add('http://10.0.0.7:3000');
    expect(slotOwners(history)).to.deep.equal(slotOwners(forward));
  });

  it('gives the owners every other process gives for the same list (a recorded table)', () => {
    expectRecordedOwners(new BoundedRing(), [1, 3, 4, 2, 2, 3, 3, 3]);
  });

  // 250 peers on 2^18 slots: 1,048 slots per peer, as 1,000 peers have on the default table.
  it('keeps every share of 250 peers within 1.05x the mean, and moves at most 1.1x the minimum when one joins or leaves', () => {
    const tableSize = 1 << 18;
    const ring = slotRing(tableSize);
    ring.add(...peerNames(250));
    const before = slotOwners(ring);
    const counts = new Map<string | undefined, number>();
    for (const owner of before) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    expect(counts.size).to.equal(250);
    expect(Math.max(...counts.values()) / (tableSize / 250)).to.be.at.most(1.05);
    ring.add('http://10.0.1.1:3000');
    expect(movedOverMinimum(before, slotOwners(ring), 251)).to.be.at.most(1.1);
    ring.remove('http://10.0.1.1:3000', 'http://10.0.0.77:3000');
    expect(movedOverMinimum(before, slotOwners(ring), 250)).to.be.at.most(1.1);
  });

  it('refuses a table size that is not a power of two, a bad slack, and more peers than slots, naming the fix', () => {
    for (const bad of [0, 8, 1000, 1.5, NaN, 1 << 27])
      expect(() => new BoundedRing({ tableSize: bad }), String(bad)).to.throw(TypeError, /tableSize must be a power of two/);
    for (const bad of [0, -0.1, 1.5, NaN]) expect(() => new BoundedRing({ slack: bad }), String(bad)).to.throw(TypeError, /slack must be/);
    const tiny = new BoundedRing({ tableSize: 16 });
    expect(() => tiny.add(...peerNames(17))).to.throw(RangeError, /larger tableSize/);
  });
});
