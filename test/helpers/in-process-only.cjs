// Loaded by `npm run test:unit` (mocha --require): that run is for in-process tests, so a test
// that starts a child process fails at once, saying what to do, instead of slowing the fast run.
// Mocha's own workers (the run is --parallel: workerpool forks them) are the one exception.
const childProcess = require('node:child_process');
const { syncBuiltinESMExports } = require('node:module');

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
  const original = childProcess[name];
  childProcess[name] = function (...args) {
    if (/[\\/]node_modules[\\/]workerpool[\\/]/.test(new Error().stack ?? '')) return original.apply(this, args);
    throw new Error(`npm run test:unit runs in-process tests only, and this test called child_process.${name}: move its file to test/process/`);
  };
}
syncBuiltinESMExports();
