// `npm run test:unit`: the in-process tests only, test/unit/. Tests that start child processes
// (peers, Go, dnsmasq, Prometheus, Chromium, npm) live in test/process/; test/helpers/in-process-only.cjs
// fails any test here that starts one, with a message that says to move it.
const base = require('../.mocharc.json');

module.exports = {
  ...base,
  spec: ['test/unit/**/*.test.ts'],
  require: ['test/helpers/in-process-only.cjs'],
  parallel: true,
  jobs: 4,
};
