// `npm test` runs this first (pretest): when a tool the tests use is missing and this machine lets
// us install it (root, or sudo without a password), scripts/install-test-deps.sh installs it.
// Otherwise (or when the install fails, e.g. offline) it says so and the run goes on: the tests
// that need the tool skip, and the summary names what to install. GEECACHE_NO_INSTALL=1: never install.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { INSTALL_COMMAND, missingPackages } from '../test/helpers/tools.mjs';

const missing = missingPackages();
if (missing.length > 0) {
  const skipped = 'the tests that need them will be skipped';
  const root = process.getuid?.() === 0;
  const sudo = !root && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (process.env.GEECACHE_NO_INSTALL) {
    console.log(`npm test: not installed: ${missing.join(' ')}; GEECACHE_NO_INSTALL is set, so ${skipped}`);
  } else if (!root && !sudo) {
    console.log(`npm test: not installed: ${missing.join(' ')}; no root or password-less sudo to install them, so ${skipped} (install: sudo ${INSTALL_COMMAND})`);
  } else {
    console.log(`npm test: installing ${missing.join(' ')} (${INSTALL_COMMAND})`);
    const script = fileURLToPath(new URL('install-test-deps.sh', import.meta.url));
    const run = spawnSync(script, { stdio: 'inherit', timeout: 20 * 60_000 });
    if (run.status !== 0) console.log(`npm test: the install failed (offline?), so ${skipped}`);
  }
}
