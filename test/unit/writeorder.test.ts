// The order of writes on one peer (cache/writeorder.ts), the nonces of the writes it took
// (server/nonces.ts), and a writer whose clock is behind: its set, refused as older by the
// owner, is sent again newer and stored. Clocks are passed in, so no test waits for one.
import { expect } from 'chai';
import { Group } from '../../lib/cache/group.js';
import type { PeerGetter, PeerPicker, SetRequest } from '../../lib/cache/peers.js';
import { MAX_REMEMBERED, REMEMBER_MS, SIGNATURE_WINDOW_MS, StaleWriteError, WriteClock, WriteOrder } from '../../lib/cache/writeorder.js';
import { MAX_CLOCK_SKEW_MS } from '../../lib/protocol/auth.js';
import { MAX_NONCES, NonceLog } from '../../lib/server/nonces.js';

const T = 1_800_000_000_000;
const v = (ms: number, step = 0) => ms * 1000 + step;

describe('WriteClock: a hybrid logical clock', () => {
  it('only grows, follows the wall clock, and moves past what it observes', () => {
    const clock = new WriteClock();
    expect(clock.next(T)).to.equal(v(T));
    expect(clock.next(T), 'the same millisecond').to.equal(v(T, 1));
    expect(clock.next(T - 5_000), 'a wall clock stepped back').to.equal(v(T, 2));
    expect(clock.next(T + 1)).to.equal(v(T + 1));
    clock.observe(v(T + 10_000, 7));
    expect(clock.next(T + 2), 'after a version from a clock 10 s ahead').to.equal(v(T + 10_000, 8));
    clock.observe(v(T));
    expect(clock.next(T + 3), 'an older version changes nothing').to.equal(v(T + 10_000, 9));
  });
});

describe('WriteOrder: each key takes only writes newer than the last it took', () => {
  it('refuses an older or equal set or remove of a key, and answers the newer version', () => {
    const order = new WriteOrder(T - 60_000);
    expect(order.admit({ kind: 'set', key: 'k', version: v(T, 5) }, T)).to.equal(undefined);
    expect(order.admit({ kind: 'set', key: 'k', version: v(T, 5) }, T), 'the same write again').to.equal(v(T, 5));
    expect(order.admit({ kind: 'set', key: 'k', version: v(T, 4) }, T)).to.equal(v(T, 5));
    expect(order.admit({ kind: 'remove', key: 'k', version: v(T, 3) }, T)).to.equal(v(T, 5));
    expect(order.admit({ kind: 'set', key: 'other', version: v(T, 1) }, T), 'another key has its own order').to.equal(undefined);
    expect(order.admit({ kind: 'remove', key: 'k', version: v(T, 6) }, T)).to.equal(undefined);
    expect(order.admit({ kind: 'set', key: 'k', version: v(T, 6) }, T), 'not newer than the remove').to.equal(v(T, 6));
    expect(order.clock.next(T), 'the clock moved past what was taken').to.equal(v(T, 7));
  });

  it('orders clears against each other, and sets and removes against the last clear', () => {
    const order = new WriteOrder(T - 60_000);
    expect(order.admit({ kind: 'clear', version: v(T, 10) }, T)).to.equal(undefined);
    expect(order.admit({ kind: 'clear', version: v(T, 10) }, T), 'the same clear again').to.equal(v(T, 10));
    expect(order.admit({ kind: 'set', key: 'k', version: v(T, 9) }, T), 'a set older than the clear').to.equal(v(T, 10));
    expect(order.admit({ kind: 'remove', key: 'k', version: v(T, 9) }, T)).to.equal(v(T, 10));
    expect(order.admit({ kind: 'set', key: 'k', version: v(T, 11) }, T)).to.equal(undefined);
    expect(order.admit({ kind: 'clear', version: v(T, 12) }, T)).to.equal(undefined);
  });

  it('starts refusing sets made before it existed, and 30 s past: a set captured before a restart', () => {
    const order = new WriteOrder(T);
    expect(SIGNATURE_WINDOW_MS).to.equal(MAX_CLOCK_SKEW_MS);
    expect(order.admit({ kind: 'set', key: 'k', version: v(T - 1_000) }, T)).to.equal(v(T + SIGNATURE_WINDOW_MS));
    expect(order.admit({ kind: 'set', key: 'k', version: v(T + SIGNATURE_WINDOW_MS) }, T)).to.equal(v(T + SIGNATURE_WINDOW_MS));
    expect(order.admit({ kind: 'set', key: 'k', version: v(T + SIGNATURE_WINDOW_MS, 1) }, T)).to.equal(undefined);
    // Removes never bring an old value back: they are taken.
    expect(order.admit({ kind: 'remove', key: 'r', version: v(T - 1_000) }, T)).to.equal(undefined);
    // Its own writes are newer than that at once.
    expect(order.clock.next(T)).to.be.above(v(T + SIGNATURE_WINDOW_MS));
  });

  it('forgets keys after two periods, and refuses sets at or below what it forgot', () => {
    const start = T - 60_000;
    const order = new WriteOrder(start);
    const old = v(T, 500);
    expect(order.admit({ kind: 'set', key: 'k', version: old }, T)).to.equal(undefined);
    expect(order.admit({ kind: 'set', key: 'j', version: v(T, 1) }, T)).to.equal(undefined);
    order.admit({ kind: 'set', key: 'x', version: v(T + REMEMBER_MS) }, T + REMEMBER_MS);
    expect(order.size, 'one period later: still remembered').to.equal(3);
    order.admit({ kind: 'set', key: 'y', version: v(T + 2 * REMEMBER_MS) }, T + 2 * REMEMBER_MS + 1);
    expect(order.size, 'the first period is forgotten').to.equal(2);
    // 'j' is forgotten, but a set of it at or below the newest forgotten version is still refused.
    expect(order.admit({ kind: 'set', key: 'j', version: v(T, 2) }, T + 2 * REMEMBER_MS + 1)).to.equal(old);
    expect(order.admit({ kind: 'remove', key: 'j', version: v(T, 2) }, T + 2 * REMEMBER_MS + 1)).to.equal(undefined);
  });

  it(`remembers at most ${MAX_REMEMBERED} keys a period: more starts a period early, and raises the floor`, () => {
    const order = new WriteOrder(T - 60_000);
    const refused: string[] = [];
    for (let i = 0; i < 3 * MAX_REMEMBERED; i++) if (order.admit({ kind: 'set', key: `k${i}`, version: v(T, i) }, T) !== undefined) refused.push(`k${i}`);
    expect(refused, 'new keys refused').to.deep.equal([]);
    expect(order.size).to.be.at.most(2 * MAX_REMEMBERED);
    expect(order.admit({ kind: 'set', key: 'k0', version: v(T, 1) }, T), 'a forgotten key stays ordered').to.not.equal(undefined);
  });
});

describe('NonceLog: a write is taken once while its signature is valid', () => {
  it('refuses a nonce seen within the window, forgets it once its signature expired', () => {
    const log = new NonceLog();
    expect(log.see('a', T, T)).to.equal('new');
    expect(log.see('a', T, T + 29_000)).to.equal('repeat');
    expect(log.see('b', T - 29_000, T)).to.equal('new');
    expect(log.size).to.equal(2);
    // Past the window its signature is refused: the nonce needs no keeping.
    expect(log.see('c', T + MAX_CLOCK_SKEW_MS + 1_001, T + MAX_CLOCK_SKEW_MS + 1_001)).to.equal('new');
    expect(log.size).to.equal(1);
  });

  it(`keeps at most ${MAX_NONCES} nonces: the next write is refused, not remembered`, () => {
    const log = new NonceLog();
    for (let i = 0; i < MAX_NONCES; i++) log.see(`n${i}`, T, T);
    expect(log.see('one-more', T, T)).to.equal('full');
    expect(log.see('n7', T, T), 'a repeat is still a repeat').to.equal('repeat');
    expect(log.size).to.equal(MAX_NONCES);
    expect(log.see('later', T + MAX_CLOCK_SKEW_MS + 1_001, T + MAX_CLOCK_SKEW_MS + 1_001)).to.equal('new');
  });
});

describe('a writer whose clock is behind the owner’s', () => {
  it('has its set refused as older, moves its clock past the owner’s version, and stores it', async () => {
    const ownerVersion = v(Date.now() + 3_600_000); // a newer write than any this writer can make now
    const sent: SetRequest[] = [];
    const owner: PeerGetter = {
      get: () => Promise.reject(new Error('not asked')),
      remove: () => Promise.resolve(true),
      set: async (request) => {
        sent.push(request);
        if ((request.version ?? 0) <= ownerVersion) throw new StaleWriteError('the owner applied a newer write', ownerVersion);
      },
    };
    const picker: PeerPicker = {
      pickPeer: () => owner,
      self: 'http://writer',
      ownerOf: () => 'http://owner',
      getters: () => new Map([['http://owner', owner]]),
    };
    const group = new Group('scores', { maxBytes: 1 << 20, getter: (key) => `value:${key}` });
    group.registerPeers(picker);
    const report = await group.set('k', 'later');
    expect(report.acknowledged).to.include('http://owner');
    expect(sent.map((r) => r.version! > ownerVersion)).to.deep.equal([false, true]);
    expect(Buffer.from(sent[1].value).toString()).to.equal('later');
    group.close();
  });
});
