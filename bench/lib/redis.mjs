// A real redis-server for the rows that compare with Express + Redis: Debian's binary, on
// 127.0.0.1 and a free port, persistence off, killed with the bench's other children.
import { spawn } from 'node:child_process';
import { INSTALL_COMMAND, toolPath } from '../../test/helpers/tools.mjs';
import { sleep } from '../../test/helpers/wait.mjs';
import { pinned, track } from './common.mjs';
import { procCpu } from './proccpu.mjs';

/** The redis-server binary, or undefined when it is not installed (the rows then skip with a message). */
export function findRedis() {
  return toolPath('redis-server');
}

/** What a row prints instead of Redis figures when redis-server is missing. */
export const NO_REDIS = `redis-server not installed (${INSTALL_COMMAND} installs it): Redis comparison skipped`;

/**
 * Starts redis-server on `port` and resolves once it accepts connections. The handle answers the
 * bench's `cpu` command from /proc, so the throughput harness can count Redis's CPU per request.
 * @param {string} bin
 * @param {number} port
 * @param {string} [cpus] pin to these CPUs (taskset)
 * @returns {Promise<import('./types.js').ChildHandle>}
 */
export async function startRedis(bin, port, cpus) {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'];
  const child = track(spawn(...pinned(cpus, bin, args), { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  // Ready once a connection succeeds (loglevel warning prints no ready line).
  const net = await import('node:net');
  for (let i = 0; ; i++) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) break;
    if (i >= 100 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on port ${port}:\n${output}`);
    }
    await sleep(50);
  }
  const pid = child.pid;
  return {
    name: `redis:${port}`,
    url: `redis://127.0.0.1:${port}`,
    process: child,
    pid,
    port,
    output: () => output,
    async call(message) {
      if (message.cmd !== 'cpu') throw new Error(`redis handle: no command ${message.cmd}`);
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
