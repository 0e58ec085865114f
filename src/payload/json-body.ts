// Any JSON value (an RPC reply, client-side RPC params) checked and encoded by the same rules as
// telemetry values (json-value.ts): NaN, undefined, functions, cycles, Buffers ... are errors
// naming the path, never silently changed. A string is sent as a JSON string ("on" → "\"on\"").
import { PayloadError } from './errors';
import { acquireWalk, jsonValue, releaseWalk } from './json-value';

/** Strict JSON for `value` (msg.payload), at most maxBytes bytes; throws PayloadError. */
export function encodeJsonValue(value: unknown, maxBytes: number, what: string): Buffer {
  if (value === undefined) {
    throw new PayloadError('payload', `payload is undefined: set msg.payload to the ${what} (any JSON value: an object, a number, text, true, null)`);
  }
  const w = acquireWalk();
  let normalized: unknown;
  try {
    normalized = jsonValue(value, w);
  } finally {
    releaseWalk(w);
  }
  const body = Buffer.from(JSON.stringify(normalized), 'utf8');
  if (body.length > maxBytes) {
    throw new PayloadError('payload', `payload is ${body.length} bytes as JSON, more than the device's limit of ${maxBytes} bytes (its max payload size): send a smaller ${what}`);
  }
  return body;
}
