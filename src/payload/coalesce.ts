// Issue 6: when telemetry backs up for one device, several messages go out as ONE ThingsBoard
// array `[{ts, values}, ...]`. Every entry carries its own ts: without it ThingsBoard would give
// the whole batch one server time and keep only the last value of each key.
import { isTimeseries } from './shape';

export interface TimeseriesEntry {
  ts: number;
  values: Record<string, unknown>;
}

export interface CoalesceItem {
  /** ShapedPayload.value of a TELEMETRY message (already validated by shapePayload). */
  value: unknown;
  /** When the node received the message, epoch ms: the ts of entries that have none. */
  receivedAt: number;
}

/**
 * A validated telemetry value as timestamped entries: `{k: v}` → `[{ts: receivedAt, values}]`,
 * `{ts, values}` → itself, an array → one entry per item. Objects are shared, not copied.
 */
export function toTimeseries(value: unknown, receivedAt: number): TimeseriesEntry[] {
  checkReceivedAt(receivedAt);
  if (Array.isArray(value)) return value.map((item) => entryOf(item, receivedAt));
  return [entryOf(value, receivedAt)];
}

/**
 * Packs items[0..count) in order into one `[{ts, values}, ...]` body of at most maxBytes. Always
 * takes at least the first item; whole items only (an item is one message with one done()).
 * When even the first item's stamped form is over maxBytes (its own body fitted, the added ts
 * pushed it over), it goes alone in its original form: ThingsBoard stamps it with its receive time.
 */
export function coalesceTelemetry(items: readonly CoalesceItem[], maxBytes: number): { body: Buffer; count: number } {
  if (items.length === 0) throw new RangeError('coalesceTelemetry: no items');
  let text = '[';
  let bytes = 2; // the brackets
  let count = 0;
  for (const item of items) {
    const piece = entriesText(item);
    const pieceBytes = Buffer.byteLength(piece, 'utf8') + (count > 0 ? 1 : 0); // + the comma
    if (bytes + pieceBytes > maxBytes) {
      if (count === 0) return { body: Buffer.from(JSON.stringify(item.value), 'utf8'), count: 1 };
      break;
    }
    text += count > 0 ? `,${piece}` : piece;
    bytes += pieceBytes;
    count++;
  }
  return { body: Buffer.from(`${text}]`, 'utf8'), count };
}

/** An item's entries as JSON text without the surrounding brackets: `{"ts":..,"values":..},...`. */
function entriesText(item: CoalesceItem): string {
  checkReceivedAt(item.receivedAt);
  const value = item.value;
  if (!Array.isArray(value)) return entryText(value, item.receivedAt);
  let out = '';
  for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + entryText(value[i], item.receivedAt);
  return out;
}

function entryText(v: unknown, receivedAt: number): string {
  // Built as text so no wrapper object is allocated; key order ts, values as ThingsBoard shows it.
  return isEntryObject(v) && isTimeseries(v) ? JSON.stringify(v) : `{"ts":${receivedAt},"values":${JSON.stringify(v)}}`;
}

function entryOf(v: unknown, receivedAt: number): TimeseriesEntry {
  return isEntryObject(v) && isTimeseries(v) ? (v as TimeseriesEntry) : { ts: receivedAt, values: v as Record<string, unknown> };
}

function isEntryObject(v: unknown): v is object {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new TypeError('payload: a telemetry value must be an object or an array of objects (pass ShapedPayload.value)');
  }
  return true;
}

function checkReceivedAt(receivedAt: number): void {
  if (!Number.isSafeInteger(receivedAt)) throw new TypeError(`payload: receivedAt must be epoch milliseconds, got ${receivedAt}`);
}
