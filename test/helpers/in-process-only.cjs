// Loaded by `npm run test:unit` (mocha --require): that run is for in-process tests, so a test
// that starts a child process fails at once, saying what to do, instead of slowing the fast run.
const childProcess = require('node:child_process');
const { syncBuiltinESMExports } = require('node:module');

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
  childProcess[name] = () => {
    throw new Error(
      `npm run test:unit runs in-process tests only, and this test called child_process.${name}: add its file to STARTS_PROCESSES in test/mocharc.unit.cjs`,
    );
  };
}
syncBuiltinESMExports();
