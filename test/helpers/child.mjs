// Child processes for the tests and the bench: any child that prints the ready line
// (test/helpers/ready.mjs), and the geecache peer fixture (test/fixtures/peer.mjs) alone or as a
// cluster. Plain JavaScript with JSDoc types, so the bench (node) and the tests (tsx) share it.
// @ts-check
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitForReady } from './ready.mjs';

/** The geecache peer in its own process that the tests and the bench start. */
export const PEER_FIXTURE = fileURLToPath(new URL('../fixtures/peer.mjs', import.meta.url));
const CLOCK = new URL('../fixtures/clock-offset.mjs', import.meta.url).href;

/**
 * A started child that printed its ready line.
 * @typedef {object} ChildHandle
 * @property {string} name names it in errors
 * @property {import('node:child_process').ChildProcess} process
 * @property {number | undefined} pid
 * @property {number | undefined} port the port its ready line named (servers only)
 * @property {string} url its base URL (peers), else ''
 * @property {() => string} output what it printed on stdout and stderr so far (the last MiB)
 * @property {(message: { cmd: string, [key: string]: unknown }, timeoutMs?: number) => Promise<any>} call
 *   sends `message` with an id over the IPC channel (children started with `ipc`) and resolves
 *   with the child's { id, result } (rejects with its { id, error })
 * @property {() => Promise<void>} stop kills it (SIGKILL) and resolves once it exited
 */

/**
 * Resolves once `child` (spawned with stdout and stderr piped, and an 'ipc' channel for `call`)
 * prints its ready line; rejects, and kills it, if it exits first or prints none in time.
 * @param {import('node:child_process').ChildProcess} child
 * @param {string} name
 * @param {{ url?: string, readyTimeoutMs?: number }} [options]
 * @returns {Promise<ChildHandle>}
 */
export async function whenReady(child, name, { url = '', readyTimeoutMs = 15_000 } = {}) {
  let nextId = 1;
  /** @type {Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>} */
  const pending = new Map();
  let output = () => '';
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      for (const p of pending.values()) p.reject(new Error(`${name} exited (${code ?? signal}) during a call:\n${output()}`));
      pending.clear();
      resolve(undefined);
    });
  });
  child.on('message', (/** @type {any} */ msg) => {
    const p = msg?.id === undefined ? undefined : pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${name}: ${msg.error}`));
    else p.resolve(msg.result);
  });
  const ready = await waitForReady(child, name, readyTimeoutMs);
  output = ready.output;
  return {
    name,
    process: child,
    pid: child.pid,
    port: ready.port,
    url,
    output: () => output(),
    call(message, timeoutMs = 600_000) {
      if (!child.send) return Promise.reject(new Error(`${name} has no IPC channel`));
      if (!running(child)) return Promise.reject(new Error(`${name} is not running:\n${output()}`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name} did not answer ${JSON.stringify(message.cmd)} within ${timeoutMs} ms`));
        }, timeoutMs);
        const settle = (/** @type {() => void} */ fn) => {
          clearTimeout(timer);
          fn();
        };
        pending.set(id, { resolve: (v) => settle(() => resolve(v)), reject: (e) => settle(() => reject(e)) });
        child.send?.({ ...message, id });
      });
    },
    async stop() {
      if (running(child)) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** @param {import('node:child_process').ChildProcess} child */
const running = (child) => child.exitCode === null && child.signalCode === null;

/**
 * Kills one process (SIGKILL) and resolves once it exited.
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
export function stop(child) {
  if (!running(child)) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * Stops every handle given (undefined ones are skipped) and waits until all are gone.
 * @param {(ChildHandle | undefined)[]} handles
 * @returns {Promise<void>}
 */
export async function stopAll(handles) {
  await Promise.all(handles.map((h) => h?.stop()));
}

/**
 * A port that was free a moment ago on 127.0.0.1, for a child to listen on next. Chosen at random
 * below Linux's ephemeral range (32768-60999): a port the kernel hands out (listen(0)) is one it
 * may also give to the next outgoing connection of any process before the child binds it.
 * @returns {Promise<number>}
 */
export async function freePort() {
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('freePort: no free port found in 100 tries between 20000 and 32000');
}

/**
 * `n` different ports, each free a moment ago (see freePort).
 * @param {number} n
 * @returns {Promise<number[]>}
 */
export async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/** @param {number} port */
function canListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Config of one child peer: JSON in the fixture's argv (test/fixtures/peer.mjs says what each does).
 * @typedef {object} PeerConfig
 * @property {number} port
 * @property {string} [host] address to listen on; default 127.0.0.1 (all of 127.0.0.0/8 is loopback)
 * @property {string | number} self
 * @property {string[] | Record<string, unknown>} [peers] a list, or a discovery source (JSON: dns / srv)
 * @property {string | false} [secret]
 * @property {string} [basePath]
 * @property {'default' | 'groupcache'} [ring]
 * @property {number} [timeoutMs]
 * @property {number} [backoffMs]
 * @property {number} [getterDelayMs]
 * @property {number} [slowGetterMs] delay of the getter for keys starting with "slow:"
 * @property {number} [loadTimeoutMs]
 * @property {number} [maxBytes]
 * @property {boolean} [fastPath]
 * @property {number} [handoffMs]
 * @property {boolean} [drainOnSigterm]
 * @property {'node-fetch' | 'undici'} [transport] the peer client (default node-fetch)
 * @property {boolean} [batch] send concurrent gets to one peer as a batch (default true)
 * @property {{ key: string, cert: string }} [tls] serve https with this PEM key and certificate (file paths)
 * @property {string} [mount] mount the middleware under this path (a mistake, on purpose)
 * @property {number} [rateLimit] a per-IP rate limiter of this many requests in front of the middleware
 * @property {number} [ttlMs] group option of "scores"
 * @property {number} [staleMs] group option of "scores"
 * @property {number} [hotTtlMs] group option of "scores"
 * @property {number} [notFoundTtlMs] group option of "scores"
 * @property {number} [valueBytes] the bench's values: this many bytes of the key's text
 * @property {boolean} [metrics] false: no Prometheus registry
 * @property {number} [hotCacheFraction]
 */

/**
 * Starts the peer fixture and resolves once it listens.
 * @param {PeerConfig} config
 * @param {{ env?: Record<string, string>, nodeArgs?: string[], ipc?: boolean, onSpawn?: (child: import('node:child_process').ChildProcess) => void }} [options]
 *   env: added to this process's environment; nodeArgs: go to node before the script (e.g. a
 *   preload); ipc: open an IPC channel (the fixture then answers the bench's commands: `call`);
 *   onSpawn: sees the child before it is ready (the bench registers it for cleanup)
 * @returns {Promise<ChildHandle>}
 */
export function startChildPeer(config, { env = {}, nodeArgs = [], ipc = false, onSpawn } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, PEER_FIXTURE, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? /** @type {const} */ (['ipc']) : [])],
    env: { ...process.env, ...env },
  });
  onSpawn?.(child);
  const url = typeof config.self === 'string' ? config.self : `http://${config.host ?? '127.0.0.1'}:${config.port}`;
  return whenReady(child, `peer ${url}`, { url });
}

/**
 * A cluster of child peers.
 * @typedef {object} ChildCluster
 * @property {ChildHandle[]} peers
 * @property {string[]} urls
 * @property {() => Promise<void>} stop
 */

/**
 * `n` child peers on free loopback ports, each knowing all the others (over https when `extra.tls` is given).
 * @param {number} n
 * @param {Partial<PeerConfig>} [extra]
 * @param {Record<string, string>} [env]
 * @returns {Promise<ChildCluster>}
 */
export async function startCluster(n, extra = {}, env = {}) {
  // A port found free can still be taken before the child binds it (other processes run too):
  // then the whole cluster starts again on new ports, since every peer lists every URL.
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(n);
    const urls = ports.map((p) => `${extra.tls ? 'https' : 'http'}://127.0.0.1:${p}`);
    const started = await Promise.allSettled(
      ports.map((port, i) => startChildPeer({ port, self: urls[i], peers: urls, secret: 'test-secret-0123456789', ...extra }, { env })),
    );
    const peers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = started.find((r) => r.status === 'rejected');
    if (!failure) return { peers, urls, stop: () => stopAll(peers) };
    await stopAll(peers);
    if (attempt >= 3 || !String(failure.reason?.message).includes('EADDRINUSE')) throw failure.reason;
  }
}

/**
 * A node argument that preloads a shifted clock: Date.now() (and new Date()) run `offsetMs` ahead.
 * @param {number} offsetMs
 * @returns {string[]}
 */
export function clockOffset(offsetMs) {
  return ['--import', `${CLOCK}?offset=${offsetMs}`];
}
