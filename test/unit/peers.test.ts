import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { expect } from 'chai';
import { ByteView, type GetRequest, type GetResponse, Group, OwnerLoadError, type PeerGetter, type PeerPicker } from '../../lib/index.js';
import { decodeBatchResponse, encodeBatchResponse } from '../../lib/protocol/wire.js';

/** A peer that answers "got:" + key, as golang/groupcache's fakePeer does, and counts requests. */
class FakePeer implements PeerGetter {
  hits = 0;
  readonly asked: [string, string][] = [];
  /** Thrown (after counting the hit) when set. */
  fail: Error | undefined;
  /** Milliseconds each answer takes. */
  delayMs = 0;

  async get({ group, key }: GetRequest): Promise<GetResponse> {
    this.hits++;
    this.asked.push([group, key]);
    if (this.delayMs) await sleep(this.delayMs);
    if (this.fail) throw this.fail;
    return { value: Buffer.from(`got:${key}`) };
  }
}

/**
 * golang/groupcache's fakePeers: the owner of a key is slot crc32(key) % slots; an undefined slot
 * means this process owns it. Counts how often it is asked.
 */
class FakePicker implements PeerPicker {
  picks = 0;
  constructor(readonly slots: (FakePeer | undefined)[]) {}

  static slotOf(key: string, slots: number): number {
    return crc32(key) % slots;
  }

  pickPeer(key: string): PeerGetter | undefined {
    this.picks++;
    return this.slots[FakePicker.slotOf(key, this.slots.length)];
  }
}

/** Three fake peers plus "self" in slot 3, a counting local getter, and a group wired to them. */
function cluster(name: string, maxBytes = 0) {
  const peers = [new FakePeer(), new FakePeer(), new FakePeer()];
  const picker = new FakePicker([...peers, undefined]);
  const local = { hits: 0 };
  const group = new Group(name, {
    maxBytes,
    getter: (key) => {
      local.hits++;
      return `got:${key}`;
    },
  });
  group.registerPeers(picker);
  const reset = () => {
    local.hits = 0;
    for (const p of peers) p.hits = 0;
  };
  const summary = () => ({ local: local.hits, peers: peers.map((p) => p.hits) });
  return { peers, picker, local, group, reset, summary };
}

const keys = (n: number) => Array.from({ length: n }, (_, i) => `key-${i}`);

/** Gets every key, checking each value. */
async function getAll(group: Group, keyList: string[]): Promise<void> {
  for (const key of keyList) expect((await group.get(key)).toString(), key).to.equal(`got:${key}`);
}

/** Keys per slot of a picker with `slots` slots: the spread computed without the group. */
function expectedSpread(keyList: string[], slots: number): number[] {
  const counts = Array<number>(slots).fill(0);
  for (const key of keyList) counts[FakePicker.slotOf(key, slots)]++;
  return counts;
}

describe('Group with peers (golang/groupcache TestPeers)', () => {
  const KEYS = keys(200);
  // Slots 0-2 are peers, slot 3 is this process. golang/groupcache's TestPeers expects
  // "localHits = 49, peers = 51 49 51" for these 200 keys; check that our own count agrees.
  const spread = expectedSpread(KEYS, 4);

  it('spreads keys as the picker says; peerLoads + localLoads add up to the loads', async () => {
    expect(spread).to.deep.equal([51, 49, 51, 49]);
    const { group, picker, peers, summary } = cluster('peers-base');
    await getAll(group, KEYS);
    expect(summary()).to.deep.equal({ local: spread[3], peers: spread.slice(0, 3) });
    peers.forEach((peer, slot) => {
      for (const [groupName, key] of peer.asked) {
        expect(groupName).to.equal('peers-base');
        expect(FakePicker.slotOf(key, 4), `${key} went to peer ${slot}`).to.equal(slot);
      }
    });
    expect(picker.picks).to.equal(200);
    expect(group.stats).to.include({ gets: 200, loads: 200, loadsDeduped: 200, peerLoads: 151, peerErrors: 0, localLoads: 49, localLoadErrs: 0 });
    expect(group.stats.peerLoads + group.stats.localLoads).to.equal(group.stats.loadsDeduped);
  });

  it('with a cache, a second pass needs no local load and fewer peer fetches', async () => {
    const { group, reset, summary } = cluster('peers-cached', 1 << 20);
    await getAll(group, KEYS);
    // Peer-owned values are only sometimes kept (the hot cache); every hot-cached one saves a fetch.
    const hot = group.cacheStats().hot.items;
    expect(hot, 'P(no peer value kept) = 0.9^151, about 1e-7').to.be.greaterThan(0);
    reset();
    await getAll(group, KEYS);
    const { local, peers } = summary();
    expect(local).to.equal(0);
    expect(peers.reduce((a, b) => a + b)).to.equal(151 - hot);
    expect(group.cacheStats().main.items).to.equal(49);
    expect(group.stats.cacheHits).to.equal(49 + hot);
  });

  it('a slot with no peer means "load locally" (golang/groupcache: one_peer_down)', async () => {
    const { group, picker, summary } = cluster('peers-one-down');
    picker.slots[0] = undefined;
    await getAll(group, KEYS);
    expect(summary()).to.deep.equal({ local: 100, peers: [0, 49, 51] });
  });

  it('a failing peer falls back to a local load (golang/groupcache: peer0_failing)', async () => {
    const { group, peers, summary } = cluster('peers-failing');
    peers[0].fail = new Error('connection refused');
    await getAll(group, KEYS);
    expect(summary()).to.deep.equal({ local: 100, peers: [51, 49, 51] });
    expect(group.stats).to.include({ peerLoads: 100, peerErrors: 51, localLoads: 100, localLoadErrs: 0 });
    expect(group.stats.peerLoads + group.stats.localLoads).to.equal(group.stats.loadsDeduped);
  });

  it('a failed peer fetch is not remembered: the next get asks the peer again', async () => {
    const { group, peers, local } = cluster('peers-retry');
    const key = KEYS.find((k) => FakePicker.slotOf(k, 4) === 0)!;
    peers[0].fail = new Error('timeout');
    await group.get(key);
    peers[0].fail = undefined;
    await group.get(key);
    expect(peers[0].hits).to.equal(2);
    expect(local.hits).to.equal(1);
  });

  it('an OwnerLoadError from the peer reaches the caller and the local getter does not run', async () => {
    const { group, peers, local } = cluster('peers-owner-error');
    const ownerError = new OwnerLoadError('http://peer0', 'getter failed on the owner: database is down');
    peers[0].fail = ownerError;
    const key = KEYS.find((k) => FakePicker.slotOf(k, 4) === 0)!;
    let caught: unknown;
    await group.get(key).catch((err) => (caught = err));
    expect(caught).to.equal(ownerError);
    expect(caught).to.be.instanceOf(OwnerLoadError).and.include({ peer: 'http://peer0' });
    expect(local.hits).to.equal(0);
    expect(group.stats).to.include({ peerErrors: 1, peerLoads: 0, localLoads: 0, localLoadErrs: 0 });
  });

  it('concurrent gets of a peer-owned key ask the peer once', async () => {
    const { group, peers } = cluster('peers-dedupe');
    peers[1].delayMs = 10;
    const key = KEYS.find((k) => FakePicker.slotOf(k, 4) === 1)!;
    const views = await Promise.all(Array.from({ length: 100 }, () => group.get(key)));
    expect(views.every((v) => v.toString() === `got:${key}`)).to.equal(true);
    expect(peers[1].hits).to.equal(1);
    expect(group.stats).to.include({ loads: 100, loadsDeduped: 1, peerLoads: 1 });
  });

  it('fills the hot cache with every fetched value while it has room, never the main cache', async () => {
    const peer = new FakePeer();
    const group = new Group('peers-hot', { maxBytes: 1 << 22, getter: () => 'local' });
    group.registerPeers({ pickPeer: () => peer });
    const many = keys(1_000); // ~280 KB of entries: the hot cache's 512 KiB holds them all
    await getAll(group, many);
    const { main, hot } = group.cacheStats();
    expect(main.items).to.equal(0);
    expect(hot.items).to.equal(1_000);
    peer.hits = 0;
    await getAll(group, many);
    expect(peer.hits).to.equal(0);
  });

  it('a full hot cache takes about 1 in 10 fetched values, so one scan of many keys cannot flush it', async () => {
    const peer = new FakePeer();
    // Room for about 800 entries of ~275 bytes. Nothing is owned here, so the hot cache (sure of
    // 1/8) fills all of it: the main cache's unused share is lent (CacheBudget).
    const group = new Group('peers-hot-full', { maxBytes: 8 * 100 * 275, policy: 'lru', getter: () => 'local' });
    group.registerPeers({ pickPeer: () => peer });
    await getAll(group, keys(2_000));
    const { main, hot } = group.cacheStats();
    expect(main.items).to.equal(0);
    expect(hot.items).to.be.within(780, 820);
    // Once full, each admission evicts one entry: Binomial(~1,200, 0.1), mean 120, sd 10; 60..190 is more than 5 sd.
    expect(hot.evictions).to.be.within(60, 190);
  });

  it('owned values take back the room the hot cache borrowed, down to its own share and no further', async () => {
    const peer = new FakePeer();
    const maxBytes = 8 * 100 * 275;
    // policy: 'lru', so that the shares are all entries (the adaptive policy's counts come out of the main cache's).
    const group = new Group('peers-hot-lend', { maxBytes, policy: 'lru', getter: (key) => `local:${key}` });
    let owned = false;
    group.registerPeers({ pickPeer: () => (owned ? undefined : peer) });
    await getAll(group, keys(1_000));
    expect(group.cacheStats().hot.bytes, 'the hot cache filled the unused budget').to.be.greaterThan(maxBytes / 2);
    owned = true;
    const mine = keys(3_000).map((k) => `mine-${k}`);
    for (const key of mine) {
      await group.get(key);
      const { main, hot } = group.cacheStats();
      expect(main.bytes + hot.bytes).to.be.at.most(maxBytes);
      expect(hot.bytes, 'the hot cache keeps its own share').to.be.greaterThan(maxBytes / 8 - 300);
    }
    const { main, hot } = group.cacheStats();
    expect(main.bytes, 'the main cache got its 7/8 back').to.be.greaterThan((7 * maxBytes) / 8 - 300);
    expect(hot.bytes).to.be.at.most(maxBytes / 8);
    expect(main.evictions, 'the main cache evicts its own once at its share').to.be.greaterThan(0);
  });

  it('a hot value that came in a batch answer is held on its own, not as a slice of the whole answer', async () => {
    // The peer answers as HttpGetter hands batch results over: every value is a view into one
    // decoded batch response (the real codec), as a 64-get batch of 1 KB values would be.
    const keysInBatch = keys(64);
    const answer = decodeBatchResponse(encodeBatchResponse(keysInBatch.map((k) => ({ ok: true, value: Buffer.alloc(1024, k.length) }))));
    const peer: PeerGetter = {
      get: async ({ key }) => {
        const result = answer[keysInBatch.indexOf(key)];
        if (!result.ok) throw new Error('unexpected');
        return { value: result.value };
      },
    };
    expect(answer[0].ok && answer[0].value.buffer.byteLength).to.be.greaterThan(64 * 1024);
    const group = new Group('peers-hot-batch', { maxBytes: 1 << 24, hotCacheFraction: 0.5, getter: () => 'local' });
    group.registerPeers({ pickPeer: () => peer });
    let hot = 0;
    for (let round = 0; round < 50 && hot === 0; round++) {
      for (const key of keysInBatch) group.forget(key);
      for (const key of keysInBatch) expect((await group.get(key)).length).to.equal(1024);
      hot = group.cacheStats().hot.items;
    }
    expect(hot, 'some values went to the hot cache').to.be.greaterThan(0);
    for (const key of keysInBatch) {
      const cached = group.peek(key);
      if (!cached) continue;
      expect(cached.length).to.equal(1024);
      const held = ByteView.held(cached); // a string (values up to 16 KiB), or a Buffer of its own
      expect(typeof held === 'string' ? held.length : held.buffer.byteLength, `hot value of ${key} holds only its own bytes`).to.equal(1024);
    }
  });

  it('main and hot cache together stay within maxBytes when peers fill the hot cache', async () => {
    const maxBytes = 10_000;
    const value = 'x'.repeat(90);
    const peer: PeerGetter = { get: async () => ({ value: Buffer.from(value) }) };
    const group = new Group('peers-budget', { maxBytes, getter: () => value });
    group.registerPeers({ pickPeer: (key) => (FakePicker.slotOf(key, 2) === 0 ? peer : undefined) });
    let loaded = 0;
    for (let i = 0; loaded < 10 * maxBytes; i++) {
      await group.get(`key-${i}`);
      loaded += `key-${i}`.length + value.length;
      const { main, hot } = group.cacheStats();
      expect(main.bytes + hot.bytes).to.be.at.most(maxBytes);
    }
    const { main, hot } = group.cacheStats();
    expect(hot.evictions, 'the hot cache filled up').to.be.greaterThan(0);
    expect(main.evictions, 'the main cache filled up').to.be.greaterThan(0);
  });

  it('registerPeers twice throws', () => {
    const group = new Group('peers-register-twice', { maxBytes: 0, getter: () => 'v' });
    group.registerPeers(new FakePicker([undefined]));
    expect(() => group.registerPeers(new FakePicker([undefined]))).to.throw(/registerPeers.*more than once.*"peers-register-twice"/);
  });

  it('getForPeer loads locally without asking the picker, even for keys a peer would own', async () => {
    const { group, picker, peers, local } = cluster('peers-for-peer', 1 << 20);
    for (const key of KEYS.slice(0, 20)) expect((await group.getForPeer(key)).toString()).to.equal(`got:${key}`);
    expect(picker.picks).to.equal(0);
    expect(peers.map((p) => p.hits)).to.deep.equal([0, 0, 0]);
    expect(local.hits).to.equal(20);
    expect(group.stats).to.include({ serverRequests: 20, gets: 20, localLoads: 20 });
    // What it loaded is cached: a second request is a cache hit.
    await group.getForPeer(KEYS[0]);
    expect(local.hits).to.equal(20);
    expect(group.stats.cacheHits).to.equal(1);
  });

  it('a get and a getForPeer of the same owned key share one getter run', async () => {
    let runs = 0;
    const group = new Group('peers-shared-load', {
      maxBytes: 1 << 20,
      getter: async (key) => {
        runs++;
        await sleep(10);
        return `v:${key}`;
      },
    });
    group.registerPeers(new FakePicker([undefined]));
    const [a, b] = await Promise.all([group.get('k'), group.getForPeer('k')]);
    expect([a.toString(), b.toString()]).to.deep.equal(['v:k', 'v:k']);
    expect(runs).to.equal(1);
  });
});
