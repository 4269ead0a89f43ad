import { expect } from 'chai';
import { Flight } from '../../lib/cache/singleflight.js';

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
    expect(
      calls.every((c) => c === calls[0]),
      'every caller joined the first call',
    ).to.equal(true);
    expect(flight.size).to.equal(1);
    gate.resolve('value');
    expect(await Promise.all(calls)).to.deep.equal(Array(100).fill('value'));
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
    expect(a).to.not.equal(b);
    expect(flight.size).to.equal(2);
    expect(await Promise.all([a, b])).to.deep.equal(['A', 'B']);
    expect(ran).to.have.members(['a', 'b']);
  });

  it('forgets a key once its call settles, so the next call runs again', async () => {
    const flight = new Flight<number>();
    let runs = 0;
    expect(await flight.do('k', () => ++runs)).to.equal(1);
    expect(flight.size).to.equal(0);
    const second = flight.do('k', () => ++runs);
    expect(await second).to.equal(2);
  });

  it('shares a rejection with every caller and does not remember it', async () => {
    const flight = new Flight<string>();
    const gate = deferred<string>();
    const boom = new Error('boom');
    const calls = Array.from({ length: 10 }, () => flight.do('k', () => gate.promise));
    gate.reject(boom);
    const results = await Promise.allSettled(calls);
    for (const r of results) expect(r).to.deep.equal({ status: 'rejected', reason: boom });
    expect(flight.size).to.equal(0);
    expect(await flight.do('k', () => 'recovered')).to.equal('recovered');
  });

  it('turns a synchronous throw into a rejection and does not leave the key stuck', async () => {
    const flight = new Flight<string>();
    const boom = new Error('sync boom');
    let runs = 0;
    const throwing = () => {
      runs++;
      throw boom;
    };
    let call: Promise<string> | undefined;
    expect(() => (call = flight.do('k', throwing))).to.not.throw();
    const joined = flight.do('k', throwing);
    expect(joined).to.equal(call);
    const results = await Promise.allSettled([call!, joined]);
    expect(results.map((r) => r.status === 'rejected' && r.reason)).to.deep.equal([boom, boom]);
    expect(runs).to.equal(1);
    expect(flight.size).to.equal(0);
    expect(await flight.do('k', () => 'ok')).to.equal('ok');
  });

  it('accepts a synchronous return value', async () => {
    const flight = new Flight<number>();
    expect(await flight.do('k', () => 42)).to.equal(42);
  });
});
