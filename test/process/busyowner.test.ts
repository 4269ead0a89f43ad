// Busy is not down, on a saturated owner: real child-process peers. An owner
// whose event loop is taken by a burst of CPU-bound app requests — far longer than timeoutMs in
// all — still answers its peers' gets and liveness probes (lib/server/appqueue.ts), so a cold key asked
// through every peer meanwhile is loaded once in the cluster; a stopped owner (SIGSTOP) is still
// taken for down, and its keys are loaded by the peers that ask.
import http from 'node:http';
import { expect } from 'chai';
import { type ChildHandle, startCluster, stopAll } from '../helpers/index.js';

const TIMEOUT_MS = 500;
/** The burst: app requests at the owner, each keeping its event loop busy BURN_MS: 6 × timeoutMs in all. */
const BURST = 400;
const BURN_MS = 8;

const json = async <T = Record<string, number>>(url: string) => (await fetch(url)).json() as Promise<T>;
const text = async (url: string) => (await fetch(url)).text();
const getVia = (peer: string, key: string) => text(`${peer}/get?key=${encodeURIComponent(key)}`);
const ownerOf = (peer: string, key: string) => text(`${peer}/_test/owner?key=${encodeURIComponent(key)}`);

/** A key `${prefix}<i>` that `owner` owns (asked of `peer`). */
async function keyOwnedBy(peer: string, owner: string, prefix: string): Promise<string> {
  for (let i = 0; i < 2_000; i++) if ((await ownerOf(peer, `${prefix}${i}`)) === owner) return `${prefix}${i}`;
  throw new Error(`no key ${prefix}<i> owned by ${owner} in 2,000 tries`);
}

/** GET `path` on `agent`'s socket to `url`: the status code. */
function request(agent: http.Agent, url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url + path, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

/** Loads of `key` on each peer. */
const loadsOf = async (urls: string[], key: string) => (await Promise.all(urls.map((u) => json(`${u}/_test/loads`)))).map((l) => l[key] ?? 0);

describe('busy owner: a burst of CPU-bound app requests at the owner (child processes)', function () {
  this.timeout(60_000);
  let urls: string[];
  let peers: ChildHandle[];
  // One socket per request of the burst, opened beforehand: the burst is in the owner's kernel at once.
  const agent = new http.Agent({ keepAlive: true, maxSockets: BURST, maxFreeSockets: BURST });

  before(async () => {
    ({ urls, peers } = await startCluster(3, { timeoutMs: TIMEOUT_MS, backoffMs: 5_000, getterDelayMs: 100 }));
    // Warm every route and peer connection (and install the fast path), then the burst's sockets.
    await Promise.all(urls.flatMap((u) => Array.from({ length: 6 }, (_, i) => getVia(u, `warm-${i}`))));
    const opened = await Promise.all(Array.from({ length: BURST }, () => request(agent, urls[1], '/ping')));
    expect(opened.filter((s) => s === 200)).to.have.length(BURST);
  });
  after(async () => {
    agent.destroy();
    for (const p of peers ?? []) if (p.process.exitCode === null) p.process.kill('SIGCONT');
    await stopAll(peers ?? []);
  });

  it('a cold key asked through every peer while the owner is busy is loaded once, by the owner; nobody took it for down', async () => {
    const [a, b, c] = urls;
    const key = await keyOwnedBy(a, b, 'busy-');
    const errorsBefore = await Promise.all([a, c].map(async (u) => (await json(`${u}/_test/stats`)).peerErrors));
    const burst = Array.from({ length: BURST }, () => request(agent, b, `/_test/burn?ms=${BURN_MS}`));
    // The gets leave once the owner is working through the burst: their peer requests (and the
    // probes they cause) reach it behind the rest of the burst.
    await Promise.race(burst);
    const gets = Array.from({ length: 30 }, (_, i) => getVia(urls[i % 3], key));
    expect(await Promise.all(gets)).to.deep.equal(gets.map(() => `value:${key}`));
    expect(await Promise.all(burst)).to.deep.equal(burst.map(() => 200));
    expect(await loadsOf(urls, key), 'loads of the key on each peer').to.deep.equal([0, 1, 0]);
    const errorsAfter = await Promise.all([a, c].map(async (u) => (await json(`${u}/_test/stats`)).peerErrors));
    expect(errorsAfter, `failed peer fetches on the askers (before: ${errorsBefore}); ${peers[0].output()}; ${peers[2].output()}`).to.deep.equal(errorsBefore);
    // The owner was not marked down: another of its keys is still fetched from it.
    const next = await keyOwnedBy(a, b, 'after-busy-');
    expect(await getVia(a, next)).to.equal(`value:${next}`);
    expect(await loadsOf(urls, next)).to.deep.equal([0, 1, 0]);
  });

  it('a stopped owner (SIGSTOP) is still down: the peers that ask load its key themselves', async () => {
    const [a, b, c] = urls;
    const key = await keyOwnedBy(a, b, 'stopped-');
    peers[1].process.kill('SIGSTOP');
    try {
      const gets = Array.from({ length: 10 }, (_, i) => getVia(i % 2 ? c : a, key));
      expect(await Promise.all(gets)).to.deep.equal(gets.map(() => `value:${key}`));
      const loads = await Promise.all([a, c].map((u) => json(`${u}/_test/loads`)));
      expect(
        loads.map((l) => l[key] ?? 0),
        'loads on the two askers',
      ).to.deep.equal([1, 1]);
      for (const u of [a, c]) expect((await json(`${u}/_test/stats`)).peerErrors, `failed peer fetches on ${u}`).to.be.at.least(1);
    } finally {
      // Once thawed it may still read the askers' abandoned requests and load the key: the kernel kept them.
      peers[1].process.kill('SIGCONT');
    }
  });
});
