import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { ENTRY_OVERHEAD_BYTES } from '../../lib/cache/lru.js';
import { BadKeyError, ByteView, type Getter, Group, type GroupOptions, GroupRegistry, LoadTimeoutError } from '../../lib/index.js';

/** A getter that counts its calls; `impl` decides what each call does (default: "got:" + key). */
function counting(impl: Getter = (key) => `got:${key}`) {
  const calls: string[] = [];
  const getter: Getter = (key, ctx) => {
    calls.push(key);
    return impl(key, ctx);
  };
  return { getter, calls };
}

function makeGroup(name: string, getter: Getter, options: Partial<GroupOptions> = {}) {
  return new Group(name, { maxBytes: 1 << 20, getter, ...options });
}

/** Settles every promise and returns the rejection reasons (undefined for a fulfilled one). */
async function reasons(promises: Promise<unknown>[]): Promise<unknown[]> {
  return (await Promise.allSettled(promises)).map((r) => (r.status === 'rejected' ? r.reason : undefined));
}

/** Bytes the group's caches account for. */
function cachedBytes(group: Group): number {
  const { main, hot } = group.cacheStats();
  return main.bytes + hot.bytes;
}

describe('Group: deduplication of concurrent loads', () => {
  it('1,000 concurrent gets of a cold key run the getter once and all get the value', async () => {
    const { getter, calls } = counting(async (key) => {
      await sleep(10);
      return `value of ${key}`;
    });
    const group = makeGroup('dedupe-ok', getter);
    const views = await Promise.all(Array.from({ length: 1_000 }, () => group.get('cold')));
    expect(calls).to.deep.equal(['cold']);
    expect(new Set(views.map((v) => v.toString()))).to.deep.equal(new Set(['value of cold']));
    expect(group.stats).to.include({ gets: 1_000, cacheHits: 0, loads: 1_000, loadsDeduped: 1, localLoads: 1, localLoadErrs: 0 });
  });

  const failures: [string, (err: Error) => Getter][] = [
    [
      'throws synchronously',
      (err) => () => {
        throw err;
      },
    ],
    [
      'rejects',
      (err) => async () => {
        await sleep(5);
        throw err;
      },
    ],
  ];
  for (const [how, failing] of failures) {
    it(`a getter that ${how} fails all 1,000 callers; the next get runs it again`, async () => {
      const err = new Error('database is down');
      let fail = true;
      const { getter, calls } = counting((key, ctx) => (fail ? failing(err)(key, ctx) : `ok:${key}`));
      const group = makeGroup(`dedupe-${how.replace(' ', '-')}`, getter);

      const errs = await reasons(Array.from({ length: 1_000 }, () => group.get('k')));
      expect(
        errs.every((e) => e === err),
        "every caller gets the getter's error",
      ).to.equal(true);
      expect(calls).to.have.length(1);
      expect(group.stats).to.include({ gets: 1_000, loads: 1_000, loadsDeduped: 1, localLoads: 0, localLoadErrs: 1 });

      // The error was not cached: the next get retries.
      fail = false;
      expect((await group.get('k')).toString()).to.equal('ok:k');
      expect(calls).to.have.length(2);
      expect(group.stats).to.include({ loadsDeduped: 2, localLoads: 1, localLoadErrs: 1 });
    });
  }

  it('different keys load independently and concurrently', async () => {
    let running = 0;
    let peak = 0;
    const { getter, calls } = counting(async (key) => {
      peak = Math.max(peak, ++running);
      await sleep(10);
      running--;
      return key;
    });
    const group = makeGroup('dedupe-keys', getter);
    const keys = ['a', 'b', 'c', 'a', 'b', 'c'];
    expect((await Promise.all(keys.map((k) => group.get(k)))).map(String)).to.deep.equal(keys);
    expect(calls).to.have.members(['a', 'b', 'c']).and.have.length(3);
    expect(peak).to.equal(3);
  });
});

describe('Group: caching and eviction', () => {
  it('repeated gets load once and are then answered from the cache', async () => {
    const { getter, calls } = counting();
    const group = makeGroup('cache-repeat', getter);
    for (let i = 0; i < 10; i++) expect((await group.get('k')).toString()).to.equal('got:k');
    expect(calls).to.deep.equal(['k']);
    expect(group.stats).to.include({ gets: 10, cacheHits: 9, loads: 1, localLoads: 1 });
    expect(group.cacheStats().main).to.include({ items: 1, bytes: ENTRY_OVERHEAD_BYTES + 'k'.length + 'got:k'.length });
  });

  it('flooding with 10x maxBytes never holds more than maxBytes; evicted keys load again', async () => {
    const maxBytes = 10_000;
    const value = 'x'.repeat(90);
    const { getter, calls } = counting(() => value);
    // LRU: the last key loaded is still cached after one more miss (the adaptive policy may drop a new key there).
    const group = makeGroup('cache-flood', getter, { maxBytes, policy: 'lru' });
    let loaded = 0;
    let i = 0;
    for (; loaded < 10 * maxBytes; i++) {
      await group.get(`key-${i}`);
      loaded += `key-${i}`.length + value.length;
      expect(cachedBytes(group)).to.be.at.most(maxBytes);
    }
    expect(calls).to.have.length(i);
    const { main } = group.cacheStats();
    expect(main.evictions).to.be.greaterThan(0);
    expect(main.bytes).to.be.greaterThan(maxBytes / 2); // it does cache, up to its share

    // The first key is long gone: getting it runs the getter again. The last one is still cached.
    await group.get('key-0');
    expect(calls).to.have.length(i + 1);
    await group.get(`key-${i - 1}`);
    expect(calls).to.have.length(i + 1);
  });

  it('a value bigger than the cache is returned but not cached', async () => {
    const big = Buffer.alloc(5_000, 7);
    const { getter, calls } = counting(() => big);
    const group = makeGroup('cache-too-big', getter, { maxBytes: 1_000 });
    expect((await group.get('big')).equals(big)).to.equal(true);
    expect((await group.get('big')).length).to.equal(5_000);
    expect(calls).to.have.length(2);
    expect(cachedBytes(group)).to.equal(0);
  });

  for (const maxBytes of [0, -1]) {
    it(`maxBytes ${maxBytes} disables caching: every get runs the getter`, async () => {
      const { getter, calls } = counting();
      const group = makeGroup(`cache-off${maxBytes}`, getter, { maxBytes });
      for (let i = 0; i < 3; i++) expect((await group.get('k')).toString()).to.equal('got:k');
      expect(calls).to.have.length(3);
      expect(group.stats).to.include({ cacheHits: 0, localLoads: 3 });
      expect(group.cacheStats().main).to.include({ bytes: 0, items: 0 });
      expect(group.cacheStats().hot).to.include({ bytes: 0, items: 0 });
    });
  }

  it('forget() drops a key so the next get loads it again', async () => {
    const { getter, calls } = counting();
    const group = makeGroup('cache-forget', getter);
    await group.get('k');
    expect(group.forget('k')).to.equal(true);
    expect(group.forget('k')).to.equal(false);
    await group.get('k');
    expect(calls).to.deep.equal(['k', 'k']);
  });
});

describe('Group.peek', () => {
  it('answers only from the cache, synchronously, and never loads', async () => {
    const { getter, calls } = counting();
    const g = makeGroup('peek', getter);
    expect(g.peek('a')).to.equal(undefined);
    expect(calls).to.deep.equal([]);
    await g.get('a');
    expect(g.peek('a')?.toString()).to.equal('got:a');
    expect(calls).to.deep.equal(['a']);
    expect(g.stats.cacheHits).to.equal(1);
    expect(() => g.peek('')).to.throw(BadKeyError);
  });
});

describe('Group: getter contract', () => {
  const accepted: [string, () => unknown, string][] = [
    ['a string (sync)', () => 'plain', 'plain'],
    ['a Buffer (sync)', () => Buffer.from('buf'), 'buf'],
    ['a Uint8Array (sync)', () => new TextEncoder().encode('u8'), 'u8'],
    ['a Promise of a string', async () => 'later', 'later'],
    ['a Promise of a Buffer', async () => Buffer.from([0xe6, 0x97, 0xa5]), '日'],
    ['an empty string', () => '', ''],
  ];
  for (const [what, impl, expected] of accepted) {
    it(`accepts ${what}`, async () => {
      const group = makeGroup('contract-ok', impl as Getter);
      const view = await group.get('k');
      expect(view).to.be.instanceOf(ByteView);
      expect(view.toString()).to.equal(expected);
    });
  }

  it('passes the key and an AbortSignal to the getter', async () => {
    let seen: [string, boolean] | undefined;
    const group = makeGroup('contract-args', (key, { signal }) => {
      seen = [key, signal instanceof AbortSignal && !signal.aborted];
      return 'v';
    });
    await group.get('the key');
    expect(seen).to.deep.equal(['the key', true]);
  });

  const rejected: [string, unknown, RegExp][] = [
    ['a number', 42, /returned number/],
    ['an object', { a: 1 }, /returned Object/],
    ['an array', [1, 2], /returned Array/],
    ['undefined', undefined, /returned undefined/],
    ['null', null, /returned null/],
  ];
  for (const [what, value, named] of rejected) {
    it(`rejects ${what} with a TypeError naming the group and key, caches nothing, retries next time`, async () => {
      const { getter, calls } = counting(async () => value as string);
      const group = makeGroup('contract-bad', getter);
      const [err] = await reasons([group.get('user:7')]);
      expect(err).to.be.instanceOf(TypeError).and.not.be.instanceOf(BadKeyError);
      expect((err as Error).message)
        .to.match(named)
        .and.include('"contract-bad"')
        .and.include('"user:7"');
      expect(group.stats).to.include({ localLoads: 0, localLoadErrs: 1 });
      expect(cachedBytes(group)).to.equal(0);
      await reasons([group.get('user:7')]);
      expect(calls).to.have.length(2);
    });
  }

  it('bounds a hanging getter by loadTimeoutMs with a LoadTimeoutError and aborts its signal', async () => {
    let signal: AbortSignal | undefined;
    const { getter, calls } = counting((_key, ctx) => {
      signal = ctx.signal;
      return new Promise<string>(() => {}); // never settles
    });
    const group = makeGroup('contract-timeout', getter, { loadTimeoutMs: 50 });
    const [err, second] = await reasons([group.get('slow'), group.get('slow')]);

    expect(err).to.be.instanceOf(LoadTimeoutError);
    expect((err as Error).message)
      .to.include('"contract-timeout"')
      .and.include('"slow"');
    // The getter never settles: only the timeout path can answer, and both gets share that one run.
    expect(second).to.equal(err);
    expect((err as Error).message).to.include('loadTimeoutMs (50 ms)');
    expect(signal?.aborted).to.equal(true);
    expect(signal?.reason).to.equal(err);
    expect(calls).to.have.length(1);
    expect(group.stats).to.include({ localLoads: 0, localLoadErrs: 1 });

    // Not cached, and the getter ignored its signal and still runs: the next get waits for that
    // run (and times out on it) instead of starting a second one.
    const [again] = await reasons([group.get('slow')]);
    expect(again).to.be.instanceOf(LoadTimeoutError);
    expect((again as Error).message).to.include('waited for an earlier run of it that timed out and is still running');
    expect(calls).to.have.length(1);
  });

  it('a getter that ignores its abort signal: at most one abandoned run per key; later gets wait for it and get its value', async () => {
    let release: (value: string) => void = () => {};
    const signals: AbortSignal[] = [];
    const { getter, calls } = counting((key, ctx) => {
      signals.push(ctx.signal);
      if (key !== 'stuck') return `v:${key}`;
      return new Promise<string>((resolve) => {
        release = resolve; // ignores ctx.signal, as a careless getter does
      });
    });
    const group = makeGroup('contract-abandoned', getter, { loadTimeoutMs: 30 });
    for (let i = 0; i < 21; i++) {
      const [err] = await reasons([group.get('stuck')]);
      expect(err, `get ${i}`).to.be.instanceOf(LoadTimeoutError);
    }
    expect(calls, '21 timed-out gets left one abandoned run, not 21').to.deep.equal(['stuck']);
    expect(signals[0]?.aborted).to.equal(true);
    // Other keys are not held up by it.
    expect((await group.get('other')).toString()).to.equal('v:other');

    // A get that arrives while the abandoned run still runs is answered by that run when it settles.
    const waiting = group.get('stuck');
    // After this turn's microtasks the get has joined the abandoned run and armed its own
    // deadline; timers run only after the check phase, so the release lands before that deadline.
    await new Promise((resolve) => setImmediate(resolve));
    release('late but good');
    expect((await waiting).toString()).to.equal('late but good');
    expect(calls.filter((k) => k === 'stuck')).to.have.length(1);
    expect((await group.get('stuck')).toString()).to.equal('late but good'); // and cached
    expect(calls.filter((k) => k === 'stuck')).to.have.length(1);
  });

  it('once the abandoned run settles (with an error), the next get starts a fresh run', async () => {
    let fail: (err: Error) => void = () => {};
    let attempt = 0;
    const group = makeGroup(
      'contract-abandoned-fails',
      () => {
        attempt++;
        if (attempt > 1) return 'second run';
        return new Promise<string>((_, reject) => {
          fail = reject;
        });
      },
      { loadTimeoutMs: 30 },
    );
    const [err] = await reasons([group.get('k')]);
    expect(err).to.be.instanceOf(LoadTimeoutError);
    fail(new Error('the backend finally gave up'));
    await new Promise((resolve) => setImmediate(resolve));
    expect((await group.get('k')).toString()).to.equal('second run');
    expect(attempt).to.equal(2);
  });

  it('a getter that settles after its deadline causes no unhandled rejection and is not cached', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // Each run settles when the test says so, after its deadline: the first rejects, the second resolves.
      const settle: (() => void)[] = [];
      const group = makeGroup(
        'contract-late',
        () =>
          new Promise<string>((resolve, reject) => {
            const run = settle.length + 1;
            settle.push(() => (run === 1 ? reject(new Error('too late to matter')) : resolve('late value')));
          }),
        { loadTimeoutMs: 10 },
      );
      /** Past the microtasks of a settlement: Node reports an unhandled rejection by then. */
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      const [err] = await reasons([group.get('k')]);
      expect(err).to.be.instanceOf(LoadTimeoutError);
      settle[0](); // the first getter rejects after its deadline
      await turn();
      const [err2] = await reasons([group.get('k')]);
      expect(err2).to.be.instanceOf(LoadTimeoutError);
      expect(settle, 'a second run started once the first settled').to.have.length(2);
      settle[1](); // the second getter resolves after its deadline
      await turn();
      expect(cachedBytes(group)).to.equal(0);
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('never caches a getter error: a failed key loads on the next get and is cached once it succeeds', async () => {
    let fail = true;
    const { getter, calls } = counting((key) => {
      if (fail) throw new Error('transient');
      return `v:${key}`;
    });
    const group = makeGroup('contract-no-negative-cache', getter);
    const [err] = await reasons([group.get('k')]);
    expect(err).to.be.instanceOf(Error).and.have.property('message', 'transient');
    fail = false;
    expect((await group.get('k')).toString()).to.equal('v:k');
    expect((await group.get('k')).toString()).to.equal('v:k');
    expect(calls).to.have.length(2);
  });

  describe('bad keys are rejected with a BadKeyError before the getter runs', () => {
    const badKeys: [string, unknown][] = [
      ['an empty key', ''],
      ['a number', 42],
      ['undefined', undefined],
      ['null', null],
      ['an object', { key: 'k' }],
      ['a key over maxKeyLength', 'x'.repeat(9)],
    ];
    for (const [what, key] of badKeys) {
      it(`${what}`, async () => {
        const { getter, calls } = counting();
        const group = makeGroup('contract-bad-key', getter, { maxKeyLength: 8 });
        const errs = await reasons([group.get(key as string), Promise.resolve().then(() => group.getForPeer(key as string))]);
        for (const err of errs) {
          expect(err).to.be.instanceOf(BadKeyError);
          expect(err).to.be.instanceOf(TypeError);
        }
        expect(calls).to.deep.equal([]);
      });
    }

    it('a key of exactly maxKeyLength is accepted; the default limit is 1,024', async () => {
      const { getter, calls } = counting(() => 'v');
      expect((await makeGroup('contract-key-limit', getter, { maxKeyLength: 8 }).get('x'.repeat(8))).toString()).to.equal('v');
      const byDefault = makeGroup('contract-key-default', getter);
      await byDefault.get('y'.repeat(1_024));
      const [err] = await reasons([byDefault.get('y'.repeat(1_025))]);
      expect(err).to.be.instanceOf(BadKeyError);
      expect(calls).to.have.length(2);
    });
  });
});

describe('GroupRegistry', () => {
  it('keeps groups of the same name in two registries independent', async () => {
    const one = new GroupRegistry();
    const two = new GroupRegistry();
    const a = counting(() => 'from one');
    const b = counting(() => 'from two');
    const g1 = one.newGroup('scores', { maxBytes: 1 << 20, getter: a.getter });
    const g2 = two.newGroup('scores', { maxBytes: 1 << 20, getter: b.getter });
    expect(g1).to.not.equal(g2);
    expect(one.getGroup('scores')).to.equal(g1);
    expect(two.getGroup('scores')).to.equal(g2);
    expect((await g1.get('k')).toString()).to.equal('from one');
    expect((await g2.get('k')).toString()).to.equal('from two');
    expect((await g1.get('k')).toString()).to.equal('from one');
    expect([a.calls.length, b.calls.length]).to.deep.equal([1, 1]);
    expect(g1.stats.cacheHits).to.equal(1);
    expect(g2.stats.cacheHits).to.equal(0);
  });

  it('throws on a duplicate name and keeps the first group', () => {
    const registry = new GroupRegistry();
    const first = registry.newGroup('dup', { maxBytes: 0, getter: () => 'v' });
    expect(() => registry.newGroup('dup', { maxBytes: 0, getter: () => 'w' })).to.throw(/"dup" already exists/);
    expect(registry.getGroup('dup')).to.equal(first);
    expect(registry.groups()).to.deep.equal([first]);
  });

  it('lists groups in creation order and returns undefined for an unknown name', () => {
    const registry = new GroupRegistry();
    const a = registry.newGroup('a', { maxBytes: 0, getter: () => 'v' });
    const b = registry.newGroup('b', { maxBytes: 0, getter: () => 'v' });
    expect(registry.groups()).to.deep.equal([a, b]);
    expect(registry.getGroup('c')).to.equal(undefined);
  });
});
