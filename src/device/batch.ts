// Telemetry that backs up for one device goes out as ONE ThingsBoard array
// `[{ts, values}, ...]` instead of one publish per message. Every entry keeps its own ts (a
// message without one gets the time the node received it): otherwise ThingsBoard would give the
// whole array one server time and keep only the last value of each key.
//
// WHY the array is built from the bodies and not by serialising `value` again: the body is the
// snapshot taken when the node received the message. `value` may be the user's object, which a flow may change after handing it over (a function
// node that keeps its state object); a queued message must send what it was given. It also
// saves a second JSON.stringify per message, and nothing holds on to `value` at all.
//
// Not coalesced: attributes (merging objects would be safe only without repeated keys, and one
// publish per message keeps one answer per message), different QoS next to each other, a
// message whose array items have no ts, and anything while the connection is "cautious" after a
// drop. A reading that waited but goes alone (one queued during an outage, one sent again after
// a drop) is sent as a one-entry array too, so it keeps its ts (outbox.ts). Failures
// (outbox.ts): an array the server rejects goes again message by message; an array whose connection closed goes back to the queue in order, each message then
// alone (as a one-entry array, keeping its ts) so a poison message cannot exhaust others'
// resends; a timeout fails the array's messages (the peer did not answer any of them).
import { isTimeseries } from '../payload/shape';
import type { OutboundMessage } from '../transports/transport';

/**
 * How a telemetry body joins an array publish: `wrap` = the body is one values object, sent as
 * `{"ts":receivedAt,"values":body}`; `entry` = the body is one `{ts, values}` entry, sent as is;
 * `entries` = the body is an array of `{ts, values}` entries, sent without its brackets.
 */
export type BatchShape = 'wrap' | 'entry' | 'entries';

/**
 * A message as the outbox holds it: what the transport sends, and beside it when the node
 * received it (epoch ms) and its batch shape. Without both it always goes alone.
 */
export interface Batchable {
  message: OutboundMessage;
  receivedAt?: number;
  batchShape?: BatchShape;
}

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
export function batchable(entry: Batchable): boolean {
  return entry.message.kind === 'telemetry' && entry.batchShape !== undefined && entry.receivedAt !== undefined;
}

const BRACKETS = 2;
const COMMA = 1;

/** Bytes `entry` adds to an array body (without the comma that separates it). */
export function entryBytes(entry: Batchable): number {
  const body = entry.message.body;
  switch (entry.batchShape) {
    case 'wrap':
      // {"ts":<digits>,"values":<body>}
      return 6 + String(entry.receivedAt).length + 10 + body.length + 1;
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
export function batchCount(messages: readonly Batchable[], limit: number, maxBytes: number): number {
  let bytes = BRACKETS;
  let count = 0;
  for (let i = 0; i < limit; i++) {
    const add = entryBytes(messages[i]) + (count > 0 ? COMMA : 0);
    if (bytes + add > maxBytes) break;
    bytes += add;
    count++;
  }
  return Math.max(1, count);
}

/** True when `entry` as a one-entry array fits in maxBytes. */
export function fitsAlone(entry: Batchable, maxBytes: number): boolean {
  return BRACKETS + entryBytes(entry) <= maxBytes;
}

/** The array body of messages[0..count) (batchable, sized with batchCount): one allocation. */
export function buildBatchBody(messages: readonly Batchable[], count: number): Buffer {
  const out = Buffer.allocUnsafe(batchBodyBytes(messages, count));
  writeBatchBody(messages, count, out, 0);
  return out;
}

/** Bytes of the array body of messages[0..count). */
export function batchBodyBytes(messages: readonly Batchable[], count: number): number {
  let total = BRACKETS + (count - 1) * COMMA;
  for (let i = 0; i < count; i++) total += entryBytes(messages[i]);
  return total;
}

/** Writes the array body of messages[0..count) into `out` at `at` (room: batchBodyBytes); returns the end. */
export function writeBatchBody(messages: readonly Batchable[], count: number, out: Buffer, at: number): number {
  out[at++] = 0x5b; // [
  for (let i = 0; i < count; i++) {
    const entry = messages[i];
    if (i > 0) out[at++] = 0x2c; // ,
    const body = entry.message.body;
    switch (entry.batchShape) {
      case 'wrap':
        at += out.write(`{"ts":${entry.receivedAt},"values":`, at, 'latin1');
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
  return at;
}
