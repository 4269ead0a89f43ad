// group.getMany and the bulk getter (GroupOptions.getMany): one outcome per key, the keys that miss
// together loaded in one call, single-flight per key with get(), and the per-key TTL, not-found,
// error and deadline rules — on a group alone, then on a 3-peer in-process cluster (real HTTP on
// loopback) where each owner runs its bulk getter once for the keys it was asked together; and
// the same on the middleware and req.cache.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import express from 'express';
import { BadKeyError, type ByteView, Group, geecache, LoadTimeoutError, NotFoundError } from '../../lib/index.js';
import { soloGroup, startTagCluster, type TagCluster, until } from '../helpers/index.js';

/** The outcomes of a getMany as text: a value's string, or the error's name and message. */
function outcomes(results: Map<string, { value?: ByteView; error?: unknown }>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, r] of results) out[key] = r.error !== undefined ? `${(r.error as Error).name}: ${(r.error as Error).message}` : String(r.value);
  return out;
}

describe('Group.getMany on one process', () => {
  it('answers each key once, in the order given, loading the missing ones in one bulk call', async () => {
    const db = new Map([
      ['a', 'A'],
      ['b', 'B'],
      ['c', 'C'],
    ]);
    const { group, calls } = soloGroup(db);
    await group.get('b');
    const results = await group.getMany(['c', 'a', 'b', 'c']);
    expect([...results.keys()]).to.deep.equal(['c', 'a', 'b']);
    expect(outcomes(results)).to.deep.equal({ c: 'C', a: 'A', b: 'B' });
    expect(calls).to.deep.equal([['b'], ['c', 'a']]);
    // Warm: no call at all.
    expect(outcomes(await group.getMany(['a', 'b', 'c']))).to.deep.equal({ a: 'A', b: 'B', c: 'C' });
    expect(calls).to.have.length(2);
  });

  it('a key the bulk getter leaves out is not found, alone; notFoundTtlMs caches that per key', async () => {
    const db = new Map([['a', 'A']]);
    const { group, calls } = soloGroup(db, { notFoundTtlMs: 60_000 });
    const results = await group.getMany(['a', 'gone']);
    expect(results.get('a')?.value?.toString()).to.equal('A');
    expect(results.get('gone')?.error).to.be.instanceOf(NotFoundError);
    expect(String(results.get('gone')?.error)).to.include('"gone"');
    db.set('gone', 'now here');
    const again = await group.getMany(['gone']);
    expect(again.get('gone')?.error).to.be.instanceOf(NotFoundError);
    expect(calls).to.deep.equal([['a', 'gone']]);
  });

  it('a bulk getter that throws fails only the keys of its call; a bad key fails alone', async () => {
    const { group } = soloGroup(new Map([['ok', 'fine']]));
    await group.get('ok');
    const failing = new Group('failing', {
      maxBytes: 1 << 20,
      getMany: async () => {
        throw new Error('database down');
      },
    });
    const results = await failing.getMany(['x', 'y', '']);
    expect(outcomes(results)).to.deep.equal({ x: 'Error: database down', y: 'Error: database down', '': 'BadKeyError: key must not be empty' });
    expect(results.get('')?.error).to.be.instanceOf(BadKeyError);
    // The group that did not fail is untouched.
    expect(outcomes(await group.getMany(['ok']))).to.deep.equal({ ok: 'fine' });
  });

  it('an Error in place of a value fails that key; an array answer goes by position; a wrong answer names the fix', async () => {
    const byArray = new Group('array', {
      maxBytes: 1 << 20,
      getMany: (keys) => keys.map((k) => (k === 'bad' ? new RangeError('no such row') : k === 'none' ? undefined : `v:${k}`)),
    });
    expect(outcomes(await byArray.getMany(['a', 'bad', 'none']))).to.deep.equal({
      a: 'v:a',
      bad: 'RangeError: no such row',
      none: 'NotFoundError: getMany returned no value for key "none"',
    });
    const short = new Group('short', { maxBytes: 1 << 20, getMany: () => ['only one'] });
    const shorted = outcomes(await short.getMany(['a', 'b']));
    expect(shorted.a).to.match(/TypeError: getMany for group "short" returned an array of 1 values for 2 keys; return one value per key/);
    const odd = new Group('odd', { maxBytes: 1 << 20, getMany: () => ({ a: 'x' }) as never });
    expect(outcomes(await odd.getMany(['a', 'b'])).b).to.match(/returned Object; return a Map from key to value, or an array/);
    const notBytes = new Group('notbytes', { maxBytes: 1 << 20, getMany: (keys) => new Map(keys.map((k) => [k, k === 'n' ? (42 as never) : 'ok'])) });
    expect(outcomes(await notBytes.getMany(['n', 'm']))).to.deep.include({ m: 'ok' });
    expect(outcomes(await notBytes.getMany(['n'])).n).to.match(/TypeError: getter for group "notbytes" returned number for key "n"/);
  });

  it('keeps each key for its own setTtl, and refuses setTtl or tags for a key it was not given', async () => {
    let calls = 0;
    const group = new Group('ttl', {
      maxBytes: 1 << 20,
      ttlMs: 60_000,
      getMany: (keys, { setTtl }) => {
        calls++;
        if (keys.includes('short')) setTtl('short', 30);
        if (keys.includes('stranger')) setTtl('not-asked', 5);
        return keys.map((k) => `v${calls}:${k}`);
      },
    });
    expect(outcomes(await group.getMany(['short', 'long']))).to.deep.equal({ short: 'v1:short', long: 'v1:long' });
    await sleep(80); // past short's TTL, far from long's
    expect(outcomes(await group.getMany(['short', 'long']))).to.deep.equal({ short: 'v2:short', long: 'v1:long' });
    expect(outcomes(await group.getMany(['stranger', 'x'])).x).to.match(/setTtl\(key, ms\): key string "not-asked" is not one of the keys/);
  });

  it('a key already loading joins that load, and a key in a bulk call is shared with every concurrent get of it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const calls: string[][] = [];
    const group = new Group('joins', {
      maxBytes: 1 << 20,
      getMany: async (keys) => {
        calls.push([...keys]);
        await gate;
        return keys.map((k) => `v:${k}`);
      },
    });
    const first = group.get('a');
    // States, not times: 5 ms of sleep was sometimes too short for a's call to start on a busy machine.
    await until("a's call has started", () => calls.length === 1, { everyMs: 1 });
    const many = group.getMany(['a', 'b', 'c']);
    const alsoB = group.get('b'); // same turn as the getMany: joins b's load
    await until('every key asked for', () => calls.flat().length >= 3, { everyMs: 1, state: () => calls });
    expect(calls).to.deep.equal([['a'], ['b', 'c']]);
    release();
    const [a, results, b] = await Promise.all([first, many, alsoB]);
    expect(results.get('a')?.value).to.equal(a);
    expect(results.get('b')?.value).to.equal(b);
    expect(group.stats).to.include({ localLoads: 3 });
  });

  it('uses the single getter for a key that misses alone, and getMany for keys that miss together', async () => {
    const singles: string[] = [];
    const bulks: string[][] = [];
    const group = new Group('both', {
      maxBytes: 1 << 20,
      getter: (key) => {
        singles.push(key);
        return `one:${key}`;
      },
      getMany: (keys) => {
        bulks.push([...keys]);
        return keys.map((k) => `many:${k}`);
      },
    });
    expect(String(await group.get('solo'))).to.equal('one:solo');
    const [x, y] = await Promise.all([group.get('x'), group.get('y')]);
    expect([String(x), String(y)]).to.deep.equal(['many:x', 'many:y']);
    expect(singles).to.deep.equal(['solo']);
    expect(bulks).to.deep.equal([['x', 'y']]);
  });

  it('a bulk call past loadTimeoutMs fails its keys with a LoadTimeoutError, aborts its signal, and later gets of its keys wait for it instead of calling again', async () => {
    let calls = 0;
    let aborted: unknown;
    let finish!: () => void;
    const group = new Group('slow', {
      maxBytes: 1 << 20,
      loadTimeoutMs: 50,
      getMany: async (keys, { signal }) => {
        calls++;
        signal.addEventListener('abort', () => {
          aborted = signal.reason;
        });
        await new Promise<void>((r) => {
          finish = r;
        });
        return keys.map((k) => `late:${k}`);
      },
    });
    const first = await group.getMany(['p', 'q']);
    expect(first.get('p')?.error).to.be.instanceOf(LoadTimeoutError);
    expect(String(first.get('q')?.error)).to.match(/getMany for group "slow" did not finish within loadTimeoutMs \(50 ms\) for 2 keys/);
    expect(aborted).to.be.instanceOf(LoadTimeoutError);
    const again = group.get('p');
    await sleep(5);
    finish();
    expect(String(await again)).to.equal('late:p');
    expect(calls).to.equal(1);
  });

  it('refuses a string or a non-iterable for keys, naming what it takes', async () => {
    const { group } = soloGroup(new Map());
    const [asString, asNumber] = await Promise.allSettled([group.getMany('abc' as never), group.getMany(42 as never)]);
    expect(asString.status === 'rejected' && asString.reason)
      .to.be.instanceOf(TypeError)
      .with.property('message')
      .match(/getMany takes an array \(or other iterable\) of keys, got string/);
    expect(asNumber.status === 'rejected' && String(asNumber.reason)).to.match(/got number/);
  });
});

describe('getMany on the middleware and req.cache', () => {
  it('reads the default group, as Group.getMany does', async () => {
    const cache = geecache({
      self: 'http://127.0.0.1:1',
      logger: false,
      groups: { items: { maxBytes: 1 << 20, getMany: (keys) => new Map(keys.filter((k) => k !== 'gone').map((k) => [k, `v:${k}`])) } },
    });
    try {
      expect(outcomes(await cache.getMany(['a', 'gone']))).to.deep.equal({ a: 'v:a', gone: 'NotFoundError: getMany returned no value for key "gone"' });
      const app = express();
      app.use(cache);
      app.get('/many', async (req, res) => res.json(outcomes(await req.cache.getMany(String(req.query.keys).split(',')))));
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const { port } = server.address() as AddressInfo;
        expect(await (await fetch(`http://127.0.0.1:${port}/many?keys=b,a`)).json()).to.deep.equal({ b: 'v:b', a: 'v:a' });
      } finally {
        server.close();
      }
    } finally {
      await cache.close();
    }
  });
});

describe('Group.getMany across a 3-peer in-process cluster', function () {
  this.timeout(30_000);
  let c: TagCluster;
  before(async () => {
    c = await startTagCluster(3, { groupOptions: { hotCacheFraction: 0.5 } });
  });
  after(() => c?.close());

  it('cold: each owner runs its bulk getter once for all its keys; every key gets its value; a key left out or failing fails alone', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `item:${i}`);
    for (const key of keys) c.db.set(key, `value of ${key}`);
    c.omit.add('item:7');
    const asker = c.peers[0];
    const results = await asker.group.getMany(keys);
    expect(results.size).to.equal(60);
    for (const key of keys) {
      if (key === 'item:7') expect(results.get(key)?.error, key).to.be.instanceOf(NotFoundError);
      else expect(results.get(key)?.value?.toString(), key).to.equal(`value of ${key}`);
    }
    // One call per owner, holding exactly the keys it owns.
    for (const [i, peer] of c.peers.entries()) {
      const owned = keys.filter((k) => c.ownerOf(k) === peer);
      expect(c.calls[i], `calls on peer ${i}`).to.have.length(owned.length > 0 ? 1 : 0);
      if (owned.length > 0) expect([...c.calls[i][0]].sort()).to.deep.equal([...owned].sort());
    }
    c.omit.clear();
  });

  it('warm: no getter runs; a key whose owner call throws fails alone and is not cached', async () => {
    const before = c.totalCalls();
    const keys = Array.from({ length: 60 }, (_, i) => `item:${i}`).filter((k) => k !== 'item:7');
    const warm = await c.peers[1].group.getMany(keys);
    for (const key of keys) expect(warm.get(key)?.value?.toString()).to.equal(`value of ${key}`);
    expect(c.totalCalls()).to.equal(before);
    c.db.set('boom', 'x');
    c.db.set('fine', 'y');
    c.throwFor.add('boom');
    const mixed = await c.peers[2].group.getMany(['boom', 'fine', 'item:1']);
    expect(String((mixed.get('boom')?.error as Error)?.message)).to.include('backend failed');
    expect(mixed.get('item:1')?.value?.toString()).to.equal('value of item:1');
    c.throwFor.clear();
    // At the owner, a get after the failure runs the getter again (peers are answered the failure for a second).
    expect(String(await c.ownerOf('boom').group.get('boom'))).to.equal('x');
  });
});
