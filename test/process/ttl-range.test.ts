// An expiry the wire cannot carry (past int64 Unix nanoseconds, the year 2262) must never reach
// it: child-process peers (test/fixtures/peer.mjs) whose getter calls setTtl with such a TTL, or
// whose app calls set() with one, answer a clear error for that key, and the owner stays up while
// other peers ask for the key alone or in a batch beside other keys.
import { expect } from 'chai';
import { type ChildHandle, startCluster } from '../helpers/index.js';

const q = encodeURIComponent;
/** About 253 years: now + this is past what an int64 of Unix nanoseconds holds. */
const HUGE_TTL_MS = 8e12;

const text = async (url: string) => (await fetch(url)).text();
async function json<T>(url: string): Promise<T> {
  return (await (await fetch(url)).json()) as T;
}

describe('a TTL too large for the wire, on child-process peers', function () {
  this.timeout(60_000);
  let c: { peers: ChildHandle[]; urls: string[]; stop(): Promise<void> };
  before(async () => {
    c = await startCluster(2, { timeoutMs: 10_000 });
  });
  after(() => c?.stop());

  /** A key the peer at `owner` owns, with `prefix`. */
  async function keyOwnedBy(owner: string, prefix: string): Promise<string> {
    for (let i = 0; ; i++) {
      const key = `${prefix}${i}`;
      if ((await text(`${c.urls[0]}/_test/owner?key=${q(key)}`)) === owner) return key;
    }
  }

  it("a getter's setTtl beyond the wire's range fails that key only, in a batch and alone, and the owner stays up", async () => {
    const [owner, asker] = c.urls;
    const huge = await keyOwnedBy(owner, 'huge-');
    const fine = await Promise.all([0, 1, 2].map((i) => keyOwnedBy(owner, `fine-${i}-`)));
    await Promise.all(c.urls.map((u) => text(`${u}/_test/db?key=${q(huge)}&value=v&ttlMs=${HUGE_TTL_MS}`)));
    // Gets in one turn go to the owner as one batch (streamed result frames).
    const batch = await json<{ values: string[] }>(`${asker}/multi?keys=${q(JSON.stringify([...fine, huge]))}`);
    expect(batch.values.slice(0, 3)).to.deep.equal(fine.map((k) => `value:${k}`));
    expect(batch.values[3]).to.match(/^error: .*setTtl.*at most/);
    const alone = await text(`${asker}/get?key=${q(huge)}`);
    expect(alone).to.match(/^error: .*setTtl.*at most/);
    // The getter ran on the owner only: the asker did not load the key a second time.
    expect((await json<Record<string, number>>(`${asker}/_test/loads`))[huge] ?? 0).to.equal(0);
    expect(c.peers[0].process.exitCode, c.peers[0].output()).to.equal(null);
    expect(await text(`${owner}/ping`)).to.equal('ok');
    expect(await text(`${asker}/get?key=${q(fine[0])}`)).to.equal(`value:${fine[0]}`);
  });

  it('set() with a ttlMs beyond the range rejects before it touches any peer: the value already there stays', async () => {
    const [owner, asker] = c.urls;
    const key = await keyOwnedBy(owner, 'kept-');
    expect(await json<{ error?: unknown }>(`${asker}/_test/set?key=${q(key)}&value=before`)).to.not.have.property('error');
    const report = await json<{ error?: { name: string; message: string } }>(`${asker}/_test/set?key=${q(key)}&value=after&ttlMs=${HUGE_TTL_MS}`);
    expect(report.error?.name).to.equal('RangeError');
    expect(report.error?.message).to.match(/ttlMs must be at most/);
    expect(await json<{ value: string | null }>(`${owner}/_test/peek?key=${q(key)}`)).to.deep.equal({ value: 'before' });
    expect(await text(`${asker}/get?key=${q(key)}`)).to.equal('before');
    expect(c.peers[0].process.exitCode, c.peers[0].output()).to.equal(null);
  });
});
