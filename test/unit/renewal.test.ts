// Renewal of hot copies ahead of expiry (lib/cache/renewal.ts), on an in-process cluster of real HTTP
// servers on loopback: a copy read past the middle of its hotTtlMs life is fetched again from its
// owner in the background, in big batches, so a key read all the time stays answered from the
// hot cache. A fake clock (test/helpers/clock.ts) jumps over the waits for a copy's life to pass;
// what takes real time (a renewal's batch waits up to RENEW_BATCH_MS, the renew sweep runs every
// RENEW_SWEEP_MS) is awaited as a state. The assertions are on counts and values, never on durations.
import diagnostics_channel from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect } from 'chai';
import { Group } from '../../lib/cache/group.js';
import type { PeerGetter } from '../../lib/cache/peers.js';
import { RENEW_SWEEP_MS } from '../../lib/cache/renewal.js';
import { RENEW_BATCH_MS } from '../../lib/client/batcher.js';
import { Coalescer } from '../../lib/client/coalescer.js';
import { PEER_REQUEST_CHANNEL, type PeerRequestMessage } from '../../lib/common/diagnostics.js';
import { ByteView } from '../../lib/index.js';
import { type FreshCluster, type FreshPeer, type JumpingClock, jumpingClock, sleep, startFreshCluster, until } from '../helpers/index.js';

const HOT_TTL_MS = 1_000;

/** Counts the peer requests (HTTP exchanges, not keys) `owner` serves, from now on. */
function countPeerRequests(owner: FreshPeer): { readonly count: number } {
  owner.cache.attach(owner.server); // the fast path first: it takes over the server's 'request' listeners
  const counter = { count: 0 };
  owner.server.prependListener('request', (req: IncomingMessage) => {
    if (req.url?.startsWith('/_geecache/') && (req.method === 'POST' || req.method === 'GET')) counter.count++;
  });
  return counter;
}

/** `n` keys owned by `owner`, stored in the database as `<key>:v1`. */
function keysOwnedBy(c: FreshCluster, owner: FreshPeer, n: number, prefix: string): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < n && i < 100 * n; i++) if (c.ownerOf(`${prefix}${i}`) === owner) keys.push(`${prefix}${i}`);
  for (const k of keys) c.db.set(k, `${k}:v1`);
  return keys;
}

describe('renewal of hot copies ahead of expiry', function () {
  this.timeout(60_000);
  let c: FreshCluster;
  let asker: FreshPeer;
  let owner: FreshPeer;
  let served: { readonly count: number };
  let clock: JumpingClock;
  // A cluster per test: copies read in one test are renewed (and counted by the owner) after it.
  beforeEach(async () => {
    clock = jumpingClock();
    c = await startFreshCluster(2, { hotTtlMs: HOT_TTL_MS });
    [asker, owner] = c.peers;
    served = countPeerRequests(owner);
  });
  afterEach(async () => {
    c.gate = undefined;
    await c.close();
    clock.uninstall();
  });

  /** Waits (in real time) for the renew sweep to run at the clock's present reading, and a renewal it started to reach the owner. */
  const sweeps = () => sleep(2 * RENEW_SWEEP_MS + RENEW_BATCH_MS);

  it('keys read all the time stay answered from their hot copies across several hotTtlMs, renewed by the owner in batches', async () => {
    const keys = keysOwnedBy(c, owner, 40, 'steady');
    await Promise.all(keys.map((k) => asker.group.get(k)));
    for (const k of keys) expect(asker.group.peek(k), `${k} has a hot copy`).to.not.equal(undefined);
    const before = { ...asker.group.stats };
    const ownerGets = owner.group.stats.serverRequests;
    const requests = served.count;
    const readAll = async () => {
      const values = await Promise.all(keys.map((k) => asker.group.get(k)));
      for (let j = 0; j < keys.length; j++) expect(String(values[j])).to.equal(`${keys[j]}:v1`);
    };
    // Read every key ten times per hotTtlMs for 4 hotTtlMs (8 halves of a copy's life): without
    // renewals each copy would run out 4 times. The clock jumps a tenth of hotTtlMs between reads;
    // past each renew point, the round waits for its renewals to land before the clock moves on.
    for (let round = 1; round <= 8; round++) {
      for (let i = 0; i < 5; i++) {
        await readAll();
        await clock.jump(HOT_TTL_MS / 10);
      }
      await readAll(); // past the renew point
      await until(`round ${round}'s renewals landed`, () => asker.group.stats.hotRenewals - before.hotRenewals >= round * keys.length);
    }
    const misses = asker.group.stats.loads - before.loads;
    const renewed = asker.group.stats.hotRenewals - before.hotRenewals;
    const renewalGets = owner.group.stats.serverRequests - ownerGets;
    const exchanges = served.count - requests;
    // Fewer misses than keys: a machine stalled past half a copy's life may cost a miss or two,
    // where no renewal costs every key one miss per hotTtlMs (160 here).
    expect(misses, 'gets that missed the hot cache').to.be.below(keys.length);
    expect(renewed, 'copies renewed: every key, again and again').to.be.at.least(3 * keys.length);
    expect(renewalGets, "the owner's served gets include the renewals").to.be.at.least(renewed);
    // Renewed keys travel many to a request: 40 keys due together share one batch.
    expect(exchanges, `peer requests the owner served for ${renewalGets} gets`).to.be.at.most(renewalGets / 5);
  });

  it('a copy nobody reads is not renewed: it runs out, and the next get asks the owner', async () => {
    const [key] = keysOwnedBy(c, owner, 1, 'unread');
    await asker.group.get(key);
    const fetchedAt = Date.now();
    const ownerGets = owner.group.stats.serverRequests;
    const loads = asker.group.stats.loads;
    // Past its renew point, a few sweeps find it unread; then past its end.
    await clock.jump(HOT_TTL_MS / 2 + 10);
    await sweeps();
    await clock.jump(fetchedAt + HOT_TTL_MS + 100 - Date.now());
    expect(owner.group.stats.serverRequests, 'no renewal was sent').to.equal(ownerGets);
    expect(String(await asker.group.get(key))).to.equal(`${key}:v1`);
    expect(asker.group.stats.loads, 'the copy had run out').to.equal(loads + 1);
    expect(owner.group.stats.serverRequests).to.equal(ownerGets + 1);
  });

  it('a copy read once before its renew point is renewed when it gets there, once: the renewed copy, unread, runs out', async () => {
    const [key] = keysOwnedBy(c, owner, 1, 'readonce');
    await asker.group.get(key);
    const fetchedAt = Date.now();
    expect(String(asker.group.peek(key)), 'read at once, well before half its life').to.equal(`${key}:v1`);
    const ownerGets = owner.group.stats.serverRequests;
    const renewals = asker.group.stats.hotRenewals;
    await clock.jump(HOT_TTL_MS / 2 + 10);
    await until('renewed without another read', () => asker.group.stats.hotRenewals > renewals, { timeoutMs: 5_000 });
    const renewedAt = Date.now();
    expect(owner.group.stats.serverRequests).to.equal(ownerGets + 1);
    // Nobody reads the renewed copy: past its own renew point, a few sweeps find it unread (no
    // second renewal), and past its end it has run out.
    await clock.jump(HOT_TTL_MS / 2 + 10);
    await sweeps();
    await clock.jump(Math.max(renewedAt, fetchedAt + HOT_TTL_MS) + HOT_TTL_MS + 100 - Date.now());
    expect(owner.group.stats.serverRequests, 'renewed once only').to.equal(ownerGets + 1);
    const loads = asker.group.stats.loads;
    expect(String(await asker.group.get(key))).to.equal(`${key}:v1`);
    expect(asker.group.stats.loads, 'the renewed copy had run out').to.equal(loads + 1);
  });

  it('a remove while a renewal is in flight wins: the renewal does not store the old value', async () => {
    const [key] = keysOwnedBy(c, owner, 1, 'removed');
    await asker.group.get(key);
    // The owner forgets it (locally only), so the renewal runs its getter, held at the gate.
    owner.group.forget(key);
    const loads = c.loads(key);
    let release = () => {};
    c.gate = new Promise<void>((r) => {
      release = r;
    });
    const answered: PeerRequestMessage[] = [];
    const listen = (message: unknown) => {
      if ((message as PeerRequestMessage).peer === owner.url) answered.push(message as PeerRequestMessage);
    };
    diagnostics_channel.subscribe(PEER_REQUEST_CHANNEL, listen);
    try {
      // Past its renew point, read the copy (peek never loads) until its renewal reaches the owner's getter.
      await clock.jump(HOT_TTL_MS / 2 + 10);
      await until('the renewal runs the getter at the owner', () => {
        asker.group.peek(key);
        return c.loads(key) > loads;
      });
      c.db.set(key, `${key}:v2`);
      const report = await asker.group.remove(key);
      expect(report.acknowledged).to.include(owner.url);
      expect(report.pending).to.deep.equal([]);
      release(); // the getter answers what it read before the remove: v1
      await until('the renewal was answered', () => answered.length > 0);
      await sleep(20); // its answer is handled after the monitor hears it
      expect(answered[0].status).to.equal(200);
      expect(asker.group.peek(key), 'no copy stored by the overtaken renewal').to.equal(undefined);
      expect(String(await asker.group.get(key))).to.equal(`${key}:v2`);
    } finally {
      diagnostics_channel.unsubscribe(PEER_REQUEST_CHANNEL, listen);
      release();
    }
  });

  it('a renewal held up by a slow load at the owner never delays a get of another key from that owner', async () => {
    const [slow, fast] = keysOwnedBy(c, owner, 2, 'lanes');
    await asker.group.get(slow);
    owner.group.forget(slow); // its renewal will run the owner's getter, held at the gate
    const loads = c.loads(slow);
    let release = () => {};
    c.gate = new Promise<void>((r) => {
      release = r;
    });
    try {
      await clock.jump(HOT_TTL_MS / 2 + 10);
      await until('the renewal runs the getter at the owner', () => {
        asker.group.peek(slow);
        return c.loads(slow) > loads;
      });
      c.gate = undefined; // later getter runs answer at once; the renewal's stays held
      const renewals = asker.group.stats.hotRenewals;
      expect(String(await asker.group.get(fast))).to.equal(`${fast}:v1`);
      expect(asker.group.stats.hotRenewals, 'the renewal is still waiting').to.equal(renewals);
    } finally {
      release();
    }
    await until('the held renewal completes', () => asker.group.stats.hotRenewals > 0);
  });

  it('the staleness bound holds: a value changed at its owner alone reaches a copy that renewals keep alive', async () => {
    const [key] = keysOwnedBy(c, owner, 1, 'changed');
    await asker.group.get(key);
    const renewals = asker.group.stats.hotRenewals;
    // Changed at the owner only: no remove reaches the asker. Only a renewal that fetches can bring v2.
    expect(owner.group.setLocally(key, new ByteView(`${key}:v2`))).to.equal(true);
    const seen: string[] = [];
    await clock.jump(HOT_TTL_MS / 2 + 10); // past the renew point: the next read renews
    for (let i = 0; i < 1_000 && seen.at(-1) !== `${key}:v2`; i++) {
      seen.push(String(await asker.group.get(key)));
      await sleep(10);
    }
    expect(seen.at(-1), 'the asker answers the new value').to.equal(`${key}:v2`);
    expect(asker.group.stats.hotRenewals, 'brought by a renewal').to.be.above(renewals);
    // And once it did, never the old one again.
    for (let i = 0; i < 20; i++) {
      expect(String(await asker.group.get(key))).to.equal(`${key}:v2`);
      await sleep(10);
    }
  });
});

describe('Coalescer with a delay (the slow lane of renewals)', () => {
  it('sends a batch as soon as it holds maxBatch items, the rest when flushed, each item settled with its own outcome', async () => {
    const sent: number[][] = [];
    const lane = new Coalescer<number, number>(
      (items) => {
        sent.push(items);
        return items.map((x) => Promise.resolve(x * 10));
      },
      3,
      60_000,
    );
    const outcomes = [1, 2, 3, 4, 5, 6, 7].map((x) => lane.add(x));
    expect(sent, 'two full batches left at once').to.deep.equal([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    lane.flush();
    expect(sent.at(-1)).to.deep.equal([7]);
    expect(await Promise.all(outcomes)).to.deep.equal([10, 20, 30, 40, 50, 60, 70]);
  });
});

describe('renewal queue: memory', () => {
  it('holds keys, not copies: a copy the hot cache let go is garbage at once, not kept until its renew point', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const value = 'v'.repeat(1024);
    const peer: PeerGetter = { get: async () => ({ value: Buffer.from(value) }) };
    // Room for about 15 copies of ~1.3 KB; a copy's renew point is 30 s away, far past this test.
    const group = new Group('renewal-memory', { maxBytes: 20_000, hotTtlMs: 60_000, getter: () => 'local' });
    group.registerPeers({ pickPeer: () => peer });
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < 2_000; i++) refs.push(new WeakRef(await group.get(`key-${i}`)));
    const { hot } = group.cacheStats();
    expect(hot.evictions, 'copies were kept and then evicted').to.be.greaterThan(20);
    await new Promise((resolve) => setImmediate(resolve)); // WeakRef targets are kept to the end of the job that made them
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    expect(alive, 'only the copies the hot cache still holds are alive').to.be.at.most(hot.items);
    group.clear();
  });
});
