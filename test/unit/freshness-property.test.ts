// Property test (fast-check): random interleavings of get / set / remove / clear / database
// writes / waits past TTLs, issued on any of 3 in-process peers (real HTTP servers on loopback),
// checked against a model of what each get may answer.
//
// The model keeps, per key, the candidates for the owner's entry and for each other peer's hot
// copy (a copy is kept for 1 in 10 fetches, so whether one exists is not known: the candidates
// include "none"). An entry with a TTL is alive, dead, or — within a few ms of its expiry, or
// when the get spanned it — either. Every answer must be one the model allows; the model then
// keeps only the candidates that answer explains. What this pins down: a value written by set is
// what every peer answers until it expires or is written again; after remove, clear or expiry
// no peer answers the old value; without a write, a cached value stays (groupcache's immutable
// model) even after the database changed.
// The clock is a fake one (test/helpers/clock.ts) that runs with real time, so gets still race
// expiries, but a wait past a TTL jumps it instead of sleeping.
import { expect } from 'chai';
import fc from 'fast-check';
import { type FreshCluster, type JumpingClock, jumpingClock, startFreshCluster } from '../helpers/index.js';

/** An entry: its value and the window its expiry falls in (none: never expires). */
type Entry = { value: string; expLo?: number; expHi?: number } | null;
/** How close to an expiry the model refuses to decide (timer and clock granularity). */
const MARGIN = 5;

type Op =
  | { op: 'get'; peer: number; key: string }
  | { op: 'set'; peer: number; key: string; ttl: number | undefined }
  | { op: 'remove'; peer: number; key: string }
  | { op: 'clear'; peer: number }
  | { op: 'write'; key: string }
  | { op: 'wait' };

const KEYS = ['a', 'b'];
const peer = fc.integer({ min: 0, max: 2 });
const key = fc.constantFrom(...KEYS);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('get' as const), peer, key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), peer, key, ttl: fc.constantFrom(undefined, 150, 150) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), peer, key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const), peer }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('write' as const), key }) },
  { weight: 2, arbitrary: fc.constant({ op: 'wait' as const }) },
);

/** alive, dead, or maybe, for a get that ran from t0 to t1. */
function status(e: Entry, t0: number, t1: number): 'none' | 'alive' | 'maybe' {
  if (e === null) return 'none';
  if (e.expLo === undefined || e.expHi === undefined) return 'alive';
  if (e.expHi < t0 - MARGIN) return 'none';
  if (e.expLo > t1 + MARGIN) return 'alive';
  return 'maybe';
}

const same = (a: Entry, b: Entry) => JSON.stringify(a) === JSON.stringify(b);
const dedup = (entries: Entry[]) => entries.filter((e, i) => entries.findIndex((f) => same(e, f)) === i);

class Model {
  readonly db = new Map<string, string>();
  readonly owner = new Map<string, Entry[]>();
  /** Candidates for the hot copy of a key on a peer, by `${peer}|${key}`. */
  readonly hot = new Map<string, Entry[]>();

  constructor(readonly ownerIndex: (key: string) => number) {}

  ownerCands(k: string): Entry[] {
    return this.owner.get(k) ?? [null];
  }
  hotCands(p: number, k: string): Entry[] {
    return this.hot.get(`${p}|${k}`) ?? [null];
  }

  /** What the owner may answer, each with the entry it holds afterwards. */
  ownerAnswers(k: string, t0: number, t1: number): { value: string; next: Entry }[] {
    const out: { value: string; next: Entry }[] = [];
    const db = this.db.get(k) as string;
    for (const c of this.ownerCands(k)) {
      const s = status(c, t0, t1);
      if (s !== 'none' && c) out.push({ value: c.value, next: c });
      if (s !== 'alive') out.push({ value: db, next: { value: db } });
    }
    return out;
  }

  /** Checks a get's answer and narrows the candidates to those that explain it. */
  get(p: number, k: string, value: string, t0: number, t1: number): string[] {
    const owners = this.ownerAnswers(k, t0, t1);
    if (p === this.ownerIndex(k)) {
      const allowed = owners.map((o) => o.value);
      if (allowed.includes(value)) this.owner.set(k, dedup(owners.filter((o) => o.value === value).map((o) => o.next)));
      return allowed;
    }
    const allowed: string[] = [];
    const nextOwner: Entry[] = [];
    const nextHot: Entry[] = [];
    for (const h of this.hotCands(p, k)) {
      const s = status(h, t0, t1);
      if (s !== 'none' && h) {
        allowed.push(h.value); // answered from the copy: the owner is not asked
        if (h.value === value) {
          nextHot.push(h);
          nextOwner.push(...this.ownerCands(k));
        }
      }
      if (s === 'alive') continue;
      for (const o of owners) {
        allowed.push(o.value);
        if (o.value !== value) continue;
        nextOwner.push(o.next);
        nextHot.push(null, o.next); // a copy is kept, or not
      }
    }
    if (allowed.includes(value)) {
      this.owner.set(k, dedup(nextOwner));
      this.hot.set(`${p}|${k}`, dedup(nextHot));
    }
    return allowed;
  }

  /** A remove, set or clear reached everyone: copies are gone, the owner holds `entry`. */
  wrote(k: string, entry: Entry): void {
    this.owner.set(k, [entry]);
    for (const p of [0, 1, 2]) this.hot.set(`${p}|${k}`, [null]);
  }
}

describe('properties: freshness on a 3-peer in-process cluster against a model', function () {
  this.timeout(180_000);
  let c: FreshCluster;
  let clock: JumpingClock;
  before(async () => {
    // Copies live until their value expires or is written (hotTtlMs: 1 minute).
    c = await startFreshCluster(3, { hotTtlMs: 60_000 }, { timeoutMs: 10_000 });
    clock = jumpingClock();
  });
  after(async () => {
    clock?.uninstall();
    await c?.close();
  });

  it('every get answers a value the model allows, whatever the interleaving', async () => {
    const ownerIndex = (k: string) => c.peers.indexOf(c.ownerOf(k));
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 30 }), async (ops) => {
        runs++;
        // A clean slate: each peer drops its caches as a clear makes it do, without the clear's
        // requests (two rounds to each peer, a quarter of this test's requests; clear is an op).
        for (const p of c.peers) p.group.forgetAll();
        const model = new Model(ownerIndex);
        let version = 0;
        for (const k of KEYS) {
          c.db.set(k, `db${version}-${k}`);
          model.db.set(k, `db${version}-${k}`);
        }
        const log: string[] = [];
        for (const op of ops) {
          const g = op.op === 'write' || op.op === 'wait' ? undefined : c.peers[op.peer].group;
          if (op.op === 'get') {
            const t0 = Date.now();
            const value = String(await g!.get(op.key));
            const t1 = Date.now();
            log.push(`get ${op.key} on ${op.peer} = ${value}`);
            const allowed = model.get(op.peer, op.key, value, t0, t1);
            expect(allowed, `${log.join('\n')}\nallowed: ${JSON.stringify(allowed)}`).to.include(value);
          } else if (op.op === 'set') {
            const value = `set${++version}`;
            const t0 = Date.now();
            const report = await g!.set(op.key, value, op.ttl === undefined ? {} : { ttlMs: op.ttl });
            const t1 = Date.now();
            expect(report.pending).to.deep.equal([]);
            log.push(`set ${op.key} = ${value} (ttl ${op.ttl}) on ${op.peer}`);
            model.wrote(op.key, op.ttl === undefined ? { value } : { value, expLo: t0 + op.ttl, expHi: t1 + op.ttl });
          } else if (op.op === 'remove') {
            await g!.remove(op.key);
            log.push(`remove ${op.key} on ${op.peer}`);
            model.wrote(op.key, null);
          } else if (op.op === 'clear') {
            await g!.clear();
            log.push(`clear on ${op.peer}`);
            for (const k of KEYS) model.wrote(k, null);
          } else if (op.op === 'write') {
            const value = `db${++version}-${op.key}`;
            c.db.set(op.key, value);
            model.db.set(op.key, value);
            log.push(`database ${op.key} = ${value}`);
          } else {
            await clock.jump(200);
            log.push('wait 200 ms');
          }
        }
      }),
      { numRuns: 40 },
    );
    expect(runs).to.be.at.least(40);
  });
});
