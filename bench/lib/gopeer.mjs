// The golang/groupcache peer of the interop test (test/go/peer, built as test/helpers/gopeer.ts
// builds it: GOPATH mode against Debian's golang-github-golang-groupcache-dev, offline), started
// for the peer-serve row as the reference a Go user would run: a real HTTPPool serving one group.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { waitForReady } from '../../test/helpers/ready.mjs';
import { ROOT, track } from './common.mjs';
import { procCpu } from './proccpu.mjs';

const BIN_DIR = path.join(ROOT, 'test', 'go', 'bin');
const BINARY = path.join(BIN_DIR, 'groupcache-peer');
/** Debian's golang-github-golang-groupcache-dev (and its protobuf dependency) install here. */
const DEBIAN_GOPATH = '/usr/share/gocode';

/** What the row prints instead of the Go line when the Go peer cannot be built. */
export const NO_GO =
  'go or golang-github-golang-groupcache-dev not installed (Debian: apt-get install golang-go golang-github-golang-groupcache-dev): Go reference skipped';

/** True when a `go` toolchain is on PATH. */
export function goAvailable() {
  const r = spawnSync('go', ['version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

/**
 * Builds test/go/peer into test/go/bin/ (the tests' binary and build cache: a later build only
 * relinks). Resolves to the binary, or rejects with the compiler's output.
 * @returns {Promise<string>}
 */
export function buildGoPeer() {
  mkdirSync(path.join(BIN_DIR, 'gopath'), { recursive: true });
  const env = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `${path.join(BIN_DIR, 'gopath')}:${DEBIAN_GOPATH}`,
    GOCACHE: process.env.GEECACHE_GOCACHE ?? path.join(BIN_DIR, 'gocache'),
    GOFLAGS: '',
    GOPROXY: 'off',
    GOTOOLCHAIN: 'local',
  };
  return new Promise((resolve, reject) => {
    execFile('go', ['build', '-o', BINARY, './test/go/peer'], { cwd: ROOT, env, timeout: 170_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`go build of test/go/peer failed: ${err.message}\n${stdout}${stderr}`)) : resolve(BINARY),
    );
  });
}

/**
 * Starts the Go peer alone in its cluster on 127.0.0.1:`port`, its values `valueBytes` bytes of
 * the key repeated (the bench's node servers' values). The handle answers the `cpu` command from
 * /proc (all of the Go runtime's threads).
 * @param {string} binary
 * @param {number} port
 * @param {number} valueBytes
 * @returns {Promise<import('./types.js').ChildHandle>}
 */
export async function startGoPeer(binary, port, valueBytes) {
  const self = `http://127.0.0.1:${port}`;
  const args = ['-self', self, '-peers', self, '-port', String(port), '-value-bytes', String(valueBytes)];
  const child = track(spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const ready = await waitForReady(child, `Go peer ${self}`);
  const pid = /** @type {number} */ (child.pid);
  return {
    name: `go:${port}`,
    process: child,
    pid,
    port,
    output: ready.output,
    async call(message) {
      if (message.cmd !== 'cpu') throw new Error(`Go peer handle: no command ${message.cmd}`);
      return procCpu(pid);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
