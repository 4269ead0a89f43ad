// Property test (fast-check): random interleavings of getMany / get / set / remove /
// invalidateTags / database writes, issued on any of 3 in-process peers (real HTTP servers on
// loopback) whose group loads through a bulk getter that tags each value, checked against a model
// of what each key may answer on each peer.
//
// The model keeps, per key, the candidates for the owner's entry and for each other peer's hot
// copy (whether a copy is kept is not known: the candidates include "none"), each with the tags it
// carries. What this pins down: a getMany answers every key as a get would; a value is what every
// peer answers until it is written or one of its tags is invalidated; after invalidateTags no peer
// answers a value that carried one of the tags, and values without them stay; and a load that began
// before an invalidation ("race": held while the database changes and the tag is invalidated) may
// answer what it read but never leaves it cached.
import { expect } from 'chai';
import fc from 'fast-check';
import { CandidateModel, checkAgainstModel, sleep, startTagCluster, type TagCluster } from '../helpers/index.js';

type Op =
  | { op: 'get'; peer: number; key: string }
  | { op: 'getMany'; peer: number; keys: string[] }
  | { op: 'set'; peer: number; key: string; tags: string[] }
  | { op: 'remove'; peer: number; key: string }
  | { op: 'invalidate'; peer: number; tags: string[] }
  | { op: 'write'; key: string }
  | { op: 'race'; peer: number; key: string };

const KEYS = ['a', 'b', 'c'];
/** The tags the getter gives each key's value. */
const GETTER_TAGS: Record<string, string[]> = { a: ['t1'], b: ['t1', 't2'], c: ['t2'] };
const TAGS = ['t1', 't2', 't3'];
const peer = fc.integer({ min: 0, max: 2 });
const key = fc.constantFrom(...KEYS);
const tags = fc.subarray(TAGS, { minLength: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), peer, key }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('getMany' as const), peer, keys: fc.subarray(KEYS, { minLength: 1 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('set' as const), peer, key, tags: fc.subarray(TAGS) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), peer, key }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('invalidate' as const), peer, tags }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('write' as const), key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('race' as const), peer, key }) },
);

type Tagged = { value: string; tags: string[] };

class Model extends CandidateModel<Tagged> {
  /** Checks a get's answer and narrows the candidates to those that explain it; returns what was allowed. */
  get(p: number, k: string, value: string): string[] {
    const db = this.db.get(k) as string;
    // What the owner may answer: what it holds, or what it loads (with the getter's tags).
    const owners = this.ownerCands(k).map((c) => (c ? { value: c.value, next: c } : { value: db, next: { value: db, tags: GETTER_TAGS[k] } }));
    // An entry lives until written or invalidated: a copy held answers.
    return this.answered(p, k, value, owners, (e) => (e ? 'alive' : 'none'));
  }

  /** An invalidation of `tags` reached everyone: no candidate carrying one of them is left. */
  invalidated(tags: string[]): void {
    this.mapCandidates((e) => (e?.tags.some((t) => tags.includes(t)) ? null : e));
  }
}

describe('properties: getMany and tag invalidation on a 3-peer in-process cluster against a model', function () {
  this.timeout(180_000);
  let c: TagCluster;
  before(async () => {
    // Copies live until written or invalidated (hotTtlMs: 1 minute).
    c = await startTagCluster(3, { groupOptions: { hotTtlMs: 60_000 }, timeoutMs: 10_000 });
    for (const k of KEYS) c.tags.set(k, GETTER_TAGS[k]);
  });
  after(() => c?.close());

  it('every answer, from get or getMany, is one the model allows, whatever the interleaving', async () => {
    await checkAgainstModel(c, {
      keys: KEYS,
      ops: opArb,
      Model,
      step: async (op, { model, log, nextVersion, expectAllowed, writeDatabase }) => {
        const check = (p: number, k: string, value: string) => expectAllowed(model.get(p, k, value), value);
        if (op.op === 'get') {
          const value = String(await c.peers[op.peer].group.get(op.key));
          log.push(`get ${op.key} on ${op.peer} = ${value}`);
          check(op.peer, op.key, value);
        } else if (op.op === 'getMany') {
          const results = await c.peers[op.peer].group.getMany(op.keys);
          const values = op.keys.map((k) => String(results.get(k)?.value ?? results.get(k)?.error));
          log.push(`getMany ${op.keys.join(',')} on ${op.peer} = ${values.join(',')}`);
          for (const [i, k] of op.keys.entries()) check(op.peer, k, values[i]);
        } else if (op.op === 'set') {
          const value = `set${nextVersion()}`;
          const report = await c.peers[op.peer].group.set(op.key, value, { tags: op.tags });
          expect(report.pending).to.deep.equal([]);
          log.push(`set ${op.key} = ${value} [${op.tags}] on ${op.peer}`);
          model.wrote(op.key, { value, tags: op.tags });
        } else if (op.op === 'remove') {
          await c.peers[op.peer].group.remove(op.key);
          log.push(`remove ${op.key} on ${op.peer}`);
          model.wrote(op.key, null);
        } else if (op.op === 'invalidate') {
          const report = await c.peers[op.peer].group.invalidateTags(op.tags);
          expect(report.pending).to.deep.equal([]);
          log.push(`invalidate [${op.tags}] on ${op.peer}`);
          model.invalidated(op.tags);
        } else if (op.op === 'write') {
          writeDatabase(op.key);
        } else {
          // A get whose loads are held while the database changes and the key's tags are invalidated.
          let release!: () => void;
          c.gate = new Promise<void>((r) => {
            release = r;
          });
          const callsBefore = c.totalCalls();
          let settled = false;
          const pending = c.peers[op.peer].group.get(op.key).finally(() => {
            settled = true;
          });
          // Until its load has read the database (or it was answered from a cache): bounded.
          for (let i = 0; i < 400 && !settled && c.totalCalls() === callsBefore; i++) await sleep(5);
          const value = `db${nextVersion()}-${op.key}`;
          c.db.set(op.key, value);
          await c.peers[(op.peer + 1) % 3].group.invalidateTags(GETTER_TAGS[op.key]);
          c.gate = undefined;
          release();
          const answered = String(await pending);
          log.push(`race: get ${op.key} on ${op.peer} = ${answered} while database ${op.key} = ${value} and [${GETTER_TAGS[op.key]}] invalidated`);
          check(op.peer, op.key, answered);
          model.db.set(op.key, value);
          model.invalidated(GETTER_TAGS[op.key]);
        }
      },
    });
  });
});
