'use strict';
// Property-style checks over many random values (seeded, so a failure reproduces):
// - every valid value round-trips: JSON.parse(body) equals the JSON of what was given, whether
//   given as an object, as JSON text or as a Buffer;
// - a bad value planted anywhere is refused with exactly the path where it was planted;
// - draining a random queue into array publishes (src/device/batch.ts) sends every entry once, in
//   order, with its own ts, each body within the limit.
const test = require('node:test');
const assert = require('node:assert/strict');
const { shapePayload, PayloadError } = require('../../nodes/lib/payload/index.js');
const { batchShapeOf, batchable, batchCount, fitsAlone, buildBatchBody } = require('../../nodes/lib/device/batch.js');
const { seededRandom } = require('../support/seeded-random');

const SEED = Number(process.env.TB_PAYLOAD_SEED || 0x7b5eed);
const ROUNDS = 2000;
const T0 = 1714564800000;
const BIG = { kind: 'telemetry', maxBytes: 1 << 24 };

function rng(seed) {
  const next = seededRandom(seed);
  const int = (n) => Math.floor(next() * n);
  return { next, int, pick: (xs) => xs[int(xs.length)] };
}

const WEIRD_KEYS = ['__proto__', 'constructor', 'toString', 'a.b', 'x y', '0', '1e3', 'ts', 'values', 'ключ', '🙂', '"', '\\', '\n'];
const CHARS = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u0000', '\u001f', '\u2028', 'é', '中', '😀', '\ud83d\ude00'];

function randomString(r, max = 12) {
  let s = '';
  const n = r.int(max);
  for (let i = 0; i < n; i++) s += r.pick(CHARS);
  return s;
}

function randomNumber(r) {
  switch (r.int(7)) {
    case 0: return r.int(2000) - 1000;
    case 1: return (r.next() - 0.5) * 1e6;
    case 2: return -0;
    case 3: return Number.MAX_SAFE_INTEGER * (r.next() < 0.5 ? -1 : 1);
    case 4: return r.pick([Number.MIN_VALUE, Number.MAX_VALUE, 1e21, 1e-7, 5e-324]);
    case 5: return Math.fround(r.next());
    default: return r.next();
  }
}

function randomKey(r, topLevel) {
  const k = r.next() < 0.2 ? r.pick(WEIRD_KEYS) : randomString(r, 8);
  return topLevel && k === '' ? 'k' : k;
}

/** Defines an own key even when it is "__proto__". */
function put(obj, k, v) {
  Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function randomValue(r, depth) {
  const leaf = depth >= 4 || r.next() < 0.5;
  if (leaf) {
    switch (r.int(4)) {
      case 0: return randomNumber(r);
      case 1: return randomString(r);
      case 2: return r.next() < 0.5;
      default: return null;
    }
  }
  if (r.next() < 0.5) {
    const a = [];
    const n = r.int(5);
    for (let i = 0; i < n; i++) a.push(randomValue(r, depth + 1));
    return a;
  }
  return randomObject(r, depth + 1, false);
}

function randomObject(r, depth, topLevel) {
  const o = {};
  const n = (topLevel ? 1 : 0) + r.int(5);
  for (let i = 0; i < n; i++) put(o, randomKey(r, topLevel), randomValue(r, depth));
  // A top-level object with both ts and values would be a {ts, values} entry: not this test.
  if (topLevel && Object.prototype.hasOwnProperty.call(o, 'ts') && Object.prototype.hasOwnProperty.call(o, 'values')) delete o.values;
  if (topLevel && Object.keys(o).length === 0) put(o, 'k', 1);
  return o;
}

/** What JSON itself makes of v (e.g. -0 → 0), for comparing with the parsed body. */
const viaJson = (v) => JSON.parse(JSON.stringify(v));

test(`random valid objects round-trip (${ROUNDS} rounds, seed ${SEED})`, { timeout: 30000 }, () => {
  const r = rng(SEED);
  for (let i = 0; i < ROUNDS; i++) {
    const payload = randomObject(r, 0, true);
    const kind = r.next() < 0.5 ? 'telemetry' : 'attributes';
    const shaped = shapePayload({ payload }, { kind, maxBytes: 1 << 24 });
    assert.equal(shaped.value, payload, 'plain data is not copied');
    const body = shaped.body.toString('utf8');
    assert.equal(body, JSON.stringify(payload));
    assert.deepEqual(JSON.parse(body), viaJson(payload));
    // The same data as JSON text and as a Buffer gives the same body.
    assert.equal(shapePayload({ payload: body }, { kind, maxBytes: 1 << 24 }).body.toString('utf8'), body);
    assert.equal(shapePayload({ payload: Buffer.from(`\n ${body}`) }, { kind, maxBytes: 1 << 24 }).body.toString('utf8'), body);
  }
});

test('random arrays, {ts, values} and msg.ts round-trip', { timeout: 30000 }, () => {
  const r = rng(SEED + 1);
  for (let i = 0; i < ROUNDS / 2; i++) {
    const items = [];
    const n = 1 + r.int(4);
    for (let j = 0; j < n; j++) items.push(r.next() < 0.5 ? randomObject(r, 0, true) : { ts: T0 + r.int(1e6), values: randomObject(r, 0, true) });
    assert.deepEqual(JSON.parse(shapePayload({ payload: items }, BIG).body), viaJson(items));
    const ts = T0 + r.int(1e9);
    const wrapped = items.map((it) => (Object.prototype.hasOwnProperty.call(it, 'values') && 'ts' in it ? it : { ts, values: it }));
    assert.deepEqual(JSON.parse(shapePayload({ payload: items, ts }, BIG).body), viaJson(wrapped));
    assert.deepEqual(JSON.parse(shapePayload({ payload: items[0], ts: new Date(ts).toISOString() }, BIG).body), viaJson(wrapped[0]));
  }
});

test('random single values round-trip under their key', { timeout: 30000 }, () => {
  const r = rng(SEED + 2);
  for (let i = 0; i < ROUNDS; i++) {
    const v = r.pick([() => randomNumber(r), () => r.next() < 0.5, () => 'v' + randomString(r)])();
    const key = randomKey(r, true);
    const body = shapePayload({ payload: v, topic: key }, BIG).body.toString('utf8');
    assert.deepEqual(JSON.parse(body), viaJson({ [key]: v }));
    assert.deepEqual(Object.keys(JSON.parse(body)), [key]);
  }
});

// ---- planted faults ---------------------------------------------------------------------------

const IDENT = /^[A-Za-z_$][\w$]*$/;
function pathOf(segments) {
  return segments.reduce((p, s) => (typeof s === 'number' ? `${p}[${s}]` : IDENT.test(s) ? `${p}.${s}` : `${p}[${JSON.stringify(s)}]`), 'payload');
}

const FAULTS = [
  [NaN, /is NaN/],
  [Infinity, /is Infinity/],
  [-Infinity, /is -Infinity/],
  [undefined, /is undefined/],
  [() => 1, /is a function/],
  [Symbol('s'), /is a symbol/],
  [2n ** 64n, /BigInt/],
  [new Date(NaN), /invalid Date/],
  [Buffer.from('x'), /Buffer/],
  [new Map(), /Map/],
];

/** Picks a random container inside v and plants the fault in it; returns the planted path. */
function plant(r, root, fault) {
  const path = [];
  let node = root;
  for (;;) {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    const children = keys.filter((k) => node[k] !== null && typeof node[k] === 'object' && Object.keys(node[k]).length > 0);
    if (children.length === 0 || r.next() < 0.3) {
      // Replace one existing slot, or add one (keys that exist already are never re-added).
      let k;
      if (keys.length > 0 && r.next() < 0.6) k = r.pick(keys);
      else if (Array.isArray(node)) k = node.length;
      else {
        k = 'planted';
        while (Object.prototype.hasOwnProperty.call(node, k)) k += '_';
      }
      if (Array.isArray(node)) node[k] = fault;
      else put(node, k, fault);
      return [...path, k];
    }
    const k = r.pick(children);
    path.push(k);
    node = node[k];
  }
}

test('a fault planted anywhere is refused with exactly its path', { timeout: 30000 }, () => {
  const r = rng(SEED + 3);
  for (let i = 0; i < ROUNDS; i++) {
    const payload = randomObject(r, 0, true);
    const [fault, pattern] = r.pick(FAULTS);
    const planted = pathOf(plant(r, payload, fault));
    let caught;
    try {
      shapePayload({ payload }, { kind: r.next() < 0.5 ? 'telemetry' : 'attributes', maxBytes: 1 << 24 });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof PayloadError, `no error for a fault at ${planted}`);
    // Object.keys order decides which of several faults is met first; we planted one.
    assert.equal(caught.path, planted);
    assert.ok(caught.message.startsWith(`${planted} `), caught.message);
    assert.match(caught.message, pattern);
  }
});

// ---- coalescing (src/device/batch.ts, fed with shapePayload's output as the out node does) ----

test('draining random queues into array publishes: every entry once, in order, its own ts, each body within the limit', { timeout: 30000 }, () => {
  const r = rng(SEED + 4);
  let arrays = 0;
  for (let round = 0; round < 200; round++) {
    const maxBytes = 64 + r.int(4000);
    const queue = [];
    const n = 1 + r.int(40);
    for (let i = 0; i < n; i++) {
      const msg = r.next() < 0.3 ? { payload: [randomObject(r, 2, true), randomObject(r, 2, true)] } : { payload: randomObject(r, 2, true) };
      if (r.next() < 0.3) msg.ts = T0 - r.int(1e6);
      let shaped;
      try {
        shaped = shapePayload(msg, { kind: 'telemetry', maxBytes });
      } catch (err) {
        if (err instanceof PayloadError && /bytes as JSON/.test(err.message)) continue; // too big alone: never queued
        throw err;
      }
      // As the outbox holds it: the message, and beside it when it was received and its shape.
      const entry = { message: { kind: 'telemetry', qos: 1, body: shaped.body }, receivedAt: T0 + i, batchShape: batchShapeOf(shaped.value) };
      if (batchable(entry)) queue.push(entry); // the device layer sends the others alone
    }
    // What ThingsBoard must store: each message's entries, a plain object stamped with receivedAt.
    const entriesOf = (e) => {
      const v = JSON.parse(e.message.body);
      return e.batchShape === 'wrap' ? [{ ts: e.receivedAt, values: v }] : e.batchShape === 'entry' ? [v] : v;
    };
    const expected = [];
    const sent = [];
    for (let rest = queue; rest.length > 0; ) {
      const count = batchCount(rest, rest.length, maxBytes);
      assert.ok(count >= 1 && count <= rest.length);
      if (count === 1 && !fitsAlone(rest[0], maxBytes)) {
        // Too big once stamped: the device layer sends it alone, exactly as shaped.
        expected.push(JSON.parse(rest[0].message.body));
        sent.push(JSON.parse(rest[0].message.body));
      } else {
        const body = buildBatchBody(rest, count);
        assert.ok(body.length <= maxBytes, `${body.length} > ${maxBytes}`);
        expected.push(...rest.slice(0, count).flatMap(entriesOf));
        sent.push(...JSON.parse(body)); // strict JSON, or this throws
        if (count > 1) arrays++;
      }
      rest = rest.slice(count);
    }
    assert.deepEqual(sent, expected);
  }
  assert.ok(arrays > 100, `only ${arrays} multi-message arrays: the property was hardly exercised`);
});
