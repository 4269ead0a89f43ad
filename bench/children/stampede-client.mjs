// The stampede row's load process: opens one keep-alive socket per planned request (so all the gets are in
// flight at the same time, not queued in an agent), then issues every get of one cold key at
// once, round-robin over the peers' app route, and reports the latencies.
import http from 'node:http';
import { ready, serve } from './ipc.mjs';

function request(agent, url, path) {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const req = http.get(url + path, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
      res.on('error', (err) => resolve({ status: 0, error: err.message, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
    });
    req.on('error', (err) => resolve({ status: 0, error: err.message, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
  });
}

async function run({ urls, gets, key }) {
  const perPeer = Math.ceil(gets / urls.length);
  const agents = urls.map(() => new http.Agent({ keepAlive: true, maxSockets: perPeer, maxFreeSockets: perPeer, timeout: 60_000 }));
  try {
    // Open the sockets: perPeer concurrent pings per peer, each on a new socket.
    const warm = await Promise.all(urls.flatMap((u, i) => Array.from({ length: perPeer }, () => request(agents[i], u, '/ping'))));
    const warmFailed = warm.filter((r) => r.status !== 200).length;
    const openSockets = agents.map((a) => Object.values(a.freeSockets).reduce((n, l) => n + l.length, 0));
    // The stampede.
    const t0 = process.hrtime.bigint();
    const pending = [];
    const path = `/get?key=${encodeURIComponent(key)}`;
    for (let i = 0; i < gets; i++) pending.push(request(agents[i % urls.length], urls[i % urls.length], path));
    const issueMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const results = await Promise.all(pending);
    const totalMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const ms = results.map((r) => r.ms).sort((a, b) => a - b);
    const q = (p) => ms[Math.min(ms.length - 1, Math.max(0, Math.ceil(p * ms.length) - 1))];
    const failures = results.filter((r) => r.status !== 200);
    return {
      ok: results.length - failures.length,
      failed: failures.length,
      firstFailure: failures[0],
      warmFailed,
      openSockets,
      issueMs,
      totalMs,
      p50: q(0.5),
      p99: q(0.99),
      max: ms[ms.length - 1],
    };
  } finally {
    for (const a of agents) a.destroy();
  }
}

serve({ run });
ready();
