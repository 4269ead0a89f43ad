// Belady's OPT, the offline optimum no cache policy can beat: on a miss with the cache full,
// evict the key whose next use is farthest in the future. Next uses are precomputed backwards;
// the cached keys sit in a binary max-heap by next use, with stale heap entries skipped lazily.

/**
 * Hit ratio of OPT with room for `capacity` entries.
 * @param {Int32Array} accesses dense key numbers
 * @param {number} distinct
 * @param {number} capacity
 */
export function optHitRatio(accesses, distinct, capacity) {
  const n = accesses.length;
  const never = n + 1;
  const next = new Int32Array(n);
  const last = new Int32Array(distinct).fill(never);
  for (let i = n - 1; i >= 0; i--) {
    next[i] = last[accesses[i]];
    last[accesses[i]] = i;
  }
  /** Each cached key's next use; -1 when not cached. */
  const nextUse = new Int32Array(distinct).fill(-1);
  const heapAt = new Int32Array(n + 1);
  const heapKey = new Int32Array(n + 1);
  let size = 0;
  const push = (at, key) => {
    let i = size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heapAt[parent] >= at) break;
      heapAt[i] = heapAt[parent];
      heapKey[i] = heapKey[parent];
      i = parent;
    }
    heapAt[i] = at;
    heapKey[i] = key;
  };
  const pop = () => {
    const at = heapAt[--size];
    const key = heapKey[size];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= size) break;
      if (child + 1 < size && heapAt[child + 1] > heapAt[child]) child++;
      if (heapAt[child] <= at) break;
      heapAt[i] = heapAt[child];
      heapKey[i] = heapKey[child];
      i = child;
    }
    heapAt[i] = at;
    heapKey[i] = key;
  };
  let held = 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const key = accesses[i];
    if (nextUse[key] >= 0) hits++;
    else if (held >= capacity) {
      while (nextUse[heapKey[0]] !== heapAt[0]) pop(); // entries of keys since used again or evicted
      nextUse[heapKey[0]] = -1;
      pop();
    } else held++;
    nextUse[key] = next[i];
    push(next[i], key);
  }
  return hits / n;
}
