// The order mocha's configs (test/mocharc*.cjs) hand test files to their parallel workers: each
// worker takes the next file as it finishes one, so the files that take longest go first and no
// worker starts one of them while the others are done. The lists are by wall time in a parallel
// run on a 2-core machine (longest first); files not listed follow in name order.
const fs = require('node:fs');
const path = require('node:path');

/** The longest files of `npm test` (test/process/ and test/unit/). */
const ALL_FIRST = [
  'process/bench-smoke',
  'process/memory',
  'process/freshness-cluster',
  'process/chaos',
  'process/packaging',
  'process/bulk-tags-cluster',
  'process/dashboard',
  'process/handoff',
  'process/transport',
  'process/warnings',
  'unit/hostile',
  'process/undici',
  'process/busyowner',
  'process/http',
  'process/drain',
  'unit/policy-property',
  'process/prometheus',
  'process/clock-skew',
  'unit/signedheaders',
  'unit/setbody',
  'process/discovery',
  'process/interop',
  'unit/bulk-tags-property',
  'process/ring-processes',
  'process/health',
  'process/discovery-cluster',
  'unit/property',
  'unit/faultypeer',
  'unit/freshness-property',
];

/**
 * The longest files of `npm run test:unit` (test/unit/), longest first, except that the files that
 * mostly wait on timers and sockets (hostile, faultypeer, writebatch, renewal, writereplay,
 * processing, group) are spread among those that mostly compute: with four workers on two cores,
 * three files waiting at once leave a core idle. (This order ran 9.8-10.0 s, the same list
 * longest first 10.0-10.5 s, on the same quiet machine.)
 */
const UNIT_FIRST = [
  'unit/hostile',
  'unit/ring',
  'unit/property',
  'unit/faultypeer',
  'unit/bulk-tags-property',
  'unit/freshness-property',
  'unit/policy-property',
  'unit/writebatch',
  'unit/setbody',
  'unit/renewal',
  'unit/health',
  'unit/writereplay',
  'unit/processing',
  'unit/group',
  'unit/transport-idle',
  'unit/freshness',
  'unit/policy',
  'unit/peers',
  'unit/disagree',
  'unit/signedheaders',
  'unit/wire',
];

/** The test files of `dirs` (under test/), those named in `first` (dir/name, no .test.ts) first. */
function ordered(dirs, first) {
  const all = dirs.flatMap((dir) =>
    fs
      .readdirSync(path.join(__dirname, dir))
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => `${dir}/${f.slice(0, -'.test.ts'.length)}`),
  );
  const head = first.filter((name) => all.includes(name));
  return [...head, ...all.filter((name) => !head.includes(name))].map((name) => `test/${name}.test.ts`);
}

module.exports = { ALL_FIRST, UNIT_FIRST, ordered };
