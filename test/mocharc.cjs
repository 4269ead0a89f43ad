// `npm test`: every test, files side by side. Most of a process test's time is waiting (timers,
// child processes starting, peers timing out), so more workers than cores shorten the run; each
// test picks free ports (test/helpers/child.mjs freePort, listen(0)), so files do not collide.
// The two longest files go first, so no worker starts them last.
const base = require('../.mocharc.json');

const FIRST = ['memory', 'bench-smoke'];

module.exports = {
  ...base,
  spec: [...FIRST.map((name) => `test/process/${name}.test.ts`), `test/process/!(${FIRST.join('|')}).test.ts`, 'test/unit/**/*.test.ts'],
  parallel: true,
  jobs: 4,
};
