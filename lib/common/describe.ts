/**
 * describe.ts names a value in an error message: what a getter returned, what a discovery source
 * answered, what was thrown. One helper, so every message says it the same way and none can throw
 * or grow without bound on a hostile value.
 */

/**
 * What `value` is: `null`, `undefined`, a `typeof` ('number', 'function'), or an object's class
 * ('Object', 'Array', 'Map'; 'object without prototype'). With `shown` > 0, followed by up to that
 * many characters of its JSON (`string "ftp://x"`), for values the developer wrote themselves.
 * Never throws (a Proxy whose traps throw is 'object').
 */
export function describe(value: unknown, shown = 0): string {
  const kind = kindOf(value);
  if (shown <= 0 || value === null || value === undefined || typeof value === 'function' || typeof value === 'symbol') return kind;
  let text: string | undefined;
  try {
    text = typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  } catch {
    text = undefined; // cycles, throwing getters and toJSONs
  }
  if (text === undefined) return kind;
  return `${kind} ${text.length > shown ? `${text.slice(0, shown)}…` : text}`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  try {
    const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
    if (proto === null) return 'object without prototype';
    const name = proto.constructor?.name;
    return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,63}$/.test(name) ? name : 'object';
  } catch {
    return 'object';
  }
}
