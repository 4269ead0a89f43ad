// Expiry between geecache peers whose clocks disagree: an owner in its own process with its clock
// 20 s behind or ahead (test/fixtures/clock-offset.mjs), asked by a peer in this process. The
// owner sends the time a value has left, so the asker's copies live as long as if the clocks
// agreed (its remaining TTL, capped by hotTtlMs), a write's TTL holds on the owner, and the
// asker names the skew in one warning.

import { expect } from 'chai';
import type { HotCopy } from '../../lib/cache/renewal.js';
import { CLOCK_SKEW_WARN_MS } from '../../lib/client/clockskew.js';
import type { GeecacheOptions } from '../../lib/index.js';
import { type ChildHandle, clockOffset, freePort, startChildPeer, startInProcessPeer, stopAll } from '../helpers/index.js';

const SECRET = 'test-secret-0123456789';
const SKEW_MS = 20_000;
const HOT_TTL_MS = 10_000;

const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>;

describe('clock skew between peers (an owner process with its clock offset)', function () {
  this.timeout(30_000);
  let children: ChildHandle[] = [];
  let closeA: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await closeA?.();
    closeA = undefined;
    await stopAll(children);
    children = [];
  });

  /** Owner B in a child process whose clock runs `offsetMs` ahead, and asker A here, with a logger the test reads. */
  async function pair(offsetMs: number) {
    const [portA, portB] = await Promise.all([freePort(), freePort()]);
    const urlA = `http://127.0.0.1:${portA}`;
    const urlB = `http://127.0.0.1:${portB}`;
    const b = await startChildPeer({ port: portB, self: urlB, peers: [urlA, urlB], secret: SECRET }, { nodeArgs: clockOffset(offsetMs) });
    children.push(b);
    const warn: string[] = [];
    const options = (self: string): GeecacheOptions => ({
      self,
      peers: [self, urlB],
      secret: SECRET,
      logger: { warn: (m) => warn.push(m), error: (m) => warn.push(m), info: () => {}, debug: () => {} },
      groups: { scores: { maxBytes: 1 << 20, hotTtlMs: HOT_TTL_MS, getter: (key) => `local:${key}` } },
    });
    const a = await startInProcessPeer(options, { port: portA });
    closeA = a.close;
    const keys = (n: number) => {
      const found: string[] = [];
      for (let i = 0; found.length < n && i < 10_000; i++) if (a.cache.pool.ownerOf(`skew${i}`) === urlB) found.push(`skew${i}`);
      return found;
    };
    /** Gives `key` this TTL on B (its getter calls setTtl). */
    const ttl = (key: string, ttlMs: number) => fetch(`${urlB}/_test/db?key=${key}&value=v:${key}&ttlMs=${ttlMs}`).then((r) => r.text());
    return { a, b, urlB, warn, group: a.cache.group('scores'), keys, ttl };
  }

  /**
   * Checks A's hot copy of `key`, fetched between `asked` and `answered` (A's clock) with `ttlMs`
   * on its owner: it expires `ttlMs` after it was asked for, and is renewed halfway through
   * hotTtlMs when that is shorter, else ends with its expiry.
   */
  function expectCopy(group: { peek(key: string): unknown }, key: string, ttlMs: number, asked: number, answered: number) {
    const copy = group.peek(key) as HotCopy | undefined;
    expect(copy, `${key}: a hot copy is kept`).to.not.equal(undefined);
    expect(String(copy)).to.equal(`v:${key}`);
    expect(copy!.expiresAt, `${key}: expires ${ttlMs} ms after it was asked for, on this clock`).to.be.within(
      asked + ttlMs - (answered - asked),
      answered + ttlMs,
    );
    if (ttlMs > HOT_TTL_MS) expect(copy!.renewAt, `${key}: lives hotTtlMs (renewed halfway)`).to.be.within(asked + HOT_TTL_MS / 2, answered + HOT_TTL_MS / 2);
    else expect(copy!.renewAt, `${key}: ends with the value's own expiry`).to.equal(Number.POSITIVE_INFINITY);
  }

  for (const [offset, side] of [
    [-SKEW_MS, 'behind'],
    [SKEW_MS, 'ahead of'],
  ] as const) {
    it(`an owner ${SKEW_MS / 1000} s ${side === 'behind' ? 'behind' : 'ahead'}: copies live their remaining TTL (capped by hotTtlMs) as if the clocks agreed, writes keep their TTL on it, and one warning names the skew`, async () => {
      const { urlB, warn, group, keys, ttl, a, b } = await pair(offset);
      // Longer than hotTtlMs (an owner 20 s behind used to send copies already expired), and
      // shorter (an owner 20 s ahead used to let them outlive its entry by 20 s).
      const [long, short, batchLong, batchShort, written] = keys(5);
      await Promise.all([ttl(long, 15_000), ttl(short, 5_000), ttl(batchLong, 15_000), ttl(batchShort, 5_000)]);

      // Alone: a plain GET.
      for (const [key, ttlMs] of [
        [long, 15_000],
        [short, 5_000],
      ] as const) {
        const asked = Date.now();
        expect(String(await group.get(key))).to.equal(`v:${key}`);
        expectCopy(group, key, ttlMs, asked, Date.now());
      }
      // Together: one batch, read frame by frame.
      const asked = Date.now();
      const values = await Promise.all([group.get(batchLong), group.get(batchShort)]);
      const answered = Date.now();
      expect(values.map(String)).to.deep.equal([`v:${batchLong}`, `v:${batchShort}`]);
      expectCopy(group, batchLong, 15_000, asked, answered);
      expectCopy(group, batchShort, 5_000, asked, answered);

      // A write's TTL travels as the time left: on the owner's clock it has 5 s, not 5 s +/- 20 s.
      const report = await group.set(written, 'written', { ttlMs: 5_000 });
      expect(report.pending, JSON.stringify(report)).to.deep.equal([]);
      const onOwner = await json<{ value: string | null; remainingMs: number | null }>(`${urlB}/_test/peek?key=${written}&expiry=1`);
      expect(onOwner.value).to.equal('written');
      expect(onOwner.remainingMs).to.be.within(1, 5_000);

      // Measured from its answers, to within the round trips.
      const skew = a.cache.pool.getters().get(urlB)!.monitor.clock;
      expect(skew.ms).to.be.within(offset - 500, offset + 500);
      const skewWarnings = warn.filter((m) => m.includes('clock'));
      expect(warn, b.output()).to.have.length(1);
      expect(skewWarnings).to.have.length(1);
      expect(skewWarnings[0]).to.match(new RegExp(`peer ${urlB}'s clock is (19\\.\\d|20\\.\\d) s ${side} this one's`));
      expect(skewWarnings[0]).to.include('NTP');
      expect(Math.abs(skew.ms!)).to.be.greaterThan(CLOCK_SKEW_WARN_MS);
    });
  }

  it('an owner whose clock agrees: no warning, and a skew near 0', async () => {
    const { urlB, warn, group, keys, ttl, a } = await pair(0);
    const [key] = keys(1);
    await ttl(key, 15_000);
    const asked = Date.now();
    await group.get(key);
    expectCopy(group, key, 15_000, asked, Date.now());
    expect(warn).to.deep.equal([]);
    expect(Math.abs(a.cache.pool.getters().get(urlB)!.monitor.clock.ms!)).to.be.below(CLOCK_SKEW_WARN_MS);
  });
});
