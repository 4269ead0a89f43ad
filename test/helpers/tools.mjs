// The machine's tools that some tests (and the bench) run for real, the Debian packages that
// install them (scripts/install-test-deps.sh), and what a test does when one is missing: skip,
// saying so, unless GEECACHE_REQUIRE_ALL is set (.ci/run), which makes it fail instead.
// @ts-check
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';

/** The command that installs every missing package (as root, or with sudo). */
export const INSTALL_COMMAND = 'scripts/install-test-deps.sh';

/** Where Debian's golang-github-golang-groupcache-dev puts its sources (the Go peer builds against them). */
export const DEBIAN_GOPATH = '/usr/share/gocode';

/**
 * Each tool: the packages that install it and where to find it. Binaries are looked up on PATH
 * and in the sbin directories (dnsmasq lives in /usr/sbin, off a user's PATH);
 * GEECACHE_PROMETHEUS and GEECACHE_CHROMIUM name other binaries.
 * @type {Record<string, { packages: string[], binary: string, env?: string, also?: string }>}
 */
const TOOLS = {
  go: { packages: ['golang-go', 'golang-github-golang-groupcache-dev'], binary: 'go', also: `${DEBIAN_GOPATH}/src/github.com/golang/groupcache` },
  openssl: { packages: ['openssl'], binary: 'openssl' },
  dnsmasq: { packages: ['dnsmasq'], binary: 'dnsmasq' },
  prometheus: { packages: ['prometheus'], binary: 'prometheus', env: 'GEECACHE_PROMETHEUS' },
  chromium: { packages: ['chromium'], binary: 'chromium', env: 'GEECACHE_CHROMIUM' },
  'redis-server': { packages: ['redis-server'], binary: 'redis-server' },
  wrk: { packages: ['wrk'], binary: 'wrk' },
};

/** @typedef {'go' | 'openssl' | 'dnsmasq' | 'prometheus' | 'chromium' | 'redis-server' | 'wrk'} Tool */

/** @param {string} file */
function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * The tool's binary (an absolute path), or undefined when it is not installed.
 * @param {Tool} tool
 * @returns {string | undefined}
 */
export function toolPath(tool) {
  const { binary, env, also } = TOOLS[tool];
  if (also && !existsSync(also)) return undefined;
  const override = env && process.env[env];
  if (override) return executable(override) ? override : undefined;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir && executable(path.join(dir, binary))) return path.join(dir, binary);
  }
  return undefined;
}

/**
 * The tool's binary; throws, naming the package and the install command, when it is missing.
 * @param {Tool} tool
 */
export function mustFind(tool) {
  const found = toolPath(tool);
  if (!found) throw new Error(`${tool} is not installed: ${INSTALL_COMMAND} installs ${TOOLS[tool].packages.join(' ')}`);
  return found;
}

/**
 * The Debian packages of the tools not installed, every tool by default.
 * @param {Tool[]} [tools]
 */
export function missingPackages(tools = /** @type {Tool[]} */ (Object.keys(TOOLS))) {
  return [...new Set(tools.filter((t) => !toolPath(t)).flatMap((t) => TOOLS[t].packages))];
}

/**
 * For a mocha hook or test that needs `tools`: returns when all are installed; otherwise skips
 * (`ctx.skip()`, after a line saying which packages are missing), or throws under
 * GEECACHE_REQUIRE_ALL (CI must run every test).
 * @param {{ skip(): void }} ctx mocha's `this`
 * @param {...Tool} tools
 */
export function needs(ctx, ...tools) {
  const missing = missingPackages(tools);
  if (missing.length === 0) return;
  const why = `not installed: ${missing.join(' ')} (${INSTALL_COMMAND} installs them)`;
  if (process.env.GEECACHE_REQUIRE_ALL) throw new Error(`GEECACHE_REQUIRE_ALL is set, and this test needs what is ${why}`);
  console.log(`      skipped, ${why}`);
  ctx.skip();
}
