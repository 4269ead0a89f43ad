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
import {
  CandidateModel,
  checkAgainstModel,
  type FreshCluster,
  type JumpingClock,
  jumpingClock,
  type OwnerAnswer,
  startFreshCluster,
} from '../helpers/index.js';

/** An entry: its value and the window its expiry falls in (none: never expires). */
type Expiring = { value: string; expLo?: number; expHi?: number };
type Entry = Expiring | null;
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

class Model extends CandidateModel<Expiring> {
  /** Checks a get that ran from t0 to t1 and narrows the candidates to those that explain it. */
  get(p: number, k: string, value: string, t0: number, t1: number): string[] {
    // What the owner may answer: what it holds while alive, what it loads once that is not.
    const owners: OwnerAnswer<Expiring>[] = [];
    const db = this.db.get(k) as string;
    for (const c of this.ownerCands(k)) {
      const s = status(c, t0, t1);
      if (s !== 'none' && c) owners.push({ value: c.value, next: c });
      if (s !== 'alive') owners.push({ value: db, next: { value: db } });
    }
    return this.answered(p, k, value, owners, (e) => status(e, t0, t1));
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
    await checkAgainstModel(c, {
      keys: KEYS,
      ops: opArb,
      Model,
      step: async (op, { model, log, nextVersion, expectAllowed, writeDatabase }) => {
        const g = op.op === 'write' || op.op === 'wait' ? undefined : c.peers[op.peer].group;
        if (op.op === 'get') {
          const t0 = Date.now();
          const value = String(await g!.get(op.key));
          const t1 = Date.now();
          log.push(`get ${op.key} on ${op.peer} = ${value}`);
          expectAllowed(model.get(op.peer, op.key, value, t0, t1), value);
        } else if (op.op === 'set') {
          const value = `set${nextVersion()}`;
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
          writeDatabase(op.key);
        } else {
          await clock.jump(200);
          log.push('wait 200 ms');
        }
      },
    });
  });
});
