// Property tests (fast-check) of the adaptive policy on a group's three caches sharing one
// CacheBudget (main and hot adaptive, not-found plain LRU), real lru-cache underneath: random
// adds of any size (with and without TTL), gets, removes, clears and waits, on a fake clock
// (@sinonjs/fake-timers: Date, performance and timers, which lru-cache's TTLs read). After every
// step the caches fit maxBytes, their own memory included; a get answers only the value last added
// for the key, never one removed, cleared or expired; and a value that is gone before it expired
// was evicted (the cache's eviction count moved since it was added). The checks made at every
// step (over a hundred thousand in all) use node:assert, a fraction of chai's cost per check.
import assert from 'node:assert/strict';
import FakeTimers from '@sinonjs/fake-timers';
import { expect } from 'chai';
import fc from 'fast-check';
import { ByteView } from '../../lib/cache/byteview.js';
import { CacheBudget, type CachePolicy, LRU } from '../../lib/cache/lru.js';

type Op =
  | { op: 'add'; cache: number; key: number; size: number; ttl: number | undefined }
  | { op: 'get'; cache: number; key: number }
  | { op: 'remove'; cache: number; key: number }
  | { op: 'clear'; cache: number }
  | { op: 'wait'; ms: number };

const cacheIndex = fc.integer({ min: 0, max: 2 });
const keyIndex = fc.integer({ min: 0, max: 24 });
const ops = fc.array(
  fc.oneof(
    {
      weight: 25,
      arbitrary: fc.record({
        op: fc.constant('add' as const),
        cache: cacheIndex,
        key: keyIndex,
        size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 4000 })),
        ttl: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
      }),
    },
    { weight: 30, arbitrary: fc.record({ op: fc.constant('get' as const), cache: cacheIndex, key: keyIndex }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('remove' as const), cache: cacheIndex, key: keyIndex }) },
    { weight: 5, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 200 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const), cache: cacheIndex }) },
  ),
  { minLength: 20, maxLength: 300, size: 'max' },
);

/** What the model knows of a key's entry: the value added, when, for how long, and the cache's evictions before. */
interface Held {
  value: ByteView;
  at: number;
  ttl: number | undefined;
  evictionsBefore: number;
}

function check(policy: CachePolicy, maxBytes: number, shares: [number, number, number], steps: Op[]): void {
  const clock = FakeTimers.install({ now: 1_700_000_000_000, toFake: ['Date', 'performance', 'setTimeout', 'clearTimeout'] });
  try {
    clock.tick(1); // lru-cache takes a TTL start of 0 for none
    const budget = new CacheBudget(maxBytes, policy);
    const caches: LRU[] = [budget.cache(shares[0], 'main'), budget.cache(shares[1], 'copies'), budget.cache(shares[2], 'plain')];
    const model = caches.map(() => new Map<string, Held>());
    for (const step of steps) {
      if (step.op === 'wait') clock.tick(step.ms);
      else if (step.op === 'clear') {
        caches[step.cache].clear();
        model[step.cache].clear();
      } else {
        const cache = caches[step.cache];
        const held = model[step.cache];
        const key = `${'mhp'[step.cache]}:${step.key}`;
        if (step.op === 'remove') {
          cache.remove(key);
          held.delete(key);
        } else if (step.op === 'add') {
          const value = new ByteView('x'.repeat(step.size));
          const evictionsBefore = cache.stats().evictions;
          const now = performance.now();
          if (cache.add(key, value, step.ttl))
            held.set(key, { value, at: now, ttl: step.ttl === undefined ? undefined : Math.ceil(step.ttl), evictionsBefore });
          else assert.ok(LRU.cost(key, value) > cache.maxBytes, `${key}: an add refused only when it can never fit`);
        } else {
          const got = cache.get(key);
          const entry = held.get(key);
          const age = entry === undefined ? 0 : performance.now() - entry.at;
          if (entry === undefined) assert.equal(got, undefined, `${key}: never added, or removed, cleared or evicted`);
          else if (entry.ttl !== undefined && age > entry.ttl) assert.equal(got, undefined, `${key}: expired ${age - entry.ttl} ms ago`);
          else if (got === undefined) {
            assert.ok(cache.stats().evictions > entry.evictionsBefore, `${key}: gone before it expired, with no eviction since it was added`);
          } else assert.equal(got, entry.value, `${key}: the value last added`);
          if (got === undefined) held.delete(key);
        }
      }
      assert.ok(budget.used <= maxBytes, `the caches and the policy fit maxBytes: ${budget.used} used of ${maxBytes}`);
    }
  } finally {
    clock.uninstall();
  }
}

describe('properties: the adaptive policy keeps the cache guarantees', () => {
  it('fits maxBytes, serves only the value last added, never a removed or expired one, and loses values only by eviction', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 8_192, max: 40_000 }),
        fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 2 })),
        ops,
        (maxBytes, [a, b, c], steps) => {
          const whole = a + b + c;
          const shares: [number, number, number] = [Math.floor((maxBytes * a) / whole), Math.floor((maxBytes * b) / whole), Math.floor((maxBytes * c) / whole)];
          check('adaptive', maxBytes, shares, steps);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds the same for policy: lru (the model is the policy’s, not the check’s)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2_000, max: 40_000 }), ops, (maxBytes, steps) =>
        check('lru', maxBytes, [Math.floor(maxBytes * 0.75), Math.floor(maxBytes / 8), Math.floor(maxBytes / 8)], steps),
      ),
      { numRuns: 100 },
    );
  });

  it('fits maxBytes and keeps what it holds readable under long runs of one cache (many evictions, window moves)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 400 }), size: fc.integer({ min: 0, max: 2000 }) }), { minLength: 500, maxLength: 3000 }),
        fc.integer({ min: 8_192, max: 60_000 }),
        (steps, maxBytes) => {
          const budget = new CacheBudget(maxBytes, 'adaptive');
          const cache = budget.cache(maxBytes, 'main');
          const last = new Map<string, ByteView>();
          for (const { key, size } of steps) {
            const k = `k${key}`;
            const got = cache.get(k);
            if (got !== undefined) assert.equal(got, last.get(k), `${k}: the value last added`);
            else {
              const value = new ByteView('y'.repeat(size));
              cache.add(k, value);
              last.set(k, value);
            }
            assert.ok(budget.used <= maxBytes, `fits maxBytes: ${budget.used} used of ${maxBytes}`);
          }
          const { items, bytes } = cache.stats();
          let readable = 0;
          for (const k of last.keys()) if (cache.peek(k) !== undefined) readable++;
          expect(readable, 'every entry counted is readable').to.equal(items);
          expect(bytes).to.be.at.most(maxBytes);
        },
      ),
      { numRuns: 40 },
    );
  });
});
