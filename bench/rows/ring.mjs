// Row ring: ring quality, computed in-process (no I/O): for N peers, the busiest peer's share of
// `ringKeys` keys over the mean share, and how many keys move when peer N+1 joins, as a multiple
// of the minimum 1/(N+1). Default ring (RendezvousRing) vs the groupcache preset
// (ConsistentHashRing, crc32 x 50 replicas) and the bounded-load table (BoundedRing), with what
// uniformly random assignment would give; then the bounded ring at 1,000 peers over every slot of
// its table (exact shares, moved on a join and on a leave) and over 1,000 sampled keys per peer.
import { BOUNDED_TABLE_SIZE, BoundedRing, ConsistentHashRing, RendezvousRing } from 'geecache';
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

/**
 * The bounded ring at `n` peers: shares and movement over every slot of its table (a hash under
 * which key String(s) lands in slot s), and the busiest peer over `perPeer` sampled keys per peer.
 */
function boundedAtScale(n, perPeer, log) {
  const peers = Array.from({ length: n }, (_, i) => peerUrl(i + 1));
  const m = BOUNDED_TABLE_SIZE;
  const ring = new BoundedRing({ hash: (key) => (Number(key) << (32 - Math.log2(m))) >>> 0 });
  const owners = () => Array.from({ length: m }, (_, s) => ring.get(String(s)));
  ring.add(...peers);
  const before = owners();
  const counts = new Map();
  for (const o of before) counts.set(o, (counts.get(o) ?? 0) + 1);
  const cap = ring.capFor(n);
  const movedFrom = () => owners().reduce((moved, o, s) => moved + (o !== before[s] ? 1 : 0), 0);
  ring.add(peerUrl(n + 1));
  const joinMoved = round((movedFrom() / m) * (n + 1), 3);
  ring.remove(peerUrl(n + 1), peers[Math.floor(n / 3)]);
  const leaveMoved = round((movedFrom() / m) * n, 3);
  const keys = Array.from({ length: n * perPeer }, (_, i) => `user:${i}`);
  const busiest = (r) => {
    r.add(...peers);
    return busiestOverMean(r, keys, n);
  };
  const out = {
    peers: n,
    slotsPerPeer: Math.round(m / n),
    slotBalance: round(Math.max(...counts.values()) / (m / n), 4),
    cappedPeers: [...counts.values()].filter((c) => c === cap).length,
    joinMoved,
    leaveMoved,
    keysPerPeer: perPeer,
    keyBalance: busiest(new BoundedRing()),
    rendezvousKeyBalance: busiest(new RendezvousRing()),
    randomBalance: randomExpectation(n, keys.length, 3),
  };
  log(`  bounded at N=${n}: ${JSON.stringify(out)}`);
  return out;
}

/** The busiest peer's keys over the mean, `ring` holding `n` peers. */
function busiestOverMean(ring, keys, n) {
  const counts = new Map();
  for (const k of keys) {
    const o = ring.get(k);
    counts.set(o, (counts.get(o) ?? 0) + 1);
  }
  return round(Math.max(...counts.values()) / (keys.length / n));
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
    const bounded = measureRing(() => new BoundedRing(), n, keys);
    cases.push({ peers: n, randomBalance: random, default: def, groupcache: gc, bounded });
    log(
      `  N=${n}: random ${random}; default balance ${def.balance} moved ${def.movedVsIdeal}x; groupcache balance ${gc.balance} moved ${gc.movedVsIdeal}x; bounded balance ${bounded.balance} moved ${bounded.movedVsIdeal}x`,
    );
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
      { label: `N=${n} 'bounded' ring: balance`, value: bounded.balance, goal: balanceGoal, measured: `random ≈ ${random}` },
      {
        label: `N=${n} 'bounded' ring: moved / ideal`,
        value: bounded.movedVsIdeal,
        goal: moveGoal,
        measured: `${(bounded.movedFraction * 100).toFixed(2)}% moved`,
      },
    );
  }
  const big = boundedAtScale(settings.smoke ? 100 : 1_000, settings.smoke ? 100 : 1_000, log);
  lines.push(
    {
      label: `N=${big.peers} 'bounded' ring, every slot: busiest / mean`,
      value: big.slotBalance,
      goal: { op: '<=', target: 1.05, text: '≤ 1.05' },
      measured: `${big.slotsPerPeer} slots per peer; ${big.cappedPeers} peers at the cap`,
    },
    {
      label: `N=${big.peers} 'bounded' ring, every slot: moved on a join / minimum`,
      value: big.joinMoved,
      goal: { op: '<=', target: 1.1, text: '≤ 1.1×' },
      measured: `on a leave ${big.leaveMoved}×`,
    },
    {
      label: `N=${big.peers} 'bounded' ring, ${big.keysPerPeer} sampled keys per peer: busiest / mean`,
      value: big.keyBalance,
      goal: { op: '<=', target: round(big.randomBalance * 1.02), text: `≤ ${(big.randomBalance * 1.02).toFixed(3)} (random × 1.02)` },
      measured: `random assignment ≈ ${big.randomBalance}; rendezvous ${big.rendezvousKeyBalance}`,
    },
  );
  // The row's headline: the default ring's worst balance relative to random assignment.
  const worst = Math.max(...cases.map((c) => c.default.balance / c.randomBalance));
  return {
    value: round(worst),
    unit: '×',
    goal: { op: '<=', target: 1.02, text: '≤ 1.02× random' },
    reference: 'uniformly random assignment',
    headline: 'default ring, worst (busiest/mean) ÷ random expectation',
    lines,
    details: { keys: keys.length, cases, bounded: big },
  };
}
