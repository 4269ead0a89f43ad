// Slow-body attacks on a peer over raw sockets, for the test of batch bodies and the signature
// (test/process/body-auth.test.ts) and the bench that measures what they make a peer hold
// (bench/body-memory.mjs): a connection that sends a body but its last byte, and the peak of the
// peer's memory (its /_test/memory route, test/fixtures/peer.mjs) while attacks run. Plain
// JavaScript with JSDoc types: bench/ imports it under plain node.
import net from 'node:net';
import { sleep } from './wait.mjs';

/**
 * Opens a connection to 127.0.0.1:`port`, sends `head` and then a `bodyBytes` body but its last
 * byte (so a server that reads waits for the rest): in 64 KiB writes that wait for the socket to
 * drain, as a real client would, or with `drip` a byte every 100 ms; stops writing once the server
 * answers or closes. Gives up (closes) after `waitMs`.
 * @param {number} port
 * @param {string} head
 * @param {{ bodyBytes: number, drip?: boolean, waitMs: number }} options
 * @returns {Promise<{ answer: string, closedByServer: boolean, ms: number }>} what the server sent
 *   before the connection closed (latin1), whether the server closed it (not we, at `waitMs`), and when.
 */
export function sendBodyButLastByte(port, head, { bodyBytes, drip = false, waitMs }) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const t0 = performance.now();
    let answer = '';
    let closed = false;
    let closedByServer = true;
    const timer = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, waitMs);
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => {}); // EPIPE/ECONNRESET once the server closed on us: expected
    socket.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ answer, closedByServer, ms: performance.now() - t0 });
    });
    socket.write(head);
    const chunk = Buffer.alloc(64 << 10, 7);
    (async () => {
      for (let sent = 0; sent < bodyBytes - 1 && !closed && answer === ''; sent += drip ? 1 : chunk.length) {
        if (drip) {
          socket.write('x');
          await sleep(100);
        } else if (!socket.write(chunk.subarray(0, Math.min(chunk.length, bodyBytes - 1 - sent))))
          await new Promise((r) => {
            socket.once('drain', r);
            socket.once('close', r);
          });
      }
    })();
  });
}

/**
 * Samples the peer's memory (process.memoryUsage() over its /_test/memory route) every 50 ms while
 * `run` runs, and once after; the first sample and the largest arrayBuffers and rss seen.
 * @template T
 * @param {string} url the peer's
 * @param {() => Promise<T>} run
 * @returns {Promise<{ result: T, start: NodeJS.MemoryUsage, peak: { arrayBuffers: number, rss: number } }>}
 */
export async function peakMemory(url, run) {
  const sample = async () => {
    // One retry: a keep-alive socket the server just closed fails the first try.
    for (let i = 0; ; i++) {
      try {
        return /** @type {NodeJS.MemoryUsage} */ (await (await fetch(`${url}/_test/memory`)).json());
      } catch (err) {
        if (i > 0) throw err;
      }
    }
  };
  const start = await sample();
  const peak = { arrayBuffers: start.arrayBuffers, rss: start.rss };
  const take = (/** @type {NodeJS.MemoryUsage} */ m) => {
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
    peak.rss = Math.max(peak.rss, m.rss);
  };
  let running = true;
  const sampler = (async () => {
    for (let i = 0; running && i < 1_000; i++) {
      take(await sample());
      await sleep(50);
    }
  })();
  const result = await run();
  take(await sample());
  running = false;
  await sampler;
  return { result, start, peak };
}
