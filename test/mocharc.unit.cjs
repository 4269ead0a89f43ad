// `npm run test:unit`: the in-process tests only, test/unit/, longest first (test/specs.cjs).
// Tests that start child processes (peers, Go, dnsmasq, Prometheus, Chromium, npm) live in
// test/process/; test/helpers/in-process-only.cjs fails any test here that starts one, with a
// message that says to move it. These tests import lib/ sources, so no build comes first.
// Three workers on two cores: a worker waiting on a timer or a socket leaves no core idle, and
// each worker costs ~0.7 s of CPU to load tsx and lib/, so a fourth cost more than it saved.
const base = require('../.mocharc.json');
const { UNIT_FIRST, ordered } = require('./specs.cjs');

module.exports = {
  ...base,
  spec: ordered(['unit'], UNIT_FIRST),
  require: ['test/helpers/in-process-only.cjs'],
  parallel: true,
  jobs: 3,
};
