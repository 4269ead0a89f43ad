// The child side of bench/lib/common.mjs's startChild: config from argv[2], commands over IPC,
// and an exit as soon as the parent goes away (so no bench process outlives the bench).
export const config = JSON.parse(process.argv[2] ?? '{}');

if (!process.send) {
  console.error('bench children are started by bench/run.mjs (they need an IPC channel)');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

/** Answers { cmd, id } messages with handlers[cmd](message). */
export function serve(handlers) {
  process.on('message', async (/** @type {any} */ msg) => {
    if (!msg || msg.id === undefined) return;
    const handler = handlers[msg.cmd];
    try {
      if (!handler) throw new Error(`unknown command ${msg.cmd}`);
      process.send?.({ id: msg.id, result: await handler(msg) });
    } catch (err) {
      process.send?.({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
}

/** Tells the parent this child serves: the ready line of test/helpers/ready.mjs. */
export function ready(port) {
  console.log(port === undefined ? 'ready' : `ready ${port}`);
}

/** CPU time used by this process so far, with the wall clock, for utilisation over a window. */
export function cpuSample() {
  const { user, system } = process.cpuUsage();
  return { cpuUs: user + system, wallNs: Number(process.hrtime.bigint()) };
}

/** The value every bench server holds for `key`: `bytes` bytes, the key's text repeated. */
export function valueFor(key, bytes) {
  return Buffer.alloc(bytes, key || '-');
}

/** Indices masked by this wrap around {@link accessOrder}'s 65,536 entries. */
export const MASK = (1 << 16) - 1;

/**
 * One fixed pseudo-random access order over `keyCount` keys (xorshift32 from a fixed seed), so
 * every contender of a row reads the same keys in the same order: index it with `i & MASK`.
 */
export function accessOrder(keyCount) {
  const order = new Uint32Array(MASK + 1);
  let seed = 0x9e3779b9;
  for (let i = 0; i <= MASK; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    order[i] = (seed >>> 0) % keyCount;
  }
  return order;
}

/**
 * Times each contender (a function of an op count that returns ns/op): three warm-up rounds, then
 * `runs` rounds in a rotating order so no contender always goes first. Samples by contender.
 * @param {Record<string, (n: number) => Promise<number>>} contenders
 * @param {number} ops
 * @param {number} runs
 * @returns {Promise<Record<string, number[]>>}
 */
export async function sampleInTurns(contenders, ops, runs) {
  const names = Object.keys(contenders);
  for (let w = 0; w < 3; w++) for (const name of names) await contenders[name](Math.max(1000, ops >> 1));
  /** @type {Record<string, number[]>} */
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    for (let j = 0; j < names.length; j++) {
      const name = names[(j + r) % names.length];
      samples[name].push(await contenders[name](ops));
    }
  }
  return samples;
}
