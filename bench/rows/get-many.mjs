// Row get-many: group.getMany of 100 keys on a 3-peer cluster of bulk-getter peers
// (test/fixtures/bulk-peer.mjs, whose getMany takes getManyDelayMs). Cold: the peer requests each
// other owner received and the bulk getter calls each owner made (goals: ≤ 1 each), and the
// latency against a single cold get of a key another peer owns, same getter delay (goal ≤ 1.5×);
// warm: getMany of 100 cached keys against 100 `await get(k)` of the same keys (goal ≤ 1.2×).
import { fileURLToPath } from 'node:url';
import { freePorts, median, round, SECRET, settings, startChild, stopAll } from '../lib/common.mjs';

export const name = 'get-many';
export const title = 'getMany';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/bulk-peer.mjs', import.meta.url));
const KEYS = 100;
/** How long the bulk getter (and so a single get's load) takes: BENCH_GET_MANY_DELAY_MS, default 20. */
const DELAY_MS = Number(process.env.BENCH_GET_MANY_DELAY_MS ?? 20);

/**
 * @param {string} url
 * @param {unknown} [body] sent as JSON in a POST
 */
async function json(url, body) {
  const res = await fetch(url, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`${url.slice(0, 120)} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res.json();
}

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const delayMs = DELAY_MS;
  const ports = await freePorts(3);
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  /** @type {import('../lib/types.js').ChildHandle[]} */
  const peers = [];
  try {
    peers.push(
      ...(await Promise.all(
        ports.map((port, i) =>
          startChild(
            FIXTURE,
            { port, self: urls[i], peers: urls, secret: SECRET, getterDelayMs: delayMs, hotCacheFraction: 0.5 },
            { name: `bulk-peer:${port}` },
          ),
        ),
      )),
    );
    const [asker] = urls;
    const owner = async (key) => (await fetch(`${asker}/_test/owner?key=${encodeURIComponent(key)}`)).text();
    const rounds = Math.max(3, settings.rounds);
    const single = [];
    const many = [];
    let maxRequests = 0;
    let maxCalls = 0;
    // Round -1 warms the processes up (their first gets and batches compile code) and is not counted.
    for (let r = -1; r < rounds; r++) {
      // A single cold get of a key another peer owns: the reference.
      let one = `r${r}:one:0`;
      for (let i = 1; (await owner(one)) === asker; i++) one = `r${r}:one:${i}`;
      const oneMs = (await json(`${asker}/one?key=${encodeURIComponent(one)}`)).ms;
      const keys = Array.from({ length: KEYS }, (_, i) => `r${r}:item:${i}`);
      await Promise.all(urls.map((u) => fetch(`${u}/_test/reset`).then((res) => res.text())));
      const { ms, values } = await json(`${asker}/many`, { keys });
      const failed = keys.filter((k) => values[k] !== `${k}@0`);
      if (failed.length > 0) throw new Error(`getMany answered ${failed.length} keys wrong, e.g. ${failed[0]}: ${JSON.stringify(values[failed[0]])}`);
      if (r < 0) continue;
      single.push(oneMs);
      many.push(ms);
      for (const [i, u] of urls.entries()) {
        const c = await json(`${u}/_test/counts`);
        if (i > 0) maxRequests = Math.max(maxRequests, c.batchRequests + c.getRequests);
        maxCalls = Math.max(maxCalls, c.bulkCalls);
      }
    }
    // Warm: every key of the last round is cached on the asker now (its own, and copies of the others').
    const warmKeys = Array.from({ length: KEYS }, (_, i) => `r${rounds - 1}:item:${i}`);
    const warm = await json(`${asker}/_test/warm?keys=${encodeURIComponent(JSON.stringify(warmKeys))}&reps=${settings.smoke ? 50 : 2_000}`);
    const warmRatio = median(warm.getMany.map((g, i) => g / warm.gets[i]));
    const coldRatio = median(many.map((m, i) => m / single[i]));
    log(`  cold: getMany ${many.map((m) => m.toFixed(1)).join('/')} ms vs single get ${single.map((m) => m.toFixed(1)).join('/')} ms (getter ${delayMs} ms)`);
    log(`  warm: getMany ${median(warm.getMany).toFixed(1)} µs vs 100 gets ${median(warm.gets).toFixed(1)} µs`);
    /** @type {import('../lib/types.js').Goal} */
    const coldGoal = { op: '<=', target: 1.5, text: '≤ 1.5×' };
    /** @type {import('../lib/types.js').Goal} */
    const oneGoal = { op: '<=', target: 1, text: '≤ 1' };
    /** @type {import('../lib/types.js').Goal} */
    const warmGoal = { op: '<=', target: 1.2, text: '≤ 1.2×' };
    return {
      value: round(coldRatio, 2),
      unit: '×',
      goal: coldGoal,
      reference: `a single cold get of a key another peer owns, getter ${delayMs} ms`,
      lines: [
        {
          label: `getMany of ${KEYS} cold keys over 3 peers ÷ one cold get (same getter delay)`,
          value: round(coldRatio, 2),
          unit: '×',
          goal: coldGoal,
          measured: `median ${median(many).toFixed(1)} vs ${median(single).toFixed(1)} ms over ${rounds} rounds`,
        },
        { label: 'peer requests received by each other owner, per cold getMany (most)', value: maxRequests, unit: '', goal: oneGoal },
        { label: 'bulk getter calls per owner, per cold getMany (most)', value: maxCalls, unit: '', goal: oneGoal },
        {
          label: `getMany of ${KEYS} cached keys ÷ ${KEYS} \`await get(k)\` of them`,
          value: round(warmRatio, 2),
          unit: '×',
          goal: warmGoal,
          measured: `${median(warm.getMany).toFixed(1)} vs ${median(warm.gets).toFixed(1)} µs`,
        },
      ],
      details: { keys: KEYS, getterDelayMs: delayMs, rounds, coldMs: many, singleMs: single, warmUs: warm },
    };
  } finally {
    await stopAll(peers);
  }
}
