// Model checking for the property tests of a 3-peer in-process cluster (freshness-property,
// bulk-tags-property): fast-check draws sequences of operations, each runs against the cluster,
// and every answer is checked against a model of what a get may answer. The model keeps, per key,
// the candidates for the owner's entry and for each other peer's hot copy (whether a copy is kept
// is not known: the candidates include "none"); each answer keeps only the candidates it explains.
// What an entry carries besides its value (an expiry window, tags) and when it is alive is each
// test's; the candidates' bookkeeping and the run (clean slate, database, log) are here.
import { expect } from 'chai';
import fc from 'fast-check';

/** What a peer may hold for a key: an entry with its value, or null (nothing). */
export type Candidate<E extends { value: string }> = E | null;

/** Whether an entry answers a get: 'none' (absent, or expired), 'alive', or 'maybe' (either). */
export type Life = 'none' | 'alive' | 'maybe';

/** What the owner may answer, each with the entry it holds afterwards. */
export type OwnerAnswer<E extends { value: string }> = { value: string; next: Candidate<E> };

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const dedup = <T>(entries: T[]) => entries.filter((e, i) => entries.findIndex((f) => same(e, f)) === i);

export class CandidateModel<E extends { value: string }> {
  /** What the database holds, by key. */
  readonly db = new Map<string, string>();
  readonly owner = new Map<string, Candidate<E>[]>();
  /** Candidates for the hot copy of a key on a peer, by `${peer}|${key}`. */
  readonly hot = new Map<string, Candidate<E>[]>();

  constructor(
    readonly ownerIndex: (key: string) => number,
    readonly peers: number,
  ) {}

  ownerCands(k: string): Candidate<E>[] {
    return this.owner.get(k) ?? [null];
  }
  hotCands(p: number, k: string): Candidate<E>[] {
    return this.hot.get(`${p}|${k}`) ?? [null];
  }

  /**
   * Checks a get's answer `value` on peer `p`, given what the owner may answer and whether each
   * hot copy is alive; narrows the candidates to those that explain it; returns what was allowed.
   */
  answered(p: number, k: string, value: string, owners: OwnerAnswer<E>[], life: (e: Candidate<E>) => Life): string[] {
    if (p === this.ownerIndex(k)) {
      const allowed = owners.map((o) => o.value);
      if (allowed.includes(value)) this.owner.set(k, dedup(owners.filter((o) => o.value === value).map((o) => o.next)));
      return allowed;
    }
    const allowed: string[] = [];
    const nextOwner: Candidate<E>[] = [];
    const nextHot: Candidate<E>[] = [];
    for (const h of this.hotCands(p, k)) {
      const s = life(h);
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

  /** A write (set, remove, clear) reached everyone: copies are gone, the owner holds `entry`. */
  wrote(k: string, entry: Candidate<E>): void {
    this.owner.set(k, [entry]);
    for (let p = 0; p < this.peers; p++) this.hot.set(`${p}|${k}`, [null]);
  }

  /** Replaces every candidate (owner's and copies') by what `map` makes of it. */
  mapCandidates(map: (e: Candidate<E>) => Candidate<E>): void {
    for (const [k, entries] of this.owner) this.owner.set(k, dedup(entries.map(map)));
    for (const [pk, entries] of this.hot) this.hot.set(pk, dedup(entries.map(map)));
  }
}

/** One run of a drawn sequence: what each operation's step has at hand. */
export interface ModelRun<M> {
  readonly model: M;
  /** What happened so far, shown when an answer is not allowed. */
  readonly log: string[];
  /** A number no earlier set or database write of this run used. */
  nextVersion(): number;
  /** Fails, with the log, unless `value` is among `allowed`. */
  expectAllowed(allowed: string[], value: string): void;
  /** Changes `key` in the database (and the model's) to a new value. */
  writeDatabase(key: string): void;
}

export interface ModelCluster<P extends { group: { forgetAll(): void } }> {
  peers: P[];
  db: Map<string, string>;
  ownerOf(key: string): P;
}

/**
 * Runs `numRuns` sequences of 5 to 30 operations drawn from `ops` on cluster `c`, each from a
 * clean slate with a fresh model (made by `Model`), every operation by `step`; fails on the first
 * answer the model does not allow, and if fast-check ran fewer sequences than asked for.
 */
export async function checkAgainstModel<P extends { group: { forgetAll(): void } }, Op, M extends CandidateModel<{ value: string }>>(
  c: ModelCluster<P>,
  {
    keys,
    ops,
    Model,
    step,
    numRuns = 40,
  }: {
    keys: string[];
    ops: fc.Arbitrary<Op>;
    Model: new (ownerIndex: (key: string) => number, peers: number) => M;
    step: (op: Op, run: ModelRun<M>) => Promise<void>;
    numRuns?: number;
  },
): Promise<void> {
  const ownerIndex = (k: string) => c.peers.indexOf(c.ownerOf(k));
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(ops, { minLength: 5, maxLength: 30 }), async (drawn) => {
      runs++;
      // A clean slate: each peer drops its caches as a clear makes it do, without the clear's
      // requests (two rounds to each peer, a quarter of these tests' requests).
      for (const p of c.peers) p.group.forgetAll();
      const model = new Model(ownerIndex, c.peers.length);
      let version = 0;
      for (const k of keys) {
        c.db.set(k, `db${version}-${k}`);
        model.db.set(k, `db${version}-${k}`);
      }
      const log: string[] = [];
      const run: ModelRun<M> = {
        model,
        log,
        nextVersion: () => ++version,
        expectAllowed: (allowed, value) => expect(allowed, `${log.join('\n')}\nallowed: ${JSON.stringify(allowed)}`).to.include(value),
        writeDatabase: (key) => {
          const value = `db${++version}-${key}`;
          c.db.set(key, value);
          model.db.set(key, value);
          log.push(`database ${key} = ${value}`);
        },
      };
      for (const op of drawn) await step(op, run);
    }),
    { numRuns },
  );
  expect(runs).to.be.at.least(numRuns);
}
