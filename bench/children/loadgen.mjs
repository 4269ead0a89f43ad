// The load generator process: autocannon's API, driven over IPC, so that the load never runs in
// the process under test. One 'run' command = one measurement.
import autocannon from 'autocannon';
import { ready, serve } from './ipc.mjs';

/** One autocannon run; `sampleInt` ms between its samples (it stops only at one). */
function once(opts) {
  return new Promise((resolve, reject) => autocannon(opts, (err, r) => (err ? reject(err) : resolve(r))));
}

async function run({ url, paths, headers = {}, connections, duration }) {
  // autocannon stops only at a sample tick (every sampleInt ms, 1 s by default): a load shorter
  // than a second (smoke mode) samples as often as it lasts, so it stops on time. Should it get
  // no answer at all in so short a time (a starved machine), it runs again for a whole second.
  const sampleInt = Math.min(1000, Math.max(10, Math.round(duration * 1000)));
  const opts = { url, connections, duration, headers, pipelining: 1, timeout: 10, sampleInt };
  if (paths && paths.length > 0) {
    // Each request takes the next path of the list, across all connections.
    let next = 0;
    opts.requests = [{ method: 'GET', setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] }) }];
  }
  let r = await once(opts);
  if (r['2xx'] === 0 && duration < 1) r = await once({ ...opts, duration: 1, sampleInt: 1000 });
  return {
    rps: r['2xx'] / r.duration,
    total: r.requests.total,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    duration: r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    meanLatency: r.latency.average,
  };
}

serve({ run });
ready();
