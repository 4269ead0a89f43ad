import { expect } from 'chai';
import { Flight } from 'geecache';

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Flight (singleflight)', () => {
  it('runs one call for concurrent callers of a key and gives them all its result', async () => {
    const flight = new Flight<string>();
    const gate = deferred<string>();
    let runs = 0;
    const calls = Array.from({ length: 100 }, () =>
      flight.do('k', () => {
        runs++;
        return gate.promise;
      }),
    );
    expect(calls.map((c) => c.shared)).to.deep.equal([false, ...Array(99).fill(true)]);
    expect(flight.size).to.equal(1);
    gate.resolve('value');
    expect(await Promise.all(calls.map((c) => c.promise))).to.deep.equal(Array(100).fill('value'));
    expect(runs).to.equal(1);
  });

  it('runs different keys independently', async () => {
    const flight = new Flight<string>();
    const ran: string[] = [];
    const a = flight.do('a', async () => {
      ran.push('a');
      return 'A';
    });
    const b = flight.do('b', async () => {
      ran.push('b');
      return 'B';
    });
    expect(a.shared || b.shared).to.equal(false);
    expect(flight.size).to.equal(2);
    expect(await Promise.all([a.promise, b.promise])).to.deep.equal(['A', 'B']);
    expect(ran).to.have.members(['a', 'b']);
  });

  it('forgets a key once its call settles, so the next call runs again', async () => {
    const flight = new Flight<number>();
    let runs = 0;
    expect(await flight.do('k', () => ++runs).promise).to.equal(1);
    expect(flight.size).to.equal(0);
    const second = flight.do('k', () => ++runs);
    expect(second.shared).to.equal(false);
    expect(await second.promise).to.equal(2);
  });

  it('shares a rejection with every caller and does not remember it', async () => {
    const flight = new Flight<string>();
    const gate = deferred<string>();
    const boom = new Error('boom');
    const calls = Array.from({ length: 10 }, () => flight.do('k', () => gate.promise));
    gate.reject(boom);
    const results = await Promise.allSettled(calls.map((c) => c.promise));
    for (const r of results) expect(r).to.deep.equal({ status: 'rejected', reason: boom });
    expect(flight.size).to.equal(0);
    expect(await flight.do('k', () => 'recovered').promise).to.equal('recovered');
  });

  it('turns a synchronous throw into a rejection and does not leave the key stuck', async () => {
    const flight = new Flight<string>();
    const boom = new Error('sync boom');
    let runs = 0;
    const throwing = () => {
      runs++;
      throw boom;
    };
    let call: { promise: Promise<string>; shared: boolean } | undefined;
    expect(() => (call = flight.do('k', throwing))).to.not.throw();
    const joined = flight.do('k', throwing);
    expect(joined.shared).to.equal(true);
    const results = await Promise.allSettled([call!.promise, joined.promise]);
    expect(results.map((r) => r.status === 'rejected' && r.reason)).to.deep.equal([boom, boom]);
    expect(runs).to.equal(1);
    expect(flight.size).to.equal(0);
    expect(await flight.do('k', () => 'ok').promise).to.equal('ok');
  });

  it('accepts a synchronous return value', async () => {
    const flight = new Flight<number>();
    expect(await flight.do('k', () => 42).promise).to.equal(42);
  });
});
