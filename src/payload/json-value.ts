// One walk over a message payload that both VALIDATES it (everything JSON.stringify would
// silently drop, turn into null or {} or throw on is an error naming its path) and NORMALIZES it
// (Date → ISO text, safe BigInt → number, boxed primitives and toJSON() results → their value).
// Normalizing is copy-on-write: a payload that needs no change is returned as the same object,
// so the common case allocates nothing but the walk's own stacks.
import { PayloadError, type PathSegment, describe, formatPath } from './errors';

/** Deeper nesting than this is refused (keeps the walk's recursion far from the stack limit). */
export const MAX_DEPTH = 200;

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const NUMBERS_ONLY = 'ThingsBoard stores JSON numbers only; replace it or';

/** Where the walk is: the path from msg.payload down, and the objects on it (for cycles). */
export class Walk {
  readonly path: PathSegment[] = [];
  readonly ancestors: object[] = [];
  busy = false;

  /** Throws `<path> <problem>: <advice>`; advice ending in "or" gets "drop the key"/"remove the item". */
  fail(problem: string, advice: string): never {
    const where = formatPath('payload', this.path);
    if (advice.endsWith(' or')) {
      advice += typeof this.path[this.path.length - 1] === 'number' ? ' remove the item' : ' drop the key';
    }
    throw new PayloadError(where, `${where} ${problem}: ${advice}`);
  }

  /** `payload.a.self refers back to payload.a`: ancestors[i] sits at path depth i. */
  failCircular(o: object): never {
    const target = formatPath('payload', this.path.slice(0, this.ancestors.indexOf(o)));
    return this.fail(`refers back to ${target} (a circular reference)`, 'JSON cannot represent cycles; remove the back-reference or');
  }

  reset(): void {
    this.path.length = 0;
    this.ancestors.length = 0;
  }
}

// One Walk serves every call: JavaScript runs one call at a time, and a nested call (from inside
// a user's toJSON) gets its own.
const shared = new Walk();

export function acquireWalk(): Walk {
  const w = shared.busy ? new Walk() : shared;
  w.busy = true;
  return w;
}

export function releaseWalk(w: Walk): void {
  w.reset();
  w.busy = false;
}

/** Validates and normalizes any JSON value at the walk's current path. */
export function jsonValue(v: unknown, w: Walk): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : w.fail(`is ${v}`, NUMBERS_ONLY);
    case 'bigint':
      return v >= MIN_SAFE && v <= MAX_SAFE
        ? Number(v)
        : w.fail(`is ${v}n, a BigInt beyond ±(2^53-1)`, 'JSON numbers lose digits past that; send it as text (String(value)) or');
    case 'undefined':
      return w.fail('is undefined', 'JSON has no undefined; give it a value (null if there is none) or');
    case 'function':
      return w.fail('is a function', 'JSON cannot carry code; send the value it computes or');
    case 'symbol':
      return w.fail('is a symbol', 'JSON has no symbols; send text (symbol.description) or');
    default:
      if (v === null) return null;
      if (Array.isArray(v)) return arrayValue(v, w);
      {
        const special = specialObject(v as object, w);
        return special === PLAIN ? plainObject(v as Record<string, unknown>, w, false) : special;
      }
  }
}

/** Returned by specialObject for an object JSON encodes as its own enumerable keys. */
export const PLAIN: unique symbol = Symbol('plain');

/**
 * Objects that are not plain key/value data: their JSON value (Date → ISO-8601 text, boxed
 * primitive → primitive, toJSON() → its result), or an error when JSON.stringify would lose them
 * (Buffer → {type,data}, Map/Set/RegExp/Promise → {}, Error → {}), or PLAIN.
 */
export function specialObject(o: object, w: Walk, callToJSON = true): unknown {
  const toJSON = (o as { toJSON?: unknown }).toJSON;
  const proto = Object.getPrototypeOf(o);
  if (proto === Object.prototype || proto === null) {
    // The hot path: plain data (JSON.stringify honours a toJSON even on a plain object).
    return callToJSON && typeof toJSON === 'function' ? viaToJSON(o, toJSON, w) : PLAIN;
  }
  if (o instanceof Date) {
    // WHY ISO text, not epoch ms: it is what JSON.stringify (and so every other Node-RED node)
    // makes of a Date, and it stays readable in ThingsBoard's tables.
    const t = o.getTime();
    return Number.isNaN(t) ? w.fail('is an invalid Date', 'fix the date or') : o.toISOString();
  }
  if (ArrayBuffer.isView(o) || o instanceof ArrayBuffer || o instanceof SharedArrayBuffer) {
    return w.fail(
      `is ${describe(o)}`,
      'ThingsBoard has no binary values; convert it to text (buf.toString() or buf.toString("base64")) or',
    );
  }
  if (o instanceof Map) return w.fail('is a Map', 'JSON would send it as {}; convert it with Object.fromEntries(map) or');
  if (o instanceof Set) return w.fail('is a Set', 'JSON would send it as {}; convert it with Array.from(set) or');
  if (o instanceof Error) return w.fail(`is ${describe(o)}`, 'JSON would send it as {}; send its text (err.message) or');
  if (o instanceof Number || o instanceof String || o instanceof Boolean || o instanceof BigInt) {
    return jsonValue(o.valueOf(), w);
  }
  if (callToJSON && typeof toJSON === 'function') return viaToJSON(o, toJSON, w);
  // A class instance with no own data (RegExp, Promise, WeakMap, ...) would arrive as {}.
  if (Object.keys(o).length === 0) {
    return w.fail(`is ${describe(o)}`, `JSON would send it as {}; convert it to plain data or`);
  }
  return PLAIN;
}

function viaToJSON(o: object, toJSON: Function, w: Walk): unknown {
  const last = w.path[w.path.length - 1];
  let out: unknown;
  try {
    out = toJSON.call(o, last === undefined ? '' : String(last));
  } catch (err) {
    return w.fail(`threw in its toJSON(): ${(err as Error)?.message ?? String(err)}`, 'fix it or');
  }
  // As JSON.stringify does: toJSON is called once per value, not again on what it returns.
  if (out !== null && typeof out === 'object' && !Array.isArray(out)) {
    const special = specialObject(out, w, false);
    return special === PLAIN ? plainObject(out as Record<string, unknown>, w, false) : special;
  }
  return jsonValue(out, w);
}

function enter(o: object, w: Walk): void {
  if (w.ancestors.includes(o)) w.failCircular(o);
  if (w.ancestors.length >= MAX_DEPTH) w.fail(`is nested more than ${MAX_DEPTH} levels deep`, 'flatten it or');
  w.ancestors.push(o);
}

/**
 * A plain object's own enumerable keys, each value validated. `keyLevel`: this object's keys
 * are ThingsBoard keys (the telemetry/attribute object itself, or `values`), so it must not be
 * empty and no key may be "". Nested objects below that are JSON values: empty is fine there.
 */
export function plainObject(o: Record<string, unknown>, w: Walk, keyLevel: boolean): Record<string, unknown> {
  enter(o, w);
  const keys = Object.keys(o);
  if (keyLevel && keys.length === 0) {
    w.fail('is an empty object', 'ThingsBoard needs at least one key: value pair; add one or do not send the message');
  }
  let copy: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const child = o[k];
    w.path.push(k);
    if (keyLevel && k === '') w.fail('is a key with an empty name', 'ThingsBoard finds data by key name; name it or');
    const out = jsonValue(child, w);
    w.path.pop();
    if (out !== child && copy === undefined) {
      copy = {};
      for (let j = 0; j < i; j++) setOwn(copy, keys[j], o[keys[j]]);
    }
    if (copy !== undefined) setOwn(copy, k, out);
  }
  w.ancestors.pop();
  return copy ?? o;
}

function arrayValue(a: unknown[], w: Walk): unknown[] {
  enter(a, w);
  let copy: unknown[] | undefined;
  for (let i = 0; i < a.length; i++) {
    const child = a[i];
    w.path.push(i);
    const out = jsonValue(child, w);
    w.path.pop();
    if (out !== child && copy === undefined) copy = a.slice(0, i);
    if (copy !== undefined) copy.push(out);
  }
  w.ancestors.pop();
  return copy ?? a;
}

/** `copy[k] = v`, except that a key named "__proto__" (JSON.parse makes those) stays a plain key. */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** True for a non-null, non-array object (the only thing ThingsBoard takes as key/value data). */
export function isObjectLike(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
