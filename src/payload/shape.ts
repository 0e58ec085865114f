// msg → the JSON body ThingsBoard's telemetry or attributes endpoint takes. The rules, and why,
// are listed in index.ts; this file applies them in one walk over msg.payload.
import type { DataKind } from '../shared';
import { PayloadError, describe, formatPath } from './errors';
import { type Walk, PLAIN, acquireWalk, isObjectLike, jsonValue, plainObject, releaseWalk, specialObject } from './json-value';
import { MAX_PLAUSIBLE_TS, MIN_PLAUSIBLE_TS, parseTimestamp } from './timestamp';

export interface ShapedPayload {
  /** Strict JSON, UTF-8: exactly JSON.stringify(value). Never longer than options.maxBytes. */
  body: Buffer;
  /** The validated JSON value that body encodes. May share objects with msg.payload. */
  value: unknown;
}

export interface ShapeOptions {
  kind: DataKind;
  /** The node's Key: names a single value (number, string, boolean). Wins over msg.topic. */
  key?: string;
  /** Largest body allowed, in bytes (the device's max payload size). */
  maxBytes: number;
}

export interface PayloadMessage {
  payload: unknown;
  topic?: unknown;
  ts?: unknown;
}

/** Builds the body for one message, or throws PayloadError saying what is wrong and where. */
export function shapePayload(msg: PayloadMessage, options: ShapeOptions): ShapedPayload {
  const w = acquireWalk();
  try {
    const value = options.kind === 'attributes' ? attributes(msg, options, w) : telemetry(msg, options, w);
    return { body: encode(value, options.maxBytes), value };
  } finally {
    releaseWalk(w);
  }
}

function telemetry(msg: PayloadMessage, options: ShapeOptions, w: Walk): unknown {
  // WHY msg.ts is checked even when the payload has its own ts: a wrong msg.ts is a bug upstream
  // that should surface on every message, not only on some shapes.
  const ts = msg.ts === undefined || msg.ts === null ? undefined : parseTimestamp(msg.ts, 'msg.ts');
  const p = readPayload(msg, options, w);
  if (Array.isArray(p)) return telemetryArray(p, ts, w);
  if (isTimeseries(p)) return timeseriesEntry(p, w); // its own ts wins over msg.ts
  const values = plainObject(p, w, true);
  return ts === undefined ? values : { ts, values };
}

function attributes(msg: PayloadMessage, options: ShapeOptions, w: Walk): unknown {
  // msg.ts is ignored: ThingsBoard attributes have no timestamp (the server stamps them), and
  // the same msg often goes to a telemetry node too, where msg.ts does mean something.
  const p = readPayload(msg, options, w);
  if (Array.isArray(p)) {
    w.fail('is an array', 'client attributes must be one object of key: value pairs, e.g. {"firmware": "1.2.0"}');
  }
  if (isTimeseries(p)) {
    w.fail('is a {ts, values} object', 'attributes have no timestamp; send the values object alone');
  }
  return plainObject(p, w, true);
}

/**
 * msg.payload as key/value data or an array: JSON text parsed, a single value wrapped under its
 * key, special objects unwrapped. Arrays and objects come back unvalidated (the callers walk them).
 */
function readPayload(msg: PayloadMessage, options: ShapeOptions, w: Walk): Record<string, unknown> | unknown[] {
  let p = msg.payload;
  if (typeof p === 'string') p = fromText(p);
  else if (p instanceof Uint8Array) p = fromText(decodeUtf8(p));
  if (typeof p === 'object' && p !== null && !Array.isArray(p)) {
    const special = specialObject(p, w);
    if (special !== PLAIN) p = special; // Date → text, boxed → primitive, toJSON() → result
  }
  if (p === undefined || p === null) {
    throw new PayloadError('payload', `payload is ${p}: there is nothing to send; set msg.payload to a value or an object`);
  }
  if (typeof p === 'object') return p as Record<string, unknown> | unknown[];
  // A single value: ThingsBoard stores it under a key.
  const key = keyFor(msg, options, p);
  return { [key]: jsonValue(p, w) }; // computed key: "__proto__" stays an own key
}

function keyFor(msg: PayloadMessage, options: ShapeOptions, value: unknown): string {
  const configured = typeof options.key === 'string' ? options.key.trim() : '';
  if (configured !== '') return configured;
  const topic = msg.topic;
  if (typeof topic === 'string' && topic !== '') return topic;
  if (topic !== undefined && topic !== null && topic !== '') {
    throw new PayloadError(
      'msg.topic',
      `msg.topic is ${describe(topic)}, which cannot name the key for payload ${describe(value)}: set the node's Key, or set msg.topic to text like "temperature"`,
    );
  }
  throw new PayloadError(
    'payload',
    `payload is a single value (${describe(value)}) and ThingsBoard stores values under a key name: set the node's Key or msg.topic to the name (e.g. "temperature"), or send an object like {"temperature": 21.5}`,
  );
}

// ---- JSON text -----------------------------------------------------------------------------

// fatal: a Buffer that is not UTF-8 is binary data, and sending mojibake would hide that.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new PayloadError(
      'payload',
      `payload is ${describe(bytes)} of ${bytes.length} bytes that are not UTF-8 text: ThingsBoard takes JSON text or values; decode the bytes into numbers or an object first (e.g. with a Function or Buffer Parser node)`,
    );
  }
}

/**
 * Text that starts with `{` or `[` (after whitespace or a byte-order mark) must be JSON and is
 * parsed; any other text is a single string value, unchanged. So '{"a":1}' is an object, while
 * "25" and "true" stay TEXT values: no type guessing here (ThingsBoard itself turns numeric text
 * into numbers unless its type cast is disabled).
 */
function fromText(text: string): unknown {
  let i = 0;
  let c = text.charCodeAt(0);
  while (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0xfeff) c = text.charCodeAt(++i);
  if (c !== 0x7b /* { */ && c !== 0x5b /* [ */) return text;
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    throw new PayloadError(
      'payload',
      `payload is text that starts like JSON but is not valid JSON (${(err as Error).message}): fix it (keys and strings in double quotes, no trailing commas), or send an object instead of text`,
    );
  }
}

// ---- telemetry shapes ------------------------------------------------------------------------

/** ThingsBoard's own rule: an object with both `ts` and `values` is a timestamped entry. */
export function isTimeseries(o: object): o is { ts: unknown; values: unknown } {
  return Object.prototype.hasOwnProperty.call(o, 'ts') && Object.prototype.hasOwnProperty.call(o, 'values');
}

function timeseriesEntry(o: Record<string, unknown>, w: Walk): Record<string, unknown> {
  if (w.ancestors.length > 0 && w.ancestors.includes(o)) w.failCircular(o);
  w.ancestors.push(o);
  for (const k of Object.keys(o)) {
    if (k !== 'ts' && k !== 'values') {
      w.path.push(k);
      w.fail('is next to ts and values, where ThingsBoard ignores it', 'move it into values or');
    }
  }
  const rawTs = o.ts;
  const ts =
    typeof rawTs === 'number' && Number.isInteger(rawTs) && rawTs >= MIN_PLAUSIBLE_TS && rawTs < MAX_PLAUSIBLE_TS
      ? rawTs // the hot path: no path string built
      : parseTimestamp(rawTs, formatPath('payload', [...w.path, 'ts']));
  w.path.push('values');
  let rawValues = o.values;
  if (isObjectLike(rawValues)) {
    const special = specialObject(rawValues, w);
    if (special !== PLAIN) rawValues = special;
  }
  if (!isObjectLike(rawValues)) {
    w.fail(`is ${describe(o.values)}`, 'values must be an object of key: value pairs, e.g. {"temperature": 21.5}');
  }
  const values = plainObject(rawValues, w, true);
  w.path.pop();
  w.ancestors.pop();
  return ts === rawTs && values === o.values ? o : { ts, values };
}

function telemetryArray(a: unknown[], ts: number | undefined, w: Walk): unknown[] {
  if (a.length === 0) w.fail('is an empty array', 'there is nothing to send; do not send the message, or add an object');
  w.ancestors.push(a);
  let copy: unknown[] | undefined;
  for (let i = 0; i < a.length; i++) {
    const item = a[i];
    w.path.push(i);
    let entry: unknown = item;
    if (isObjectLike(item)) {
      const special = specialObject(item, w);
      if (special !== PLAIN) entry = special;
    }
    if (!isObjectLike(entry)) {
      w.fail(`is ${describe(item)}`, 'each item of a telemetry array must be an object: {key: value, ...} or {ts, values}');
    }
    if (isTimeseries(entry)) {
      entry = timeseriesEntry(entry, w);
    } else {
      const values = plainObject(entry, w, true);
      entry = ts === undefined ? values : { ts, values };
    }
    w.path.pop();
    if (entry !== item && copy === undefined) copy = a.slice(0, i);
    if (copy !== undefined) copy.push(entry);
  }
  w.ancestors.pop();
  return copy ?? a;
}

// ---- encoding --------------------------------------------------------------------------------

function encode(value: unknown, maxBytes: number): Buffer {
  const text = JSON.stringify(value);
  // UTF-8 never takes fewer bytes than UTF-16 code units, so a long string is too big already.
  const body = text.length <= maxBytes ? Buffer.from(text, 'utf8') : undefined;
  if (body !== undefined && body.length <= maxBytes) return body;
  const bytes = body?.length ?? Buffer.byteLength(text, 'utf8');
  throw new PayloadError(
    'payload',
    `payload is ${bytes} bytes as JSON, more than the device's limit of ${maxBytes} bytes (its max payload size): send fewer or shorter values per message, or raise the limit if your ThingsBoard accepts larger payloads`,
  );
}
