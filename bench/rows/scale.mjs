// Row scale (~14 minutes on a loaded 2-core machine; SCALE_PEERS=10,100 for a quick look): what each peer pays as the fleet grows. N real geecache instances, each an HTTP server
// on its own loopback address (127.1.x.y, one port), hosted many to a process by a few child
// processes (bench/children/scale-host.mjs) that share nothing but the process, at N = 10, 100, 300
// and 1,000 (SCALE_PEERS). Membership comes from a discovery function (every instance polls the
// fleet's list once a second), as from DNS in a deployment. Per N, counted on the servers:
// - at rest (no user traffic), with user traffic, and during a rolling restart: requests each peer
//   receives per second, by kind; CPU per peer; heap, sockets and timers per peer;
// - for the fleet: requests per health(), clusterHealth(), dashboard refresh (1 and 5 pages at
//   once), remove, clear, and 1,000 concurrent removes from one peer (SCALE_REMOVES): requests per
//   other peer, and the time until every peer acknowledged every remove (retries included).
// Then an in-process model of the algorithms up to 10,000 peers: ring lookup (CPU ns), ring and
// pool rebuild on one change, the pool's memory per known peer, balance and keys moved on a join.
// Figures are counts where they can be (requests, bytes, sockets), which a machine shared with
// other jobs does not blur; CPU is process CPU time, not wall time. SCALE_DIST=<dir> measures
// another build (e.g. an older dist/) for before/after. SCALE_OPS_ONLY=1 measures only the fleet's
// operations (health, clusterHealth, dashboard, writes: requests and bytes), without rest, traffic,
// restart or the model: e.g. `SCALE_OPS_ONLY=1 SCALE_PEERS=300,1000` for a stats round's bytes.
import v8 from 'node:v8';
import vm from 'node:vm';
import { round, settings, sleep, startChild } from '../lib/common.mjs';

export const name = 'scale';
export const title = 'Scale (per-peer costs, 10 to 1,000 peers)';

const DIST = process.env.SCALE_DIST;
const lib = await import(DIST ? `${DIST}/index.js` : 'geecache');
/** SCALE_MODEL_ONLY=1: the in-process model alone (no fleet), e.g. for the rings' figures. */
const MODEL_ONLY = process.env.SCALE_MODEL_ONLY === '1';
const PEERS = MODEL_ONLY ? [] : (process.env.SCALE_PEERS ?? (settings.smoke ? '10' : '10,100,300,1000')).split(',').map(Number);
const OPS_ONLY = process.env.SCALE_OPS_ONLY === '1';
const MODEL_PEERS = OPS_ONLY ? [] : (process.env.SCALE_MODEL_PEERS ?? (settings.smoke ? '10,100' : '10,100,1000,10000')).split(',').map(Number);
const REST_MS = settings.smoke ? 1_000 : 5_000;
const TRAFFIC_MS = settings.smoke ? 1_000 : 5_000;
/** After traffic: longer than the client's idle-socket timeout (4 s) and Node's server keep-alive (5 s). */
const IDLE_MS = settings.smoke ? 1_000 : 6_500;
const INTERVAL_MS = 1_000;
/** User gets per second over the whole fleet. */
const FLEET_GETS_PER_S = 500;
const PEER_KINDS = ['get', 'batch', 'probe', 'stats', 'remove', 'set', 'other'];
const BACKGROUND_KINDS = ['probe', 'stats', 'other'];

/** A full GC, for the model's heap figures (the bench runs without --expose-gc). */
const gc = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
})();

const hostOf = (i) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** The hosting processes: one per 50 instances, at most 4 (the machine has 2 cores). */
async function startHosts(n) {
  const count = Math.min(4, Math.max(1, Math.ceil(n / 50)));
  return Promise.all(
    Array.from({ length: count }, (_, h) =>
      startChild(
        'scale-host.mjs',
        { dist: DIST, discovery: true, intervalMs: INTERVAL_MS },
        { name: `scale-host-${h}`, nodeArgs: ['--expose-gc', '--max-old-space-size=6144'] },
      ),
    ),
  );
}

async function counters(hosts, reset = true) {
  const all = await Promise.all(hosts.map((h) => h.call({ cmd: 'counters', reset })));
  const counts = {};
  const bytes = {};
  for (const c of all) {
    for (const [k, v] of Object.entries(c.counts)) counts[k] = (counts[k] ?? 0) + v;
    for (const [k, v] of Object.entries(c.bytes)) bytes[k] = (bytes[k] ?? 0) + v;
  }
  const peer = sum(PEER_KINDS.map((k) => counts[k]));
  const background = sum(BACKGROUND_KINDS.map((k) => counts[k]));
  return { counts, bytes, peer, background, maxPerInstance: Math.max(...all.map((c) => c.maxPerInstance)) };
}

const samples = (hosts, gc = false) => Promise.all(hosts.map((h) => h.call({ cmd: 'sample', gc })));

/**
 * What the fleet did under a load of gets: the gets and failures the load reported, and the
 * requests per peer per second (all, and those no user asked for) over `seconds`.
 * @param {{ gets: number, failed: number }[]} loads
 * @param {{ peer: number, background: number, counts: Record<string, number> }} c
 * @param {number} n
 * @param {number} seconds
 * @param {object} peerFigures
 */
function loadFigures(loads, c, n, seconds, peerFigures) {
  return {
    gets: sum(loads.map((t) => t.gets)),
    failed: sum(loads.map((t) => t.failed)),
    reqPerPeerPerS: round(c.peer / n / seconds, 3),
    backgroundPerPeerPerS: round(c.background / n / seconds, 4),
    byKind: c.counts,
    ...peerFigures,
  };
}
/** Per instance, from two samples of every host: CPU ms per second, and the latest heap, sockets and timers. */
function perPeer(before, after, n) {
  const cpuUs = sum(after.map((a, h) => a.cpuUs - before[h].cpuUs));
  const wallS = (after[0].wallNs - before[0].wallNs) / 1e9;
  const res = (type) => sum(after.map((a) => a.resources[type] ?? 0)) / n;
  return {
    cpuMsPerS: round(cpuUs / 1000 / wallS / n, 4),
    sockets: round(res('TCPSocketWrap'), 2),
    timers: round(res('Timeout'), 2),
    servers: round(res('TCPServerWrap'), 2),
  };
}

/** The fleet's requests (and bytes) per operation, from instance 0. */
async function fleetOps(n, hosts, hostOf_, log) {
  const h0 = hostOf_(0);
  // Counted: the kinds of request the operation sends (renewals of hot copies from the traffic
  // before may arrive meanwhile: they are the traffic's, not the operation's).
  const op = async (label, kinds, call, calls = 1) => {
    // Past the stats round's reuse (1 s): each operation starts its own.
    await sleep(1_200);
    await counters(hosts);
    const answer = await h0.call(call);
    await sleep(200);
    const counted = await counters(hosts);
    const requests = sum(kinds.map((k) => counted.counts[k]));
    const bytes = sum(kinds.map((k) => counted.bytes[k]));
    return { label, calls, requests, perCall: round(requests / calls, 2), bytes, byKind: counted.counts, answer };
  };
  const ops = [
    await op('health()', ['stats'], { cmd: 'health', i: 0, calls: 10 }, 10),
    await op('clusterHealth()', ['stats'], { cmd: 'clusterHealth', i: 0, calls: 1 }),
    await op('clusterHealth(), 5 at once', ['stats'], { cmd: 'clusterHealth', i: 0, calls: 5 }, 5),
    await op('dashboard refresh, 1 page', ['stats'], { cmd: 'dashboard', i: 0, pages: 1 }),
    await op('dashboard refresh, 5 pages at once', ['stats'], { cmd: 'dashboard', i: 0, pages: 5 }, 5),
    await op('remove (one key)', ['remove'], { cmd: 'remove', i: 0, keys: ['k-1'] }),
    await op('clear', ['remove'], { cmd: 'clear', i: 0 }),
  ];
  // 1,000 removes at once from one peer (SCALE_REMOVES; 100 at 1,000 peers, where an older build sends one request per remove per peer).
  const burst = Number(process.env.SCALE_REMOVES ?? (n <= 300 ? 1000 : 100));
  const removes = await op(
    `${burst} concurrent removes`,
    ['remove'],
    { cmd: 'remove', i: 0, keys: Array.from({ length: burst }, (_, k) => `burst-${k}`) },
    burst,
  );
  removes.perOtherPeer = round(removes.requests / Math.max(1, n - 1), 1);
  ops.push(removes);
  for (const o of ops) log(`  N=${n} ${o.label}: ${o.requests} requests (${o.perCall} per call), ${o.bytes} bytes; ${JSON.stringify(o.answer)}`);
  return ops;
}

async function fleetRun(n, log) {
  const hosts = await startHosts(n);
  const port = 20_000 + Math.floor(Math.random() * 12_000);
  const all = Array.from({ length: n }, (_, i) => ({ i, host: hostOf(i), port, url: `http://${hostOf(i)}:${port}` }));
  const hostOf_ = (i) => hosts[i % hosts.length];
  const list = all.map((x) => x.url).sort();
  const result = { peers: n, processes: hosts.length };
  try {
    await Promise.all(hosts.map((h) => h.call({ cmd: 'setList', peers: list })));
    const started = await Promise.all(hosts.map((h, k) => h.call({ cmd: 'start', list: all.filter((x) => x.i % hosts.length === k) })));
    /** Heap the instances hold: each host's heap over its heap before it started any. */
    const heapPerPeer = (s) => sum(s.map((x, h) => x.heapUsed - started[h].before.heapUsed)) / n;
    await sleep(INTERVAL_MS + 500); // every instance has the fleet's list
    const owners = await hostOf_(0).call({ cmd: 'owners', i: 0, keys: ['a', 'b', 'c'] });
    const again = await hostOf_(n - 1).call({ cmd: 'owners', i: n - 1, keys: ['a', 'b', 'c'] });
    if (owners.join() !== again.join()) throw new Error(`instances disagree on owners: ${owners} vs ${again}`);

    if (OPS_ONLY) {
      result.ops = await fleetOps(n, hosts, hostOf_, log);
      return result;
    }
    // At rest.
    await counters(hosts);
    let s0 = await samples(hosts);
    await sleep(REST_MS);
    let c = await counters(hosts);
    let s1 = await samples(hosts, true);
    result.rest = { reqPerPeerPerS: round(c.peer / n / (REST_MS / 1000), 4), byKind: c.counts, ...perPeer(s0, s1, n) };
    result.rest.heapPerPeerKiB = round(heapPerPeer(s1) / 1024, 1);
    // Over what each instance knows: its clients of the N - 1 others are most of it.
    result.rest.heapPerKnownPeerB = Math.round(heapPerPeer(s1) / Math.max(1, n - 1));
    log(`  N=${n} at rest: ${JSON.stringify(result.rest)}`);

    // User traffic: FLEET_GETS_PER_S gets a second over the fleet, of 10 N keys.
    s0 = await samples(hosts);
    const traffic = await Promise.all(hosts.map((h) => h.call({ cmd: 'traffic', perSecond: FLEET_GETS_PER_S / n, ms: TRAFFIC_MS, keys: 10 * n })));
    s1 = await samples(hosts);
    c = await counters(hosts);
    const seconds = TRAFFIC_MS / 1000;
    result.traffic = loadFigures(traffic, c, n, seconds, perPeer(s0, s1, n));
    log(`  N=${n} user traffic: ${JSON.stringify(result.traffic)}`);
    await sleep(IDLE_MS);
    s1 = await samples(hosts, true);
    result.afterTraffic = {
      sockets: round(sum(s1.map((s) => s.resources.TCPSocketWrap ?? 0)) / n, 2),
      timers: round(sum(s1.map((s) => s.resources.Timeout ?? 0)) / n, 2),
      heapPerPeerKiB: round(heapPerPeer(s1) / 1024, 1),
    };
    log(`  N=${n} ${IDLE_MS} ms after traffic: ${JSON.stringify(result.afterTraffic)}`);

    result.ops = await fleetOps(n, hosts, hostOf_, log);

    // Rolling restart under user traffic: each restarted instance leaves the list (and closes),
    // then comes back, a discovery change each way.
    const restarts = settings.smoke ? 1 : 3;
    await counters(hosts);
    s0 = await samples(hosts);
    const t0 = performance.now();
    const load = Promise.all(
      hosts.map((h) => h.call({ cmd: 'traffic', perSecond: FLEET_GETS_PER_S / n, ms: restarts * 2 * (INTERVAL_MS + 400), keys: 10 * n })),
    );
    for (let r = 0; r < restarts; r++) {
      const x = all[1 + ((r * 7) % (n - 1))];
      const without = list.filter((u) => u !== x.url);
      await hostOf_(x.i).call({ cmd: 'stop', indices: [x.i] });
      await Promise.all(hosts.map((h) => h.call({ cmd: 'setList', peers: without })));
      await sleep(INTERVAL_MS + 400);
      await hostOf_(x.i).call({ cmd: 'start', list: [x] });
      await Promise.all(hosts.map((h) => h.call({ cmd: 'setList', peers: list })));
      await sleep(INTERVAL_MS + 400);
    }
    const loaded = await load;
    const restartS = (performance.now() - t0) / 1000;
    s1 = await samples(hosts);
    c = await counters(hosts);
    result.restart = {
      restarts,
      membershipChanges: 2 * restarts,
      seconds: round(restartS, 1),
      ...loadFigures(loaded, c, n, restartS, perPeer(s0, s1, n)),
    };
    log(`  N=${n} rolling restart: ${JSON.stringify(result.restart)}`);
    return result;
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
  }
}

// ---------------------------------------------------------------------------------------------
// The in-process model.

const peerUrl = (i) => `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:3000`;

/** CPU nanoseconds per call of fn(i) over `count` calls, best of `runs`. */
function cpuNs(count, fn, runs = 3) {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < count; i++) fn(i);
    const c = process.cpuUsage(c0);
    best = Math.min(best, ((c.user + c.system) * 1000) / count);
  }
  return best;
}

const RINGS = {
  default: () => new lib.RendezvousRing(),
  maglev: lib.MaglevRing && (() => new lib.MaglevRing()),
  bounded: lib.BoundedRing && (() => new lib.BoundedRing()),
  groupcache: () => new lib.ConsistentHashRing(),
};

function ringModel(n, keys) {
  const peers = Array.from({ length: n }, (_, i) => peerUrl(i + 1));
  /** @type {Record<string, any>} */
  const out = { peers: n };
  for (const [kind, make] of Object.entries(RINGS)) {
    if (!make) continue;
    const buildNs = cpuNs(1, () => make().add(...peers), 3);
    const ring = make();
    ring.add(...peers);
    // Enough lookups to take a few ms at every size.
    const count = Math.max(2_000, Math.min(keys.length, Math.round(2e7 / n)));
    let sink = 0;
    const lookupNs = cpuNs(count, (i) => {
      sink += ring.get(keys[i % keys.length]).length;
    });
    // Balance and movement over the keys: busiest peer / mean, keys moved on a join / 1/(N+1).
    const sampleKeys = keys.slice(0, Math.min(keys.length, 200_000));
    const before = sampleKeys.map((k) => ring.get(k));
    const counts = new Map();
    for (const o of before) counts.set(o, (counts.get(o) ?? 0) + 1);
    ring.add(peerUrl(n + 1));
    let moved = 0;
    for (let i = 0; i < sampleKeys.length; i++) if (ring.get(sampleKeys[i]) !== before[i]) moved++;
    out[kind] = {
      lookupNs: round(lookupNs, 0),
      buildMs: round(buildNs / 1e6, 2),
      busiestOverMean: round(Math.max(...counts.values()) / (sampleKeys.length / n), 3),
      keysPerPeer: Math.round(sampleKeys.length / n),
      movedOverMin: round(moved / sampleKeys.length / (1 / (n + 1)), 3),
      sink: sink > 0,
    };
  }
  if (lib.MaglevRing) out.maglev = { ...out.maglev, ...slotExact(peers, lib.MAGLEV_TABLE_SIZE, (hash) => new lib.MaglevRing({ hash })) };
  if (lib.BoundedRing) {
    const exact = slotExact(peers, lib.BOUNDED_TABLE_SIZE, (hash) => new lib.BoundedRing({ hash }));
    // The ring's state: its table (2 bytes a slot up to 65,536 peers) and the list of owners.
    out.bounded = { ...out.bounded, ...exact, tableBytesPerPeer: Math.round((exact.tableSize * (n <= 0x10000 ? 2 : 4)) / n) };
  }
  return out;
}

/**
 * A table ring's shares and movement over its whole table (every slot, no key sample): exact.
 * Slot s's owner is read with a custom hash under which the key String(s) lands in slot s: s
 * itself for Maglev (slot = hash mod size), s in the top bits for the bounded ring (slot = the
 * hash's top log2(size) bits). Moved: slots whose owner changed when peer N+1 joins, and when
 * one of the N leaves, over the minimum 1/(N+1) and 1/N.
 */
function slotExact(peers, m, make) {
  const n = peers.length;
  const top = m & (m - 1) ? 0 : 32 - Math.log2(m);
  const ring = make((key) => (Number(key) << top) >>> 0);
  const owners = () => Array.from({ length: m }, (_, s) => ring.get(String(s)));
  const movedFrom = (before) => owners().reduce((moved, o, s) => moved + (o !== before[s] ? 1 : 0), 0);
  ring.add(...peers);
  const before = owners();
  const counts = new Map();
  for (const o of before) counts.set(o, (counts.get(o) ?? 0) + 1);
  ring.add(peerUrl(n + 1));
  const joined = movedFrom(before);
  ring.remove(peerUrl(n + 1), peers[Math.floor(n / 3)]);
  const left = movedFrom(before);
  return {
    tableSize: m,
    slotBusiestOverMean: round(Math.max(...counts.values()) / (m / n), 4),
    slotMovedOverMin: round(joined / m / (1 / (n + 1)), 3),
    slotLeaveMovedOverMin: round(left / m / (1 / n), 3),
  };
}

/** The pool (ring + one client per peer) at N peers: heap per known peer, and one membership change. */
function poolModel(n) {
  const peers = Array.from({ length: n }, (_, i) => peerUrl(i + 1));
  const options = {
    self: peers[0],
    peers,
    ring: 'default',
    secret: 'model-secret-0123456789abcdef',
    handoffMs: 60_000,
    basePath: '/_geecache/',
    timeoutMs: 1_000,
    maxResponseBytes: 1 << 20,
    backoffMs: 1_000,
    maxSockets: 8,
    batch: true,
  };
  // Enough pools for the heap to tell (a pool of 10 peers is a few KiB).
  const copies = Math.max(1, Math.floor(5_000 / n));
  gc();
  const h0 = process.memoryUsage().heapUsed;
  const pools = Array.from({ length: copies }, () => new lib.HttpPool(options, undefined));
  gc();
  const heap = (process.memoryUsage().heapUsed - h0) / copies;
  for (const p of pools.slice(1)) p.close();
  const pool = pools[0];
  const changes = n >= 10_000 ? 10 : 40;
  let k = 0;
  // A rolling restart: one peer leaves, then comes back.
  const changeNs = cpuNs(
    changes,
    (i) => {
      if (i % 2 === 0) {
        k = 1 + ((k * 7 + 3) % (n - 1));
        pool.set(...peers.filter((_, j) => j !== k));
      } else pool.set(...peers);
    },
    1,
  );
  pool.close();
  return { peers: n, heapPerKnownPeerB: Math.round(heap / (n - 1)), changeMs: round(changeNs / 1e6, 2) };
}

/** @type {import('../lib/types.js').Row['run']} */
export async function run({ log }) {
  const fleet = [];
  for (const n of PEERS) {
    log(`  starting ${n} instances...`);
    fleet.push(await fleetRun(n, log));
  }
  log('  model...');
  const keys = Array.from({ length: 200_000 }, (_, i) => `user:${i}`);
  const model = MODEL_PEERS.map((n) => {
    /** @type {Record<string, any>} */
    const r = { ...ringModel(n, keys), pool: poolModel(n) };
    log(`  model N=${n}: ${JSON.stringify(r)}`);
    return r;
  });

  /** @type {import('../lib/types.js').Line[]} */
  const lines = [];
  for (const f of fleet) {
    const opOf = (label) => f.ops.find((o) => o.label === label);
    const burst = f.ops.at(-1);
    if (!OPS_ONLY)
      lines.push(
        {
          label: `N=${f.peers}: requests per peer per second at rest / with traffic (background) / rolling restart (background)`,
          value: f.rest.reqPerPeerPerS,
          unit: '/s',
          measured: `${f.rest.reqPerPeerPerS} / ${f.traffic.reqPerPeerPerS} (${f.traffic.backgroundPerPeerPerS}) / ${f.restart.reqPerPeerPerS} (${f.restart.backgroundPerPeerPerS}); ${f.traffic.failed + f.restart.failed} of ${f.traffic.gets + f.restart.gets} user gets failed`,
        },
        {
          label: `N=${f.peers}: per peer at rest: CPU, heap, sockets, timers`,
          value: f.rest.heapPerPeerKiB,
          unit: ' KiB',
          measured: `${f.rest.cpuMsPerS} ms CPU/s; ${f.rest.heapPerKnownPeerB} B heap per known peer; ${f.rest.sockets} sockets, ${f.rest.timers} timers (after traffic: ${f.afterTraffic.sockets}, ${f.afterTraffic.timers})`,
        },
      );
    lines.push(
      {
        label: `N=${f.peers}: requests per health() / clusterHealth() (5 at once) / dashboard refresh (5 pages)`,
        value: opOf('health()').perCall,
        unit: ' requests',
        measured: `${opOf('health()').perCall} / ${opOf('clusterHealth()').requests} (${opOf('clusterHealth(), 5 at once').requests}) / ${opOf('dashboard refresh, 1 page').requests} (${opOf('dashboard refresh, 5 pages at once').requests})`,
      },
      {
        label: `N=${f.peers}: bytes of a stats round (clusterHealth() / dashboard refresh), all answers`,
        value: opOf('clusterHealth()').bytes,
        unit: ' B',
        measured: `${opOf('clusterHealth()').bytes} / ${opOf('dashboard refresh, 1 page').bytes} B; ${round(opOf('clusterHealth()').bytes / Math.max(1, f.peers - 1), 0)} B per answer`,
      },
      {
        label: `N=${f.peers}: requests per remove / clear; ${burst.calls} concurrent removes`,
        value: opOf('remove (one key)').requests,
        unit: ' requests',
        measured: `${opOf('remove (one key)').requests} / ${opOf('clear').requests}; ${burst.requests} requests (${burst.perOtherPeer} per other peer), ${burst.answer.pending} peer reports pending, ${round(burst.answer.ms, 0)} ms to every report, ${burst.answer.ackedMs === undefined ? 'not all acknowledged in 60 s' : `${round(burst.answer.ackedMs, 0)} ms until every peer acknowledged every remove`}`,
      },
    );
  }
  for (const m of model) {
    const d = m.default;
    const g = m.maglev;
    lines.push({
      label: `model N=${m.peers}: ring lookup (default rendezvous${g ? ' / maglev' : ''} / groupcache), CPU ns`,
      value: d.lookupNs,
      unit: ' ns',
      measured:
        `${d.lookupNs}${g ? ` / ${g.lookupNs}` : ''} / ${m.groupcache.lookupNs}; build ${d.buildMs}${g ? ` / ${g.buildMs}` : ''} / ${m.groupcache.buildMs} ms; ` +
        `pool change ${m.pool.changeMs} ms, ${m.pool.heapPerKnownPeerB} B per known peer` +
        (g ? `; maglev slots busiest/mean ${g.slotBusiestOverMean}, moved on join ${g.slotMovedOverMin}× min (rendezvous ${d.movedOverMin}×)` : ''),
    });
    const b = m.bounded;
    if (b) {
      const at1000 = m.peers === 1000;
      lines.push({
        label: `model N=${m.peers}: 'bounded' ring lookup, CPU ns`,
        value: b.lookupNs,
        unit: ' ns',
        ...(at1000 && { goal: { op: '<=', target: 200, text: '≤ 200 ns at 1,000 peers' } }),
        measured:
          `build ${b.buildMs} ms, table ${b.tableBytesPerPeer} B per peer; slots busiest/mean ${b.slotBusiestOverMean}, ` +
          `moved on join ${b.slotMovedOverMin}× / on leave ${b.slotLeaveMovedOverMin}× the minimum; ` +
          `${b.keysPerPeer} sampled keys per peer: busiest/mean ${b.busiestOverMean} (rendezvous ${d.busiestOverMean}), moved on join ${b.movedOverMin}×`,
      });
    }
  }
  const last = fleet.at(-1);
  if (!last) {
    const top = model.at(-1);
    if (!top) throw new Error('SCALE_MODEL_ONLY=1 with no model sizes: set SCALE_MODEL_PEERS');
    return {
      value: top.default.lookupNs,
      unit: ' ns',
      reference: 'CPU time in-process',
      headline: `model only: default ring lookup, N=${top.peers}`,
      lines,
      details: { fleet, model },
    };
  }
  if (OPS_ONLY) {
    const stats = last.ops.find((o) => o.label === 'clusterHealth()');
    return {
      value: stats.bytes,
      unit: ' B',
      reference: 'bytes counted on every server',
      headline: `bytes of a stats round, N=${last.peers}`,
      lines,
      details: { fleet, model },
    };
  }
  return {
    value: last.rest.reqPerPeerPerS,
    unit: '/s',
    reference: 'requests counted on every server',
    headline: `requests each peer receives per second at rest, N=${last.peers}`,
    lines,
    details: { fleet, model },
  };
}
