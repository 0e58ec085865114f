// Issue 6: telemetry that backs up for one device goes out as ONE ThingsBoard array
// `[{ts, values}, ...]` instead of one publish per message. Every entry keeps its own ts (a
// message without one gets the time the node received it): otherwise ThingsBoard would give the
// whole array one server time and keep only the last value of each key.
//
// WHY the array is built from the bodies and not by serialising `value` again (as
// payload/coalesce.ts does): the body is the snapshot taken when the node received the message.
// `value` may be the user's object, which a flow may change after handing it over (a function
// node that keeps its state object); a queued message must send what it was given. It also
// saves a second JSON.stringify per message, and nothing holds on to `value` at all.
//
// Not coalesced: attributes (merging objects would be safe only without repeated keys, and one
// publish per message keeps one answer per message), different QoS next to each other, a
// message whose array items have no ts, and anything while the connection is "cautious" after a
// drop. Failures (src/device/connection.ts): an array the server rejects goes again message by
// message; an array whose connection closed goes back to the queue in order, each message then
// alone (as a one-entry array, keeping its ts) so a poison message cannot exhaust others'
// resends; a timeout fails the array's messages (the peer did not answer any of them).
import { isTimeseries } from '../payload/shape';
import type { BatchShape, OutboundMessage } from '../transports/transport';

/**
 * How shapePayload's TELEMETRY value can join an array (see BatchShape), or undefined when it
 * cannot: an array with entries that have no ts (they would need the ts added one by one) goes
 * alone, as before, and ThingsBoard stamps it.
 */
export function batchShapeOf(value: unknown): BatchShape | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (!Array.isArray(value)) return isTimeseries(value) ? 'entry' : 'wrap';
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item) || !isTimeseries(item)) return undefined;
  }
  return 'entries';
}

/** True when this message may share an array publish with its neighbours. */
export function batchable(message: OutboundMessage): boolean {
  return message.kind === 'telemetry' && message.batchShape !== undefined && message.receivedAt !== undefined;
}

const BRACKETS = 2;
const COMMA = 1;

/** Bytes `message` adds to an array body (without the comma that separates it). */
export function entryBytes(message: OutboundMessage): number {
  const body = message.body;
  switch (message.batchShape) {
    case 'wrap':
      // {"ts":<digits>,"values":<body>}
      return 6 + String(message.receivedAt).length + 10 + body.length + 1;
    case 'entries':
      return body.length - BRACKETS;
    default:
      return body.length;
  }
}

/**
 * How many of messages[0..limit) (all batchable, same QoS) fit in one body of at most maxBytes:
 * at least 1 (a first message that does not fit in array form goes alone, as is).
 */
export function batchCount(messages: readonly { message: OutboundMessage }[], limit: number, maxBytes: number): number {
  let bytes = BRACKETS;
  let count = 0;
  for (let i = 0; i < limit; i++) {
    const add = entryBytes(messages[i].message) + (count > 0 ? COMMA : 0);
    if (bytes + add > maxBytes) break;
    bytes += add;
    count++;
  }
  return Math.max(1, count);
}

/** True when `message` as a one-entry array fits in maxBytes. */
export function fitsAlone(message: OutboundMessage, maxBytes: number): boolean {
  return BRACKETS + entryBytes(message) <= maxBytes;
}

/** The array body of messages[0..count) (batchable, sized with batchCount): one allocation. */
export function buildBatchBody(messages: readonly { message: OutboundMessage }[], count: number): Buffer {
  let total = BRACKETS + (count - 1) * COMMA;
  for (let i = 0; i < count; i++) total += entryBytes(messages[i].message);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  out[at++] = 0x5b; // [
  for (let i = 0; i < count; i++) {
    const message = messages[i].message;
    if (i > 0) out[at++] = 0x2c; // ,
    const body = message.body;
    switch (message.batchShape) {
      case 'wrap':
        at += out.write(`{"ts":${message.receivedAt},"values":`, at, 'latin1');
        at += body.copy(out, at);
        out[at++] = 0x7d; // }
        break;
      case 'entries':
        at += body.copy(out, at, 1, body.length - 1);
        break;
      default:
        at += body.copy(out, at);
    }
  }
  out[at++] = 0x5d; // ]
  return out;
}
