// Waiting in tests and in the bench: for a time (sleep), or for a state (until). Plain JavaScript
// with JSDoc types, so the bench (run by node) and the tests (run through tsx) share one copy.
// @ts-check

/**
 * Resolves after `ms` milliseconds.
 * @param {number} ms
 * @returns {Promise<void>}
 */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every `everyMs` until it holds: waits for a state, not for a time. Throws, naming
 * `what` (and `state()`, when given), if it still does not hold after `timeoutMs`.
 * @param {string} what
 * @param {() => boolean | Promise<boolean>} check
 * @param {{ timeoutMs?: number, everyMs?: number, state?: () => unknown }} [options]
 * @returns {Promise<void>}
 */
export async function until(what, check, { timeoutMs = 20_000, everyMs = 10, state } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() >= deadline) break;
    await sleep(everyMs);
  }
  throw new Error(`${what}: still not so after ${timeoutMs} ms${state ? `; state: ${JSON.stringify(state())}` : ''}`);
}
