// `npm test`: every test, files side by side, longest first (test/specs.cjs). Most of a process
// test's time is waiting (timers, child processes starting, peers timing out), so more workers
// than cores shorten the run; each test picks free ports (test/helpers/child.mjs freePort,
// listen(0)), so files do not collide. Not more than 4: on a 2-core machine shared with other
// work, 6 starved the timing-bound process tests (chaos, busy owner) into failures.
const base = require('../.mocharc.json');
const { ALL_FIRST, ordered } = require('./specs.cjs');

module.exports = {
  ...base,
  spec: ordered(['process', 'unit'], ALL_FIRST),
  require: ['test/helpers/chai-no-proxy.cjs'],
  parallel: true,
  jobs: 4,
};
