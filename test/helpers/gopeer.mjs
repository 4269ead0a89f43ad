// The golang/groupcache peer (test/go/peer): built once per process, offline, in GOPATH mode
// against Debian's golang-github-golang-groupcache-dev, and started as a child process. The interop
// test talks to it; the bench's peer-serve row measures it as the reference a Go user would run.
// @ts-check
import { execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { whenReady } from './child.mjs';
import { DEBIAN_GOPATH, INSTALL_COMMAND, mustFind } from './tools.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** test/go/bin/ is gitignored: the binary, an empty GOPATH entry and the build cache live there. */
const BIN_DIR = fileURLToPath(new URL('../go/bin/', import.meta.url));
const BINARY = `${BIN_DIR}groupcache-peer`;

/** @type {Promise<string> | undefined} */
let built;

/**
 * Builds test/go/peer into test/go/bin/ once per process (a build cache kept there makes later
 * runs only relink). Resolves to the binary's path, or rejects with the compiler's output.
 * @returns {Promise<string>}
 */
export function buildGoPeer() {
  built ??= new Promise((resolve, reject) => {
    const go = mustFind('go');
    mkdirSync(`${BIN_DIR}gopath`, { recursive: true });
    const env = {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: `${BIN_DIR}gopath:${DEBIAN_GOPATH}`,
      GOCACHE: process.env.GEECACHE_GOCACHE ?? `${BIN_DIR}gocache`,
      GOFLAGS: '',
      GOPROXY: 'off',
      GOTOOLCHAIN: 'local',
    };
    execFile(go, ['build', '-o', BINARY, './test/go/peer'], { cwd: ROOT, env, timeout: 170_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(BINARY);
      const hint = stderr.includes('cannot find package') ? `\n(is golang-github-golang-groupcache-dev installed? ${INSTALL_COMMAND} installs it)` : '';
      reject(new Error(`go build of test/go/peer failed: ${err.message}\n${stdout}${stderr}${hint}`));
    });
  });
  return built;
}

/**
 * Builds (once) and starts the Go peer; resolves once it listens. `self` is its URL as the ring
 * hashes it, `peers` every peer's URL; `valueBytes` makes its values that many bytes of the key
 * repeated (the bench's values) instead of the interop test's.
 * @param {{ port: number, self: string, peers: string[], valueBytes?: number }} config
 * @param {{ onSpawn?: (child: import('node:child_process').ChildProcess) => void }} [options] onSpawn: sees the child before it is ready
 * @returns {Promise<import('./child.mjs').ChildHandle>}
 */
export async function startGoPeer({ port, self, peers, valueBytes }, { onSpawn } = {}) {
  const binary = await buildGoPeer();
  const args = ['-self', self, '-peers', peers.join(','), '-port', String(port)];
  if (valueBytes !== undefined) args.push('-value-bytes', String(valueBytes));
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  onSpawn?.(child);
  return whenReady(child, `Go peer ${self}`, { url: self });
}
