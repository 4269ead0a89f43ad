// Row tags: invalidateTags of one tag carried by `tagKeys` keys (10,000) spread over a 3-peer
// cluster of bulk-getter peers (test/fixtures/bulk-peer.mjs), each peer holding every key (its
// own, and copies of the others'). Goals: ≤ 1 request per peer, and no value from before the
// invalidation served afterwards on any peer (each reads all the keys). In a fresh process
// (bench/children/tags-memory.mjs): memory per (key, tag) pair (≤ 64 bytes), and a hit on a
// value without tags in a group that uses tags ÷ the same hit in a group that never did.
import { fileURLToPath } from 'node:url';
import { freePorts, round, SECRET, settings, startChild, stopAll } from '../lib/common.mjs';

export const name = 'tags';
export const title = 'Tag invalidation';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/bulk-peer.mjs', import.meta.url));
const TAG = 'category:7';
const PREFIX = `t/${TAG}/`;

/** @param {string} url */
async function json(url) {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url.slice(0, 120)} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res.json();
}

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const n = settings.smoke ? 500 : 10_000;
  const ports = await freePorts(3);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  /** @type {import('../lib/types.js').ChildHandle[]} */
  const handles = [];
  try {
    handles.push(
      ...(await Promise.all(
        ports.map((port, i) => startChild(FIXTURE, { port, self: urls[i], peers: urls, secret: SECRET, hotCacheFraction: 0.5 }, { name: `bulk-peer:${port}` })),
      )),
    );
    const scan = (u, generation) => json(`${u}/_test/scan?prefix=${encodeURIComponent(PREFIX)}&n=${n}&generation=${generation}`);
    // Every peer reads every key: owners load theirs in bulk, the others keep copies.
    for (const u of urls) {
      const s = await scan(u, 0);
      if (s.failed > 0) throw new Error(`${s.failed} of ${n} keys failed on ${u}`);
    }
    const held = await Promise.all(urls.map(async (u) => (await json(`${u}/_test/stats`)).caches));
    const items = held.map((c) => c.main.items + c.hot.items);
    await Promise.all(urls.map((u) => fetch(`${u}/_test/gen?n=1`).then((r) => r.text())));
    await Promise.all(urls.map((u) => fetch(`${u}/_test/reset`).then((r) => r.text())));
    const report = await json(`${urls[0]}/_test/invalidate?tags=${encodeURIComponent(JSON.stringify([TAG]))}`);
    const requests = await Promise.all(urls.map(async (u) => (await json(`${u}/_test/counts`)).tagRequests));
    const after = await Promise.all(urls.map((u) => scan(u, 1)));
    const older = after.reduce((sum, s) => sum + s.older, 0);
    log(`  ${n} keys, held per peer ${items.join('/')}; invalidateTags took ${report.ms.toFixed(1)} ms, requests per peer ${requests.join('/')}`);
    log(`  then read on every peer: older values ${after.map((s) => s.older).join('/')}, failed ${after.map((s) => s.failed).join('/')}`);

    const child = await startChild('tags-memory.mjs', {}, { name: 'tags-memory', nodeArgs: ['--expose-gc'] });
    handles.push(child);
    const m = await child.call({ cmd: 'run', keyCount: settings.smoke ? 2_000 : 100_000, ops: settings.localOps, runs: settings.localRuns });
    log(
      `  memory per pair: one shared tag ${m.shared.heapPerPair.toFixed(1)} B heap / ${m.shared.accountedPerPair.toFixed(1)} B counted; own + shared tag ${m.own.heapPerPair.toFixed(1)} / ${m.own.accountedPerPair.toFixed(1)} B`,
    );
    log(`  untagged hits, group with tags ÷ without: peek ${m.peekRatio.toFixed(3)}×, get ${m.getRatio.toFixed(3)}× (${JSON.stringify(m.nsPerOp)})`);
    /** @type {import('../lib/types.js').Goal} */
    const oneGoal = { op: '<=', target: 1, text: '≤ 1' };
    /** @type {import('../lib/types.js').Goal} */
    const noneGoal = { op: '==', target: 0, text: '= 0' };
    /** @type {import('../lib/types.js').Goal} */
    const bytesGoal = { op: '<=', target: 64, text: '≤ 64 B' };
    return {
      value: older,
      unit: ' values',
      goal: noneGoal,
      reference: `${n} keys tagged ${TAG} over 3 peers, every peer holding all of them`,
      lines: [
        {
          label: `invalidateTags of one tag on ${n} keys: requests received per peer (most)`,
          value: Math.max(...requests),
          unit: '',
          goal: oneGoal,
          measured: `${requests.join('/')}; acknowledged ${report.acknowledged.length} of 3, took ${report.ms.toFixed(1)} ms`,
        },
        {
          label: `values from before it served afterwards, reading all ${n} keys on every peer`,
          value: older,
          unit: '',
          goal: noneGoal,
          measured: `per peer ${after.map((s) => s.older).join('/')}`,
        },
        {
          label: `heap per (key, tag) pair: one tag carried by every key (${TAG})`,
          value: round(Math.max(0, m.shared.heapPerPair), 1),
          unit: ' B',
          goal: bytesGoal,
          measured: `${m.shared.heapPerPair.toFixed(1)} B (values share their tag list); counted in maxBytes ${m.shared.accountedPerPair.toFixed(1)} B`,
        },
        {
          label: 'heap per (key, tag) pair: a tag of its own (product:<n>) + a shared one per key',
          value: round(m.own.heapPerPair, 1),
          unit: ' B',
          measured: `counted in maxBytes ${m.own.accountedPerPair.toFixed(1)} B`,
        },
        {
          label: 'hit on an untagged value, group with tags and 1,000 invalidations ÷ group without tags',
          value: round(m.getRatio, 2),
          unit: '×',
          measured: `await get ${m.nsPerOp.getMixed.toFixed(0)} vs ${m.nsPerOp.getPlain.toFixed(0)} ns; peek ${m.nsPerOp.peekMixed.toFixed(0)} vs ${m.nsPerOp.peekPlain.toFixed(0)} ns (${m.peekRatio.toFixed(2)}×)`,
        },
      ],
      details: { keys: n, held: items, report, requests, after, memory: m },
    };
  } finally {
    await stopAll(handles);
  }
}
