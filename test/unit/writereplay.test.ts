// Writes are applied at most once and in order: a captured signed set, remove or clear replayed
// to its peer changes nothing, and one held back on the network and delivered after a newer
// write of its key is refused as older. Three real peers on loopback; the owner of the keys is
// reached through a recording proxy, which captures the writes (or holds one back) for the replays.
import { expect } from 'chai';
import type { GeecacheOptions } from '../../lib/index.js';
import { closePeers, type InProcessPeer, type Recorded, RecordingProxy, startInProcessPeer, startInProcessPeers, until } from '../helpers/index.js';

const SECRET = 'write-replay-secret-0123456789';

describe('replayed and reordered writes change nothing (real peers, a recording proxy)', function () {
  this.timeout(60_000);
  let peers: InProcessPeer[] = [];
  let proxy: RecordingProxy;
  let list: string[];
  const options = (self: string): GeecacheOptions => ({
    self,
    peers: list,
    secret: SECRET,
    logger: false,
    groups: { scores: { maxBytes: 1 << 20, getter: (key: string) => `value:${key}` } },
  });

  beforeEach(async () => {
    proxy = await RecordingProxy.start();
    // The owner of the keys used (peers[1]) is reached through the proxy: its self is the proxy's URL.
    peers = await startInProcessPeers(
      3,
      (self, urls, i) => {
        list = [urls[0], proxy.url, urls[2]];
        return options(i === 1 ? proxy.url : self);
      },
      { attach: true },
    );
    proxy.target = new URL(peers[1].url);
  });
  afterEach(async () => {
    await closePeers(peers);
    await proxy.close();
  });

  const group = (i: number) => peers[i].cache.group('scores');
  let n = 0;
  /** A new key the proxied peer owns. */
  const ownedByOwner = (prefix: string) => {
    for (let i = 0; i < 500; i++) {
      const key = `${prefix}-${n++}`;
      if (peers[0].cache.pool.ownerOf(key) === proxy.url) return key;
    }
    throw new Error('no key owned by the proxied peer');
  };
  /** What each peer answers for `key`. */
  const everyPeer = async (key: string) => Promise.all(peers.map(async (_, i) => String(await group(i).get(key))));
  /**
   * The request that carried a write: the last one of `requests`. A writer's first set to a peer
   * may go twice: a peer that just started takes only sets newer than its start (see the restart
   * test), and tells the writer so (409), whose clock then moves past it.
   */
  const applied = (requests: Recorded[]) => {
    expect(requests.length, 'captured requests').to.be.within(1, 2);
    return requests[requests.length - 1];
  };

  it('a captured set replayed after a newer set, then after a remove, is refused: every peer answers the newer value, then the getter’s', async () => {
    const key = ownedByOwner('set');
    await group(0).set(key, 'v1');
    const put = applied(proxy.find('PUT', `/_geecache/scores/${key}`));
    await group(2).set(key, 'v2');
    const replayed = await RecordingProxy.replay(peers[1].url, put);
    expect(replayed.status).to.equal(409);
    expect(replayed.text).to.match(/^replayed write: /);
    expect(await everyPeer(key)).to.deep.equal(['v2', 'v2', 'v2']);
    await group(0).remove(key);
    for (let i = 0; i < 5; i++) expect((await RecordingProxy.replay(peers[1].url, put)).status).to.equal(409);
    expect(await everyPeer(key)).to.deep.equal([`value:${key}`, `value:${key}`, `value:${key}`]);
  });

  it('a set held back and delivered after a newer set is refused as older, with the newer version', async () => {
    const key = ownedByOwner('held-set');
    proxy.hold = (r) => r.method === 'PUT';
    // The owner never got it: the writer says so (the key was removed instead).
    const failed = await group(0)
      .set(key, 'v1')
      .then(
        () => undefined,
        (err: Error) => err,
      );
    expect(failed?.message).to.match(/did not store it/);
    proxy.hold = undefined;
    const held = applied(proxy.find('PUT', `/_geecache/scores/${key}`));
    await group(2).set(key, 'v2');
    const late = await RecordingProxy.replay(peers[1].url, held);
    expect(late.status).to.equal(409);
    expect(late.text).to.match(/^stale write: /);
    const written = held.rawHeaders[held.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-geecache-write') + 1];
    expect(Number(late.headers['x-geecache-newer'])).to.be.above(Number(written.split('.')[0]));
    expect(await everyPeer(key)).to.deep.equal(['v2', 'v2', 'v2']);
  });

  it('a remove held back and delivered after a newer set is refused as older', async () => {
    const key = ownedByOwner('held-remove');
    await group(0).set(key, 'v1');
    proxy.hold = (r) => r.method === 'DELETE' && r.url === `/_geecache/scores/${key}` && proxy.find('DELETE', r.url).length === 1;
    const report = await group(0).remove(key);
    expect(report.pending).to.deep.equal([proxy.url]);
    // The writer sends it again every second; the second copy goes through.
    await until('the remove retried', () => group(0).pendingRemoves().size === 0);
    const held = proxy.find('DELETE', `/_geecache/scores/${key}`)[0];
    await group(2).set(key, 'v3');
    const late = await RecordingProxy.replay(peers[1].url, held);
    expect(late.status).to.equal(409);
    expect(late.text).to.match(/^stale write: /);
    expect(await everyPeer(key)).to.deep.equal(['v3', 'v3', 'v3']);
  });

  it('a captured clear replayed again and again is applied once', async () => {
    const before = ownedByOwner('before-clear');
    await group(2).set(before, 'dropped');
    await group(0).clear();
    const clears = proxy.find('DELETE', '/_geecache/scores').filter((r) => r.url === '/_geecache/scores');
    expect(clears, 'two rounds').to.have.length(2);
    const kept = ownedByOwner('after-clear');
    await group(2).set(kept, 'kept');
    for (let i = 0; i < 20; i++) {
      for (const clear of clears) {
        const res = await RecordingProxy.replay(peers[1].url, clear);
        expect(res.status).to.equal(409);
        expect(res.text).to.match(/^replayed write: /);
      }
    }
    expect(await everyPeer(kept)).to.deep.equal(['kept', 'kept', 'kept']);
    expect(await everyPeer(before)).to.deep.equal([`value:${before}`, `value:${before}`, `value:${before}`]);
  });

  it('a set captured before its owner restarted is refused by the new process too', async () => {
    const key = ownedByOwner('restart');
    await group(0).set(key, 'old');
    const put = applied(proxy.find('PUT', `/_geecache/scores/${key}`));
    await group(2).set(key, 'new');
    // The owner restarts: it remembers no nonce and no version, and has lost 'new' with its cache.
    await peers[1].close();
    peers[1] = await startInProcessPeer(() => options(proxy.url), { attach: true });
    proxy.target = new URL(peers[1].url);
    const replayed = await RecordingProxy.replay(peers[1].url, put);
    expect(replayed.status).to.equal(409);
    expect(replayed.text).to.match(/^stale write: /);
    expect(String(await group(1).get(key)), 'the getter’s value, not the replayed one').to.equal(`value:${key}`);
    // Writers catch up with the new process at once: their next set is stored.
    await group(0).set(key, 'after');
    expect(await everyPeer(key)).to.deep.equal(['after', 'after', 'after']);
  });

  it('a signed write without its version and nonce, or with another one than it was signed with, is refused', async () => {
    const key = ownedByOwner('unsigned-nonce');
    await group(0).set(key, 'v1');
    const put = applied(proxy.find('PUT', `/_geecache/scores/${key}`));
    const dropped = await RecordingProxy.replay(peers[1].url, put, { 'x-geecache-write': undefined });
    expect(dropped.status, 'header dropped: the signature covers it').to.equal(401);
    const swapped = await RecordingProxy.replay(peers[1].url, put, { 'x-geecache-write': `${Date.now()}000.123e4567-e89b-42d3-a456-426614174000` });
    expect(swapped.status, 'a new nonce: not what was signed').to.equal(401);
    const malformed = await RecordingProxy.replay(peers[1].url, put, { 'x-geecache-write': 'x'.repeat(8_000) });
    expect(malformed.status).to.equal(400);
    expect(malformed.text).to.match(/^bad request: x-geecache-write must be <version>\.<nonce>/);
    expect(await everyPeer(key)).to.deep.equal(['v1', 'v1', 'v1']);
  });
});
