// The one readiness protocol of every child process the tests and the bench start (geecache
// peers, the Go peer, the bench's load generator and measuring children): the child prints the
// line "ready <port>" (or "ready", when it listens on nothing) on stdout once it serves.

/** Output kept per child, for failure messages and tests that read a peer's log lines. */
const KEEP = 1 << 20;

/**
 * Resolves once `child` prints its ready line, with the port it named. Rejects, and kills the
 * child, if it exits, cannot run, or prints no ready line within `timeoutMs`. `output()` returns
 * what it has printed on stdout and stderr so far (the last MiB), before and after it was ready.
 * @param {import('node:child_process').ChildProcess} child started with stdout and stderr piped
 * @param {string} label names the child in errors
 * @param {number} [timeoutMs]
 * @returns {Promise<{ port: number | undefined, output: () => string }>}
 */
export function waitForReady(child, label, timeoutMs = 15_000) {
  let out = '';
  let ready = false;
  const output = () => out;
  const keep = (/** @type {Buffer} */ d) => {
    out += d;
    if (out.length > KEEP) out = out.slice(-KEEP);
  };
  child.stderr?.on('data', keep);
  return new Promise((resolve, reject) => {
    const fail = (/** @type {string} */ why) => {
      clearTimeout(timer);
      if (ready) return;
      child.kill('SIGKILL');
      reject(new Error(`${label} ${why}:\n${out}`));
    };
    const timer = setTimeout(() => fail(`printed no ready line within ${timeoutMs} ms`), timeoutMs);
    child.stdout?.on('data', (d) => {
      keep(d);
      const line = ready ? null : /^ready(?: (\d+))?$/m.exec(out);
      if (line) {
        ready = true;
        clearTimeout(timer);
        resolve({ port: line[1] === undefined ? undefined : Number(line[1]), output });
      }
    });
    child.on('error', (err) => fail(`could not run: ${err.message}`));
    child.on('exit', (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
  });
}
