'use strict';
// Issue 6 batching: toTimeseries and coalesceTelemetry.
const test = require('node:test');
const assert = require('node:assert/strict');
const { shapePayload, toTimeseries, coalesceTelemetry } = require('../../nodes/lib/payload/index.js');

const T0 = 1714564800000;
const TELEMETRY = { kind: 'telemetry', maxBytes: 65536 };

/** A queued message as the device layer holds it. */
function item(msg, receivedAt) {
  return { value: shapePayload(msg, TELEMETRY).value, receivedAt };
}

function parse(batch) {
  const parsed = JSON.parse(batch.body.toString('utf8'));
  assert.ok(Array.isArray(parsed), 'a batch is always a JSON array');
  return parsed;
}

test('toTimeseries stamps entries without ts and keeps the others', () => {
  assert.deepEqual(toTimeseries({ a: 1 }, T0), [{ ts: T0, values: { a: 1 } }]);
  assert.deepEqual(toTimeseries({ ts: T0 - 5, values: { a: 1 } }, T0), [{ ts: T0 - 5, values: { a: 1 } }]);
  assert.deepEqual(toTimeseries([{ a: 1 }, { ts: T0 - 5, values: { b: 2 } }], T0), [
    { ts: T0, values: { a: 1 } },
    { ts: T0 - 5, values: { b: 2 } },
  ]);
  const values = { a: 1 };
  assert.equal(toTimeseries(values, T0)[0].values, values, 'shared, not copied');
  assert.throws(() => toTimeseries({ a: 1 }, 1.5), TypeError);
  assert.throws(() => toTimeseries(5, T0), TypeError);
});

test('coalesce keeps order and every item keeps its own time', () => {
  const items = [
    item({ payload: { t: 1 } }, T0),
    item({ payload: { t: 2 }, ts: T0 - 1000 }, T0 + 1),
    item({ payload: [{ t: 3 }, { ts: T0 - 500, values: { t: 4 } }] }, T0 + 2),
    item({ payload: 5, topic: 't' }, T0 + 3),
    item({ payload: '{"t":6}' }, T0 + 4),
  ];
  const batch = coalesceTelemetry(items, 65536);
  assert.equal(batch.count, 5);
  assert.deepEqual(parse(batch), [
    { ts: T0, values: { t: 1 } },
    { ts: T0 - 1000, values: { t: 2 } },
    { ts: T0 + 2, values: { t: 3 } },
    { ts: T0 - 500, values: { t: 4 } },
    { ts: T0 + 3, values: { t: 5 } },
    { ts: T0 + 4, values: { t: 6 } },
  ]);
  // The batch holds exactly the toTimeseries entries, in order.
  assert.deepEqual(parse(batch), items.flatMap((i) => toTimeseries(i.value, i.receivedAt)));
});

test('coalesce stops before the item that would pass maxBytes, never splitting an item', () => {
  const items = [];
  for (let i = 0; i < 10; i++) items.push(item({ payload: { v: i } }, T0 + i));
  const one = `{"ts":${T0},"values":{"v":0}}`.length; // 32 bytes each
  // Exactly three entries: brackets + 3 entries + 2 commas.
  const three = 2 + 3 * one + 2;
  let batch = coalesceTelemetry(items, three);
  assert.equal(batch.count, 3);
  assert.equal(batch.body.length, three);
  assert.deepEqual(parse(batch).map((e) => e.values.v), [0, 1, 2]);
  batch = coalesceTelemetry(items, three - 1);
  assert.equal(batch.count, 2);
  assert.ok(batch.body.length <= three - 1);
  // An item with two entries goes whole or not at all.
  const pair = [item({ payload: { v: 0 } }, T0), item({ payload: [{ v: 1 }, { v: 2 }] }, T0 + 1)];
  batch = coalesceTelemetry(pair, three - 1);
  assert.equal(batch.count, 1);
  assert.deepEqual(parse(batch), [{ ts: T0, values: { v: 0 } }]);
  batch = coalesceTelemetry(pair, three);
  assert.equal(batch.count, 2);
  // Draining a queue batch by batch sends every item once, in order, each batch within the limit.
  const queue = [];
  for (let i = 0; i < 100; i++) queue.push(item({ payload: { v: i, pad: 'x'.repeat(i % 17) } }, T0 + i));
  const seen = [];
  for (let rest = queue; rest.length > 0; ) {
    const b = coalesceTelemetry(rest, 300);
    assert.ok(b.count >= 1);
    assert.ok(b.body.length <= 300, `batch of ${b.body.length} bytes`);
    seen.push(...parse(b).map((e) => e.values.v));
    rest = rest.slice(b.count);
  }
  assert.deepEqual(seen, queue.map((_, i) => i));
});

test('bytes, not characters, count toward the limit', () => {
  const items = [item({ payload: { s: 'é' } }, T0), item({ payload: { s: 'é' } }, T0)];
  const entry = Buffer.byteLength(`{"ts":${T0},"values":{"s":"é"}}`);
  assert.equal(coalesceTelemetry(items, 2 + 2 * entry + 1).count, 2);
  assert.equal(coalesceTelemetry(items, 2 + 2 * entry).count, 1);
});

test('an item too big to share a batch goes alone; one too big even stamped goes in its own form', () => {
  const big = item({ payload: { blob: 'x'.repeat(200) } }, T0);
  const small = item({ payload: { v: 1 } }, T0 + 1);
  const stamped = 2 + Buffer.byteLength(`{"ts":${T0},"values":{"blob":"${'x'.repeat(200)}"}}`);
  let batch = coalesceTelemetry([big, small], stamped);
  assert.equal(batch.count, 1);
  assert.equal(batch.body.length, stamped);
  assert.deepEqual(parse(batch), [{ ts: T0, values: { blob: 'x'.repeat(200) } }]);
  // The item alone fits its own body (211 bytes) but not once stamped: it is sent as it came.
  const own = shapePayload({ payload: { blob: 'x'.repeat(200) } }, { kind: 'telemetry', maxBytes: 211 });
  assert.equal(own.body.length, 211);
  batch = coalesceTelemetry([big, small], 211);
  assert.equal(batch.count, 1);
  assert.deepEqual(batch.body, own.body);
  // The next call carries on with the small one.
  batch = coalesceTelemetry([small], 212);
  assert.deepEqual(parse(batch), [{ ts: T0 + 1, values: { v: 1 } }]);
});

test('coalesce refuses misuse loudly', () => {
  assert.throws(() => coalesceTelemetry([], 100), RangeError);
  assert.throws(() => coalesceTelemetry([{ value: { a: 1 }, receivedAt: NaN }], 100), TypeError);
  assert.throws(() => coalesceTelemetry([{ value: 'x', receivedAt: T0 }], 100), TypeError);
});
