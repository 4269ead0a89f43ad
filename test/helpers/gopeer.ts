import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ChildPeer, whenReady } from './cluster.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GO_DIR = fileURLToPath(new URL('../go/', import.meta.url));
/** test/go/bin/ is gitignored: the binary, an empty GOPATH entry and the build cache live there. */
const BIN_DIR = `${GO_DIR}bin/`;
const BINARY = `${BIN_DIR}groupcache-peer`;
/** Debian's golang-github-golang-groupcache-dev (and its protobuf dependency) install here. */
const DEBIAN_GOPATH = '/usr/share/gocode';

/** True when a `go` toolchain is on PATH. */
export function goAvailable(): boolean {
  const result = spawnSync('go', ['version'], { stdio: 'ignore' });
  return result.error === undefined && result.status === 0;
}

let built: Promise<string> | undefined;

/**
 * Builds test/go/peer (a golang/groupcache peer) into test/go/bin/ once per process, offline:
 * GOPATH mode against Debian's packaged sources, with a build cache kept in test/go/bin/ so
 * later runs only relink. Resolves to the binary's path.
 */
export function buildGoPeer(): Promise<string> {
  built ??= new Promise<string>((resolve, reject) => {
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
    execFile('go', ['build', '-o', BINARY, './test/go/peer'], { cwd: ROOT, env, timeout: 170_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(BINARY);
      const hint = stderr.includes('cannot find package')
        ? `\n(is golang-github-golang-groupcache-dev installed? apt-get install -y golang-go golang-github-golang-groupcache-dev)`
        : '';
      reject(new Error(`go build of test/go/peer failed: ${err.message}\n${stdout}${stderr}${hint}`));
    });
  });
  return built;
}

/** Config of one Go peer: its URL (as the ring hashes it), every peer's URL, its port. */
export interface GoPeerConfig {
  port: number;
  self: string;
  peers: string[];
}

/**
 * Builds (once) and starts the Go peer; resolves once it listens. Stop it with stop()/stopAll()
 * from ./cluster.js.
 */
export async function startGoPeer(config: GoPeerConfig): Promise<ChildPeer> {
  const binary = await buildGoPeer();
  const args = ['-self', config.self, '-peers', config.peers.join(','), '-port', String(config.port)];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return whenReady(child, config.self, `Go peer ${config.self}`);
}
