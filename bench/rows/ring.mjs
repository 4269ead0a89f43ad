// Row ring: ring quality, computed in-process (no I/O): for N peers, the busiest peer's share of
// `ringKeys` keys over the mean share, and how many keys move when peer N+1 joins, as a multiple
// of the minimum 1/(N+1). Default ring (RendezvousRing) vs the groupcache preset
// (ConsistentHashRing, crc32 x 50 replicas), with what uniformly random assignment would give.
import { ConsistentHashRing, RendezvousRing } from 'geecache';
import { round, settings } from '../lib/common.mjs';

export const name = 'ring';
export const title = 'Ring';

const peerUrl = (i) => `http://10.0.${i >> 8}.${i & 255}:3000`;

function measureRing(make, n, keys) {
  const ring = make();
  ring.add(...Array.from({ length: n }, (_, i) => peerUrl(i + 1)));
  const counts = new Map();
  const before = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const owner = ring.get(keys[i]);
    before[i] = owner;
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  const busiest = Math.max(...counts.values());
  const balance = busiest / (keys.length / n);
  ring.add(peerUrl(n + 1));
  let moved = 0;
  for (let i = 0; i < keys.length; i++) if (ring.get(keys[i]) !== before[i]) moved++;
  return { balance: round(balance), movedFraction: round(moved / keys.length, 4), movedVsIdeal: round(moved / keys.length / (1 / (n + 1))) };
}

/** Expected busiest/mean when each key picks one of n peers uniformly at random (simulated). */
function randomExpectation(n, keyCount, trials) {
  let seed = 0x2545f491 ^ n;
  const rand = () => {
    // xorshift32: deterministic, so the reference does not wobble between runs
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  let sum = 0;
  for (let t = 0; t < trials; t++) {
    const counts = new Uint32Array(n);
    for (let k = 0; k < keyCount; k++) counts[Math.floor(rand() * n)]++;
    sum += Math.max(...counts) / (keyCount / n);
  }
  return round(sum / trials);
}

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const keys = Array.from({ length: settings.ringKeys }, (_, i) => `user:${i}`);
  const lines = [];
  const cases = [];
  for (const n of settings.ringPeers) {
    const random = randomExpectation(n, keys.length, settings.smoke ? 3 : 20);
    const def = measureRing(() => new RendezvousRing(), n, keys);
    const gc = measureRing(() => new ConsistentHashRing(), n, keys);
    cases.push({ peers: n, randomBalance: random, default: def, groupcache: gc });
    log(`  N=${n}: random ${random}; default balance ${def.balance} moved ${def.movedVsIdeal}x; groupcache balance ${gc.balance} moved ${gc.movedVsIdeal}x`);
    /** @type {import('../lib/types.js').Goal} */
    const balanceGoal = { op: '<=', target: round(random * 1.02), text: `≤ ${(random * 1.02).toFixed(3)} (random × 1.02)` };
    /** @type {import('../lib/types.js').Goal} */
    const moveGoal = { op: '<=', target: 1.05, text: '≤ 1.05×' };
    lines.push(
      { label: `N=${n} default ring: balance (busiest/mean)`, value: def.balance, goal: balanceGoal, measured: `random assignment ≈ ${random}` },
      {
        label: `N=${n} default ring: keys moved on join / ideal`,
        value: def.movedVsIdeal,
        goal: moveGoal,
        measured: `${(def.movedFraction * 100).toFixed(2)}% moved, ideal ${(100 / (n + 1)).toFixed(2)}%`,
      },
      { label: `N=${n} groupcache preset: balance`, value: gc.balance, measured: `random ≈ ${random}` },
      { label: `N=${n} groupcache preset: moved / ideal`, value: gc.movedVsIdeal, measured: `${(gc.movedFraction * 100).toFixed(2)}% moved` },
    );
  }
  // The row's headline: the default ring's worst balance relative to random assignment.
  const worst = Math.max(...cases.map((c) => c.default.balance / c.randomBalance));
  return {
    value: round(worst),
    unit: '×',
    goal: { op: '<=', target: 1.02, text: '≤ 1.02× random' },
    reference: 'uniformly random assignment',
    headline: 'default ring, worst (busiest/mean) ÷ random expectation',
    lines,
    details: { keys: keys.length, cases },
  };
}
