// A worker thread of the hit-ratio row: replays one trace at one capacity through a Group of one
// policy (replay.mjs) and posts the result, so the row's replays use every core.
import { parentPort } from 'node:worker_threads';
import { replayGroup } from './replay.mjs';
import { keyNames, loadTrace, TRACES } from './traces.mjs';

/** @type {Map<string, { accesses: Int32Array, keys: string[] }>} */
const loaded = new Map();

parentPort?.on('message', async ({ id, trace, capacity, policy, limit }) => {
  try {
    let t = loaded.get(trace);
    if (!t) {
      loaded.clear();
      const { accesses, distinct } = loadTrace(/** @type {(typeof TRACES)[number]} */ (TRACES.find((x) => x.name === trace)));
      t = { accesses: limit > 0 && accesses.length > limit ? accesses.subarray(0, limit) : accesses, keys: keyNames(distinct) };
      loaded.set(trace, t);
    }
    const started = Date.now();
    const result = await replayGroup(t.accesses, t.keys, capacity, policy);
    parentPort?.postMessage({ id, result: { ...result, ms: Date.now() - started } });
  } catch (err) {
    parentPort?.postMessage({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
