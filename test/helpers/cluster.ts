import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitForReady } from './ready.mjs';

const PEER = fileURLToPath(new URL('../fixtures/peer.mjs', import.meta.url));
const CLOCK = new URL('../fixtures/clock-offset.mjs', import.meta.url).href;

/**
 * A port that was free a moment ago on 127.0.0.1, for a child to listen on next. Chosen at random
 * below Linux's ephemeral range (32768-60999): a port the kernel hands out (listen(0)) is one it
 * may also give to the next outgoing connection of any process before the child binds it.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('freePort: no free port found in 100 tries between 20000 and 32000');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Config of one child peer (see test/fixtures/peer.mjs). */
export interface PeerConfig {
  port: number;
  /** Address to listen on; default 127.0.0.1 (all of 127.0.0.0/8 is loopback). */
  host?: string;
  self: string | number;
  /** A list, or a discovery source (JSON: dns / srv, not a function). */
  peers: string[] | Record<string, unknown>;
  secret?: string | false;
  basePath?: string;
  ring?: 'default' | 'groupcache';
  timeoutMs?: number;
  backoffMs?: number;
  getterDelayMs?: number;
  /** Delay of the getter for keys starting with "slow:". */
  slowGetterMs?: number;
  loadTimeoutMs?: number;
  maxBytes?: number;
  fastPath?: boolean;
  handoffMs?: number;
  drainOnSigterm?: boolean;
  /** The peer client: 'node-fetch' (default) or 'undici'. */
  transport?: 'node-fetch' | 'undici';
  /** Send concurrent gets to one peer as a batch (default true). */
  batch?: boolean;
  /** Serve https with this PEM key and certificate (file paths); `self` and `peers` then use https://. */
  tls?: { key: string; cert: string };
  /** Mount the middleware under this path (app.use(mount, cache)): a mistake, on purpose. */
  mount?: string;
  /** Put a per-IP rate limiter of this many requests in front of the middleware. */
  rateLimit?: number;
  /** Group options of "scores" (see GroupOptions). */
  ttlMs?: number;
  staleMs?: number;
  hotTtlMs?: number;
  notFoundTtlMs?: number;
}

/** A started child peer. */
export interface ChildPeer {
  url: string;
  process: ChildProcess;
  /** Output so far, for failure messages. */
  output(): string;
}

/**
 * Starts test/fixtures/peer.mjs and resolves once it listens. `env` is added to this process's
 * environment; `nodeArgs` go to node before the script (e.g. a preload).
 */
export function startPeer(config: PeerConfig, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<ChildPeer> {
  const child = spawn(process.execPath, [...nodeArgs, PEER, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const url = typeof config.self === 'string' ? config.self : `http://${config.host ?? '127.0.0.1'}:${config.port}`;
  return whenReady(child, url, `peer ${url}`);
}

/** Resolves once `child` prints its ready line (test/helpers/ready.mjs); `label` names it in errors. */
export async function whenReady(child: ChildProcess, url: string, label: string): Promise<ChildPeer> {
  const { output } = await waitForReady(child, label);
  return { url, process: child, output };
}

/** N peers on free loopback ports, each knowing all the others (over https when `extra.tls` is given). */
export async function startCluster(
  n: number,
  extra: Partial<PeerConfig> = {},
  env: Record<string, string> = {},
): Promise<{ peers: ChildPeer[]; urls: string[]; stop(): Promise<void> }> {
  // A port found free can still be taken before the child binds it (other processes run too):
  // then the whole cluster starts again on new ports, since every peer lists every URL.
  for (let attempt = 1; ; attempt++) {
    const ports = await Promise.all(Array.from({ length: n }, freePort));
    const urls = ports.map((p) => `${extra.tls ? 'https' : 'http'}://127.0.0.1:${p}`);
    const started = await Promise.allSettled(
      ports.map((port, i) => startPeer({ port, self: urls[i], peers: urls, secret: 'test-secret-0123456789', ...extra }, env)),
    );
    const peers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = started.find((r) => r.status === 'rejected');
    if (!failure) return { peers, urls, stop: () => stopAll(peers) };
    await stopAll(peers);
    if (attempt >= 3 || !String(failure.reason?.message).includes('EADDRINUSE')) throw failure.reason;
  }
}

/** A node argument that preloads a shifted clock: Date.now() (and new Date()) run `offsetMs` ahead. */
export function clockOffset(offsetMs: number): string[] {
  return ['--import', `${CLOCK}?offset=${offsetMs}`];
}

/** Kills peers and waits until they are gone. */
export async function stopAll(peers: ChildPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => stop(p.process)));
}

/** Kills one process and waits for its exit. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
