// `npm run test:unit`: the in-process tests only. The files below start child processes (peers,
// Go, dnsmasq, Prometheus, Chromium, npm) and are left out; test/helpers/in-process-only.cjs fails
// any other test that starts one, with a message that points here.
const base = require('../.mocharc.json');

const STARTS_PROCESSES = [
  'bench-smoke',
  'body-auth',
  'busyowner',
  'chaos',
  'dashboard',
  'demo',
  'discovery',
  'discovery-cluster',
  'dotkeys',
  'drain',
  'errors-wire',
  'freshness-cluster',
  'handoff',
  'health',
  'http',
  'https',
  'interop',
  'kubernetes',
  'memory',
  'packaging',
  'prometheus',
  'proto-gen',
  'readme-handler',
  'replay',
  'transport',
  'undici',
  'warnings',
];

module.exports = {
  ...base,
  spec: ['test/**/*.test.ts'],
  ignore: STARTS_PROCESSES.map((name) => `test/${name}.test.ts`),
  require: ['test/helpers/in-process-only.cjs'],
  // Files run side by side: most of the time here is timers (TTLs, renewals, backoffs), not CPU,
  // so four workers on two cores take the run from ~47 s to ~22 s (the longest file, the
  // freshness property test, is ~14 s of it).
  parallel: true,
  jobs: 4,
};
