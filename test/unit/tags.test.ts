// Tags and group.invalidateTags: values tagged by a getter, a bulk getter or set stop being served
// once one of their tags is invalidated — on a group alone, and on a 3-peer in-process cluster
// (real HTTP on loopback) for owners and hot copies alike, in one request per peer; a load that
// began before an invalidation stores nothing; a peer never keeps a copy from an owner that has
// not applied an invalidation it has; and what tags cost is counted in maxBytes.
import { expect } from 'chai';
import { ENTRY_OVERHEAD_BYTES } from '../../lib/cache/lru.js';
import { MARK_WINDOW_MS, TagRecords, tagCost } from '../../lib/cache/tags.js';
import { type Getter, Group } from '../../lib/index.js';
import { startTagCluster, type TagCluster, until } from '../helpers/index.js';

/** A group alone whose getter answers `db`'s value and tags `tagsOf(key)`, counting its runs. */
function tagged(db: Map<string, string>, tagsOf: (key: string) => string[], extra: { gate?: () => Promise<void> } = {}) {
  const runs: string[] = [];
  const getter: Getter = async (key, { tags }) => {
    runs.push(key);
    const value = db.get(key) ?? `none:${key}`;
    await extra.gate?.();
    const t = tagsOf(key);
    if (t.length > 0) tags(...t);
    return value;
  };
  return { group: new Group(`tags-${Math.random().toString(36).slice(2)}`, { maxBytes: 1 << 20, getter }), runs };
}

describe('tags on a group alone', () => {
  it('invalidateTags drops every value carrying one of the tags, and only those; the value shows its tags', async () => {
    const db = new Map([
      ['p42', 'phone'],
      ['list7', 'phones page'],
      ['other', 'lamp'],
    ]);
    const tagsOf = (k: string) => (k === 'p42' ? ['product:42', 'category:7'] : k === 'list7' ? ['category:7'] : []);
    const { group, runs } = tagged(db, tagsOf);
    for (const k of db.keys()) await group.get(k);
    expect((await group.get('p42')).tags).to.deep.equal(['product:42', 'category:7']);
    expect((await group.get('other')).tags).to.deep.equal([]);
    db.set('p42', 'phone v2');
    db.set('list7', 'phones page v2');
    db.set('other', 'lamp v2');
    const report = await group.invalidateTags(['product:42']);
    expect(report).to.deep.equal({ acknowledged: [], pending: [], refused: [] });
    expect(group.peek('p42')).to.equal(undefined);
    expect(String(group.peek('list7'))).to.equal('phones page');
    expect(String(await group.get('p42'))).to.equal('phone v2');
    await group.invalidateTags(['category:7']);
    expect(String(await group.get('list7'))).to.equal('phones page v2');
    expect(String(await group.get('p42'))).to.equal('phone v2'); // reloaded again: it carries category:7 too
    expect(String(await group.get('other'))).to.equal('lamp');
    expect(runs.filter((k) => k === 'p42')).to.have.length(3);
  });

  it('set(key, value, { tags }) tags the value as a getter would', async () => {
    const { group } = tagged(new Map(), () => []);
    await group.set('k', 'written', { tags: ['user:1'] });
    expect(group.peek('k')?.tags).to.deep.equal(['user:1']);
    await group.invalidateTags(['user:2']);
    expect(String(group.peek('k'))).to.equal('written');
    await group.invalidateTags(['user:1']);
    expect(group.peek('k')).to.equal(undefined);
  });

  it('a load that began before an invalidation of one of its tags does not store what it read; its waiters still get it', async () => {
    let release!: () => void;
    let hold = true;
    const db = new Map([['k', 'old']]);
    const { group } = tagged(db, () => ['t'], {
      gate: () => (hold ? new Promise<void>((r) => (release = r)) : Promise.resolve()),
    });
    const slow = group.get('k');
    await until('the load has started', () => release !== undefined, { everyMs: 1 });
    db.set('k', 'new');
    await group.invalidateTags(['t']);
    hold = false;
    release();
    expect(String(await slow)).to.equal('old');
    expect(group.peek('k')).to.equal(undefined);
    expect(String(await group.get('k'))).to.equal('new');
  });

  it('a get that starts after an invalidation does not join a load that began before it', async () => {
    let release!: () => void;
    let hold = true;
    const db = new Map([['k', 'old']]);
    const { group, runs } = tagged(db, () => ['t'], {
      gate: () => (hold ? new Promise<void>((r) => (release = r)) : Promise.resolve()),
    });
    const early = group.get('k');
    await until('the load has started', () => release !== undefined, { everyMs: 1 });
    db.set('k', 'new');
    await group.invalidateTags(['t']);
    hold = false;
    const late = group.get('k');
    release();
    expect([String(await early), String(await late)]).to.deep.equal(['old', 'new']);
    expect(runs).to.deep.equal(['k', 'k']);
  });

  it('refuses tags no value may carry, naming the fix: the load, the set, the invalidation fail', async () => {
    const { group } = tagged(new Map(), (k) => (k === 'empty' ? [''] : Array.from({ length: 65 }, (_, i) => `t${i}`)));
    const [empty, many] = await Promise.allSettled([group.get('empty'), group.get('many')]);
    expect(empty.status === 'rejected' && String(empty.reason)).to.match(/TypeError: tags\(\.\.\.tags\): each tag must be a non-empty string, got string ""/);
    expect(many.status === 'rejected' && String(many.reason)).to.match(/RangeError: tags\(\.\.\.tags\): 65 tags, over the limit of 64/);
    const writes = await Promise.allSettled([
      group.set('k', 'v', { tags: ['x'.repeat(257)] }),
      group.invalidateTags('product:1' as never),
      group.invalidateTags(['\ud800']),
    ]);
    expect(writes.map((w) => w.status === 'rejected' && String(w.reason))).to.deep.equal([
      `RangeError: set: tags: a tag is 257 characters, over 256: ${JSON.stringify('x'.repeat(64))}…`,
      'TypeError: invalidateTags: tags must be an array of strings, got string',
      'TypeError: invalidateTags: tags: tag "\\ud800" is not well-formed Unicode',
    ]);
  });

  it('counts tags in maxBytes: nothing for a value without tags; 64 bytes or less per (key, tag) pair for two short tags', async () => {
    const { group } = tagged(new Map(), (k) => (k.startsWith('t') ? ['product:42', 'category:7'] : []));
    await group.get('plain');
    const plain = group.cacheStats().main.bytes;
    expect(plain).to.equal(ENTRY_OVERHEAD_BYTES + 'plain'.length + 'none:plain'.length);
    await group.get('tagged');
    const withTags = group.cacheStats().main.bytes - plain;
    const tagBytes = withTags - (ENTRY_OVERHEAD_BYTES + 'tagged'.length + 'none:tagged'.length);
    expect(tagBytes).to.equal(tagCost((await group.get('tagged')).tagged));
    expect(tagBytes / 2).to.be.at.most(64);
  });
});

describe('TagRecords', () => {
  it('an owner agrees when its marks name the invalidations this peer applied recently, whatever else it applied', () => {
    const records = new TagRecords();
    expect(records.agrees(['a'], undefined)).to.equal(true);
    records.invalidate(['a'], 11, 1_000);
    expect(records.agrees(['a', 'b'], undefined, 1_001)).to.equal(false); // the owner has not applied 11
    expect(records.agrees(['a', 'b'], [11, 0], 1_001)).to.equal(true);
    expect(records.agrees(['b', 'a'], [5, 11], 1_001)).to.equal(true);
    expect(records.agrees(['a'], [12], 1_001)).to.equal(false);
    // Past the window, a lagging owner is a peer that missed it: the staleness bound applies.
    expect(records.agrees(['a'], undefined, 1_000 + MARK_WINDOW_MS)).to.equal(true);
  });

  it('a value loaded in the epoch of an invalidation is fresh; one loaded before is stale; values share their TagSet', () => {
    const records = new TagRecords();
    const before = records.stamp(['a', 'b'], records.epoch);
    expect(records.stamp(['a', 'b'], records.epoch)).to.equal(before);
    records.invalidate(['b'], 1);
    const after = records.stamp(['a', 'b'], records.epoch);
    expect(after?.[1]).to.deep.equal([0, 1]);
    expect([records.fresh(before as never), records.fresh(after as never)]).to.deep.equal([false, true]);
    records.invalidate(['c'], 2);
    expect(records.fresh(after as never)).to.equal(true);
  });
});

describe('tags across a 3-peer in-process cluster', function () {
  this.timeout(30_000);
  let c: TagCluster;
  /** Tag invalidation requests each peer received. */
  const received = [0, 0, 0];
  before(async () => {
    c = await startTagCluster(3, { groupOptions: { hotCacheFraction: 0.5 } });
    for (const [i, p] of c.peers.entries())
      p.peer.server.on('request', (req) => {
        if (req.method === 'PUT' && req.headers['content-type'] === 'application/x-geecache-tags') received[i]++;
      });
  });
  after(() => c?.close());

  it('drops every value carrying the tag on every peer, owners and hot copies, with one request per other peer', async () => {
    const keys = Array.from({ length: 90 }, (_, i) => `row:${i}`);
    for (const key of keys) {
      c.db.set(key, `v1 ${key}`);
      c.tags.set(key, Number(key.slice(4)) % 2 === 0 ? ['even', 'all'] : ['all']);
    }
    // Every peer reads every key: owners hold them, the others keep copies (the hot cache has room).
    for (const p of c.peers) await p.group.getMany(keys);
    for (const p of c.peers) for (const key of keys) expect(String(p.group.peek(key)), `${p.url} ${key}`).to.equal(`v1 ${key}`);
    for (const key of keys) c.db.set(key, `v2 ${key}`);
    const report = await c.peers[1].group.invalidateTags(['even']);
    expect([...report.acknowledged].sort()).to.deep.equal(c.peers.map((p) => p.url).sort());
    expect(report.pending).to.deep.equal([]);
    expect(received).to.deep.equal([1, 0, 1]);
    for (const p of c.peers) {
      const all = await p.group.getMany(keys);
      for (const key of keys) {
        const even = Number(key.slice(4)) % 2 === 0;
        expect(String(all.get(key)?.value), `${p.url} ${key}`).to.equal(even ? `v2 ${key}` : `v1 ${key}`);
      }
    }
  });

  it('a set tagged on one peer is dropped by an invalidation sent from another', async () => {
    const key = 'written';
    await c.peers[0].group.set(key, 'by hand', { tags: ['manual'] });
    for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('by hand');
    c.db.set(key, 'from the database');
    await c.peers[2].group.invalidateTags(['manual']);
    for (const p of c.peers) expect(String(await p.group.get(key))).to.equal('from the database');
  });

  it('a peer keeps no copy from an owner that has not applied an invalidation it has, and keeps one again once the owner has', async () => {
    const key = 'lagging';
    c.db.set(key, 'old');
    c.tags.set(key, ['lag']);
    const owner = c.ownerOf(key);
    const asker = c.otherThan(key);
    await owner.group.get(key);
    // Only the asker applies this invalidation: the owner stands for a peer it has not reached yet.
    asker.group.forgetTags(['lag'], 77);
    expect(String(await asker.group.get(key))).to.equal('old');
    expect(asker.group.peek(key)).to.equal(undefined);
    c.db.set(key, 'new');
    owner.group.forgetTags(['lag'], 77);
    expect(String(await asker.group.get(key))).to.equal('new');
    expect(String(asker.group.peek(key))).to.equal('new');
  });
});
