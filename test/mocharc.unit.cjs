// `npm run test:unit`: the in-process tests only, test/unit/, longest first (test/specs.cjs).
// Tests that start child processes (peers, Go, dnsmasq, Prometheus, Chromium, npm) live in
// test/process/; test/helpers/in-process-only.cjs fails any test here that starts one, with a
// message that says to move it. These tests import lib/ sources, so no build comes first.
// TypeScript is loaded by tsx's require hook ('tsx/cjs': mocha loads each test file with
// require(), and everything it imports follows), not by `node --import tsx` as in `npm test`:
// a node flag makes mocha start a second node to pass it on, and tsx's import hooks start a
// thread in every process that the in-process tests never use; ~0.3 s of CPU per process.
// Four workers on two cores: several long files (hostile, faultypeer, renewal, writebatch) mostly
// wait on timers and sockets, and with three workers the cores idle while they wait (11.5-12.3 s
// against 10.6-11.2 s with four, on a quiet machine); each worker costs ~0.5 s of CPU to start.
const { import: _, ...base } = require('../.mocharc.json');
const { UNIT_FIRST, ordered } = require('./specs.cjs');

module.exports = {
  ...base,
  spec: ordered(['unit'], UNIT_FIRST),
  require: ['tsx/cjs', 'test/helpers/chai-no-proxy.cjs', 'test/helpers/in-process-only.cjs'],
  parallel: true,
  jobs: 4,
};
