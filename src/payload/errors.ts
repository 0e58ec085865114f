// The one error type of src/payload/. Its message is shown to Node-RED users as is (node.error,
// Catch node, status), so it always says WHERE (a JavaScript-style path into msg) and WHAT TO DO.

/** A message that cannot be turned into a ThingsBoard payload. Nothing was sent. */
export class PayloadError extends Error {
  /** Where the problem is, e.g. `payload.a.b`, `payload[3].values.x`, `msg.ts`, `msg.topic`. */
  readonly path: string;

  constructor(path: string, message: string) {
    super(message);
    this.name = 'PayloadError';
    this.path = path;
  }
}

/** One step into a value: an object key or an array index. */
export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `payload` + [`a`, 3, `my key`] → `payload.a[3]["my key"]` (how a user would write it in a Function node). */
export function formatPath(root: string, segments: readonly PathSegment[], from = 0): string {
  let out = root;
  for (let i = from; i < segments.length; i++) {
    const s = segments[i];
    if (typeof s === 'number') out += `[${s}]`;
    else if (IDENTIFIER.test(s)) out += `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** A short description of a value for an error message: never the whole value (it may be huge). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'string':
      return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      if (Array.isArray(value)) return 'an array';
      if (Buffer.isBuffer(value)) return 'a Buffer';
      return `${article(constructorName(value))}`;
  }
}

export function constructorName(value: object): string {
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
  const name = proto?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : 'Object';
}

function article(name: string): string {
  return name === 'Object' ? 'an object' : `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}
