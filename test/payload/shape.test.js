'use strict';
// shapePayload: every accepted shape, every refused one, and the wording users see.
const test = require('node:test');
const assert = require('node:assert/strict');
const { shapePayload, PayloadError } = require('../../nodes/lib/payload/index.js');

const TELEMETRY = { kind: 'telemetry', maxBytes: 65536 };
const ATTRIBUTES = { kind: 'attributes', maxBytes: 65536 };
const TS = 1714564800000; // 2024-05-01T12:00:00Z

/** The body as text, after checking it is exactly JSON.stringify(value). */
function send(msg, options = TELEMETRY) {
  const shaped = shapePayload(msg, options);
  assert.ok(Buffer.isBuffer(shaped.body));
  assert.equal(shaped.body.toString('utf8'), JSON.stringify(shaped.value));
  return shaped.body.toString('utf8');
}

/** Asserts a PayloadError at `path` whose message matches every pattern. */
function refuses(msg, options, path, ...patterns) {
  let caught;
  try {
    shapePayload(msg, options);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof PayloadError, `expected a PayloadError, got ${caught}`);
  assert.ok(caught instanceof Error);
  assert.equal(caught.name, 'PayloadError');
  assert.equal(caught.path, path);
  assert.ok(caught.message.startsWith(path), `message starts with the path: ${caught.message}`);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

test('objects, arrays and {ts, values} pass through as they are', { timeout: 30000 }, () => {
  assert.equal(send({ payload: { temperature: 21.5, on: true, label: 'x', n: null } }), '{"temperature":21.5,"on":true,"label":"x","n":null}');
  assert.equal(send({ payload: { nested: { a: [1, 2, { b: 'c' }], e: {}, f: [] } } }), '{"nested":{"a":[1,2,{"b":"c"}],"e":{},"f":[]}}');
  assert.equal(send({ payload: [{ a: 1 }, { b: 2 }] }), '[{"a":1},{"b":2}]');
  assert.equal(send({ payload: { ts: TS, values: { a: 1 } } }), `{"ts":${TS},"values":{"a":1}}`);
  assert.equal(
    send({ payload: [{ ts: TS, values: { a: 1 } }, { b: 2 }, { ts: TS + 1, values: { a: 2 } }] }),
    `[{"ts":${TS},"values":{"a":1}},{"b":2},{"ts":${TS + 1},"values":{"a":2}}]`,
  );
  assert.equal(send({ payload: { a: 1 } }, ATTRIBUTES), '{"a":1}');
  assert.equal(send({ payload: { config: { mode: 'eco', levels: [1, 2] } } }, ATTRIBUTES), '{"config":{"mode":"eco","levels":[1,2]}}');
});

test('a payload that needs no change is not copied', { timeout: 30000 }, () => {
  const payload = { a: 1, b: { c: [1, 2] } };
  assert.equal(shapePayload({ payload }, TELEMETRY).value, payload);
  const arr = [{ a: 1 }, { ts: TS, values: { b: 2 } }];
  assert.equal(shapePayload({ payload: arr }, TELEMETRY).value, arr);
});

test('single values go under the node key, else msg.topic', { timeout: 30000 }, () => {
  assert.equal(send({ payload: 25, topic: 'temperature' }), '{"temperature":25}');
  assert.equal(send({ payload: 'on', topic: 'state' }), '{"state":"on"}');
  assert.equal(send({ payload: false, topic: 'door' }), '{"door":false}');
  assert.equal(send({ payload: 25, topic: 'ignored' }, { ...TELEMETRY, key: 'temp' }), '{"temp":25}');
  assert.equal(send({ payload: 25 }, { ...TELEMETRY, key: '  temp  ' }), '{"temp":25}', 'the Key is trimmed');
  assert.equal(send({ payload: 25, topic: 'fallback' }, { ...TELEMETRY, key: '   ' }), '{"fallback":25}', 'a blank Key counts as none');
  assert.equal(send({ payload: 7n, topic: 'n' }), '{"n":7}');
  assert.equal(send({ payload: new Date(TS), topic: 'when' }), '{"when":"2024-05-01T12:00:00.000Z"}');
  assert.equal(send({ payload: '', topic: 'empty' }), '{"empty":""}');
  assert.equal(send({ payload: 'fw-1.2', topic: 'firmware' }, ATTRIBUTES), '{"firmware":"fw-1.2"}');
  assert.equal(send({ payload: 1, topic: '__proto__' }), '{"__proto__":1}', '__proto__ stays an ordinary key');
});

test('a single value without a key name is refused with what to set', { timeout: 30000 }, () => {
  refuses({ payload: 25 }, TELEMETRY, 'payload', /single value \(25\)/, /set the node's Key or msg\.topic/);
  refuses({ payload: 'x', topic: '' }, TELEMETRY, 'payload', /node's Key/);
  refuses({ payload: 25, topic: 42 }, TELEMETRY, 'msg.topic', /msg\.topic is 42/, /node's Key/);
  refuses({ payload: 25, topic: { a: 1 } }, ATTRIBUTES, 'msg.topic', /an object/);
});

test('JSON text: object/array text is parsed; any other text is one string value', { timeout: 30000 }, () => {
  assert.equal(send({ payload: '{"a":1,"b":[true]}' }), '{"a":1,"b":[true]}');
  assert.equal(send({ payload: '  \n[{"a":1},{"ts":1714564800000,"values":{"b":2}}]  ' }), `[{"a":1},{"ts":${TS},"values":{"b":2}}]`);
  assert.equal(send({ payload: '\ufeff{"bom":1}' }), '{"bom":1}');
  assert.equal(send({ payload: '{"a": 1}' }, ATTRIBUTES), '{"a":1}');
  // "25", "true", "null", '"quoted"' are NOT object/array text: they stay text values.
  assert.equal(send({ payload: '25', topic: 't' }), '{"t":"25"}');
  assert.equal(send({ payload: 'true', topic: 't' }), '{"t":"true"}');
  assert.equal(send({ payload: 'null', topic: 't' }), '{"t":"null"}');
  assert.equal(send({ payload: '"q"', topic: 't' }), '{"t":"\\"q\\""}');
  assert.equal(send({ payload: ' 25 ', topic: 't' }), '{"t":" 25 "}');
});

test('JSON text that is broken is refused, not sent as a string', { timeout: 30000 }, () => {
  refuses({ payload: '{temperature:25}' }, TELEMETRY, 'payload', /not valid JSON/, /double quotes/);
  refuses({ payload: '[1,2,' , topic: 'k' }, TELEMETRY, 'payload', /not valid JSON/);
  refuses({ payload: '{"a":1,}' }, ATTRIBUTES, 'payload', /not valid JSON/);
});

test('JSON text is validated like an object: overflowing numbers, empties, shape', { timeout: 30000 }, () => {
  refuses({ payload: '{"a":1e400}' }, TELEMETRY, 'payload.a', /is Infinity/);
  refuses({ payload: '{}' }, TELEMETRY, 'payload', /empty object/);
  refuses({ payload: '[]' }, TELEMETRY, 'payload', /empty array/);
  refuses({ payload: '[1,2]' }, TELEMETRY, 'payload[0]', /is 1/, /must be an object/);
  refuses({ payload: '[{"a":1}]' }, ATTRIBUTES, 'payload', /is an array/, /one object/);
  // JSON.parse makes "__proto__" an own key; it must survive as data.
  assert.equal(send({ payload: '{"__proto__":{"x":1},"d":1}' }), '{"__proto__":{"x":1},"d":1}');
});

test('Buffers: UTF-8 text, handled like strings; binary is refused', { timeout: 30000 }, () => {
  assert.equal(send({ payload: Buffer.from('{"a":"é"}') }), '{"a":"é"}');
  assert.equal(send({ payload: Buffer.from('[{"a":1}]') }), '[{"a":1}]');
  assert.equal(send({ payload: Buffer.from('\ufeff{"a":2}') }), '{"a":2}');
  assert.equal(send({ payload: Buffer.from('21.5'), topic: 't' }), '{"t":"21.5"}');
  assert.equal(send({ payload: new Uint8Array(Buffer.from('{"u":1}')) }), '{"u":1}');
  refuses({ payload: Buffer.from([0xff, 0xfe, 0x00, 0x80]), topic: 't' }, TELEMETRY, 'payload', /not UTF-8/, /4 bytes/);
  refuses({ payload: Buffer.from('{"a":') }, TELEMETRY, 'payload', /not valid JSON/);
});

test('msg.ts wraps telemetry into {ts, values}; every accepted form', { timeout: 30000 }, () => {
  const expect = `{"ts":${TS},"values":{"a":1}}`;
  assert.equal(send({ payload: { a: 1 }, ts: TS }), expect);
  assert.equal(send({ payload: { a: 1 }, ts: new Date(TS) }), expect);
  assert.equal(send({ payload: { a: 1 }, ts: '2024-05-01T12:00:00Z' }), expect);
  assert.equal(send({ payload: { a: 1 }, ts: '2024-05-01T12:00:00.000Z' }), expect);
  assert.equal(send({ payload: { a: 1 }, ts: '2024-05-01T14:00:00+02:00' }), expect);
  assert.equal(send({ payload: { a: 1 }, ts: '2024-05-01 14:00:00+0200' }), expect);
  assert.equal(send({ payload: { a: 1 }, ts: String(TS) }), expect, 'digits are epoch ms');
  assert.equal(send({ payload: { a: 1 }, ts: BigInt(TS) }), expect);
  assert.equal(send({ payload: 1, topic: 'a', ts: TS }), expect);
  assert.equal(send({ payload: '{"a":1}', ts: TS }), expect);
  assert.equal(send({ payload: { a: 1 }, ts: null }), '{"a":1}', 'null means no ts');
  // Arrays: plain items are wrapped, {ts, values} items keep their own ts.
  assert.equal(
    send({ payload: [{ a: 1 }, { ts: TS + 5, values: { b: 2 } }], ts: TS }),
    `[{"ts":${TS},"values":{"a":1}},{"ts":${TS + 5},"values":{"b":2}}]`,
  );
  // A payload's own ts wins over msg.ts.
  assert.equal(send({ payload: { ts: TS + 9, values: { a: 1 } }, ts: TS }), `{"ts":${TS + 9},"values":{"a":1}}`);
});

test('an invalid msg.ts is refused with the reason', { timeout: 30000 }, () => {
  refuses({ payload: { a: 1 }, ts: 1714564800 }, TELEMETRY, 'msg.ts', /before 1973/, /multiply by 1000/);
  refuses({ payload: { a: 1 }, ts: 1714564800000000 }, TELEMETRY, 'msg.ts', /divide by 1000/);
  refuses({ payload: { a: 1 }, ts: 1714564800000n * 1000000n }, TELEMETRY, 'msg.ts', /nanoseconds/);
  refuses({ payload: { a: 1 }, ts: TS + 0.5 }, TELEMETRY, 'msg.ts', /whole milliseconds/);
  refuses({ payload: { a: 1 }, ts: NaN }, TELEMETRY, 'msg.ts', /is NaN/);
  refuses({ payload: { a: 1 }, ts: Infinity }, TELEMETRY, 'msg.ts', /is Infinity/);
  refuses({ payload: { a: 1 }, ts: new Date('nope') }, TELEMETRY, 'msg.ts', /invalid Date/);
  refuses({ payload: { a: 1 }, ts: 'yesterday' }, TELEMETRY, 'msg.ts', /"yesterday", which is not a valid date/, /ISO-8601/);
  refuses({ payload: { a: 1 }, ts: '2024-02-30T00:00:00Z' }, TELEMETRY, 'msg.ts', /not a valid date/);
  refuses({ payload: { a: 1 }, ts: '2024-13-01' }, TELEMETRY, 'msg.ts', /not a valid date/);
  refuses({ payload: { a: 1 }, ts: '' }, TELEMETRY, 'msg.ts', /not a valid date/);
  refuses({ payload: { a: 1 }, ts: true }, TELEMETRY, 'msg.ts', /is true/);
  refuses({ payload: { a: 1 }, ts: { t: 1 } }, TELEMETRY, 'msg.ts', /an object/);
  // Checked even when the payload carries its own ts.
  refuses({ payload: { ts: TS, values: { a: 1 } }, ts: 'bad' }, TELEMETRY, 'msg.ts');
});

test('attributes: msg.ts is ignored, and only one object is accepted', { timeout: 30000 }, () => {
  assert.equal(send({ payload: { a: 1 }, ts: TS }, ATTRIBUTES), '{"a":1}');
  assert.equal(send({ payload: { a: 1 }, ts: 'garbage' }, ATTRIBUTES), '{"a":1}');
  refuses({ payload: [{ a: 1 }] }, ATTRIBUTES, 'payload', /is an array/, /one object of key: value pairs/);
  refuses({ payload: { ts: TS, values: { a: 1 } } }, ATTRIBUTES, 'payload', /\{ts, values\}/, /no timestamp/);
  refuses({ payload: {} }, ATTRIBUTES, 'payload', /empty object/);
  // A key merely called "ts" is an ordinary attribute.
  assert.equal(send({ payload: { ts: 5, fw: '1' } }, ATTRIBUTES), '{"ts":5,"fw":"1"}');
});

test('{ts, values} is validated', { timeout: 30000 }, () => {
  refuses({ payload: { ts: 1714564800, values: { a: 1 } } }, TELEMETRY, 'payload.ts', /multiply by 1000/);
  refuses({ payload: { ts: 'x', values: { a: 1 } } }, TELEMETRY, 'payload.ts', /not a valid date/);
  refuses({ payload: { ts: TS, values: {} } }, TELEMETRY, 'payload.values', /empty object/);
  refuses({ payload: { ts: TS, values: 5 } }, TELEMETRY, 'payload.values', /is 5/, /values must be an object/);
  refuses({ payload: { ts: TS, values: [1] } }, TELEMETRY, 'payload.values', /an array/);
  refuses({ payload: { ts: TS, values: null } }, TELEMETRY, 'payload.values', /is null/);
  refuses({ payload: { ts: TS, values: { a: 1 }, extra: 2 } }, TELEMETRY, 'payload.extra', /ThingsBoard ignores it/, /move it into values/);
  refuses({ payload: [{ a: 1 }, { ts: TS, values: { x: NaN } }] }, TELEMETRY, 'payload[1].values.x', /is NaN/);
  // ts given as a Date or ISO text is sent as a number.
  assert.equal(send({ payload: { ts: new Date(TS), values: { a: 1 } } }), `{"ts":${TS},"values":{"a":1}}`);
  assert.equal(send({ payload: [{ ts: '2024-05-01T12:00:00Z', values: { a: 1 } }] }), `[{"ts":${TS},"values":{"a":1}}]`);
});

test('values JSON cannot carry are refused with their path and what to do', { timeout: 30000 }, () => {
  refuses({ payload: { a: { b: NaN } } }, TELEMETRY, 'payload.a.b', /^payload\.a\.b is NaN: ThingsBoard stores JSON numbers only; replace it or drop the key$/);
  refuses({ payload: [{ a: 1 }, { b: 1 }, { c: 1 }, { ts: TS, values: { x: Infinity } }] }, TELEMETRY, 'payload[3].values.x', /^payload\[3\]\.values\.x is Infinity: /);
  refuses({ payload: { a: -Infinity } }, ATTRIBUTES, 'payload.a', /is -Infinity/);
  refuses({ payload: { a: [1, NaN] } }, TELEMETRY, 'payload.a[1]', /is NaN/, /remove the item$/);
  refuses({ payload: NaN, topic: 't' }, TELEMETRY, 'payload', /^payload is NaN/);
  refuses({ payload: { f() {} } }, TELEMETRY, 'payload.f', /is a function/);
  refuses({ payload: { s: Symbol('x') } }, TELEMETRY, 'payload.s', /is a symbol/);
  refuses({ payload: { u: undefined, v: 1 } }, TELEMETRY, 'payload.u', /is undefined/, /drop the key$/);
  refuses({ payload: { a: [1, undefined] } }, TELEMETRY, 'payload.a[1]', /is undefined/);
  // eslint-disable-next-line no-sparse-arrays
  refuses({ payload: { a: [1, , 3] } }, TELEMETRY, 'payload.a[1]', /is undefined/);
  refuses({ payload: { big: 2n ** 60n } }, TELEMETRY, 'payload.big', /1152921504606846976n/, /String\(value\)/);
  refuses({ payload: { big: -(2n ** 53n) } }, TELEMETRY, 'payload.big', /BigInt/);
  refuses({ payload: { 'my key': { 'x-y': NaN } } }, TELEMETRY, 'payload["my key"]["x-y"]', /is NaN/);
  refuses({ payload: undefined }, TELEMETRY, 'payload', /nothing to send/);
  refuses({ payload: null }, TELEMETRY, 'payload', /nothing to send/);
  refuses({ payload: () => 1, topic: 't' }, TELEMETRY, 'payload', /is a function/);
});

test('BigInt inside the safe range becomes a number', { timeout: 30000 }, () => {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  assert.equal(send({ payload: { a: max, b: -max, c: [0n] } }), `{"a":${max},"b":${-max},"c":[0]}`);
});

test('circular references and absurd nesting', { timeout: 30000 }, () => {
  const o = { a: { b: {} } };
  o.a.b.back = o.a;
  refuses({ payload: o }, TELEMETRY, 'payload.a.b.back', /refers back to payload\.a \(a circular reference\)/);
  const arr = [{ a: 1 }];
  arr[0].self = arr;
  refuses({ payload: arr }, TELEMETRY, 'payload[0].self', /refers back to payload /);
  const ts = { ts: TS, values: {} };
  ts.values.me = ts.values;
  refuses({ payload: ts }, TELEMETRY, 'payload.values.me', /refers back to payload\.values/);
  // The same object twice (not a cycle) is fine.
  const shared = { x: 1 };
  assert.equal(send({ payload: { a: shared, b: shared } }), '{"a":{"x":1},"b":{"x":1}}');
  let deep = { end: 1 };
  for (let i = 0; i < 300; i++) deep = { d: deep };
  refuses({ payload: deep }, TELEMETRY, `payload${'.d'.repeat(200)}`, /nested more than 200 levels/);
});

test('objects JSON would mangle are refused; Dates and boxed values are normalized', { timeout: 30000 }, () => {
  refuses({ payload: { b: Buffer.from('hi') } }, TELEMETRY, 'payload.b', /is a Buffer/, /base64/);
  refuses({ payload: { b: new Uint8Array(2) } }, TELEMETRY, 'payload.b', /Uint8Array/);
  refuses({ payload: { b: new ArrayBuffer(2) } }, TELEMETRY, 'payload.b', /ArrayBuffer/);
  refuses({ payload: { m: new Map([[1, 2]]) } }, TELEMETRY, 'payload.m', /is a Map/, /Object\.fromEntries/);
  refuses({ payload: { s: new Set([1]) } }, TELEMETRY, 'payload.s', /is a Set/);
  refuses({ payload: { e: new Error('boom') } }, TELEMETRY, 'payload.e', /an Error/, /err\.message/);
  refuses({ payload: { r: /x/ } }, TELEMETRY, 'payload.r', /a RegExp/);
  refuses({ payload: { p: Promise.resolve(1) } }, TELEMETRY, 'payload.p', /a Promise/);
  refuses({ payload: { d: new Date('nope') } }, TELEMETRY, 'payload.d', /invalid Date/);
  refuses({ payload: [new Date(TS)] }, TELEMETRY, 'payload[0]', /a Date/, /must be an object/);
  refuses({ payload: new Map() }, TELEMETRY, 'payload', /is a Map/);
  refuses({ payload: { t: { toJSON() { throw new Error('no'); } } } }, TELEMETRY, 'payload.t', /toJSON\(\): no/);
  assert.equal(send({ payload: { d: new Date(TS) } }), '{"d":"2024-05-01T12:00:00.000Z"}');
  // eslint-disable-next-line no-new-wrappers
  assert.equal(send({ payload: { n: new Number(3), s: new String('x'), b: new Boolean(false) } }), '{"n":3,"s":"x","b":false}');
  assert.equal(send({ payload: { j: { toJSON: () => ({ v: 1 }) } } }), '{"j":{"v":1}}');
  refuses({ payload: { j: { toJSON: () => NaN } } }, TELEMETRY, 'payload.j', /is NaN/);
  class Reading {
    constructor() {
      this.temperature = 20;
    }
  }
  assert.equal(send({ payload: new Reading() }), '{"temperature":20}');
  assert.equal(send({ payload: Object.assign(Object.create(null), { a: 1 }) }), '{"a":1}');
});

test('normalizing copies: the user payload is never modified', { timeout: 30000 }, () => {
  const payload = { a: 1, d: new Date(TS), n: 5n, inner: [1, new Date(TS)] };
  const shaped = shapePayload({ payload }, TELEMETRY);
  assert.ok(payload.d instanceof Date);
  assert.equal(payload.n, 5n);
  assert.ok(payload.inner[1] instanceof Date);
  assert.deepEqual(JSON.parse(shaped.body), { a: 1, d: '2024-05-01T12:00:00.000Z', n: 5, inner: [1, '2024-05-01T12:00:00.000Z'] });
  assert.equal(Object.keys(shaped.value).join(), 'a,d,n,inner', 'key order kept');
});

test('empty payloads and key names', { timeout: 30000 }, () => {
  refuses({ payload: {} }, TELEMETRY, 'payload', /empty object/, /at least one key/);
  refuses({ payload: [] }, TELEMETRY, 'payload', /empty array/);
  refuses({ payload: [{ a: 1 }, {}] }, TELEMETRY, 'payload[1]', /empty object/);
  refuses({ payload: [{ a: 1 }, 5] }, TELEMETRY, 'payload[1]', /is 5/);
  refuses({ payload: [{ a: 1 }, [{ b: 1 }]] }, TELEMETRY, 'payload[1]', /an array/);
  refuses({ payload: [null] }, TELEMETRY, 'payload[0]', /is null/);
  refuses({ payload: { '': 1 } }, TELEMETRY, 'payload[""]', /empty name/);
  // Nested empties are JSON values, stored as such.
  assert.equal(send({ payload: { cfg: {}, list: [] } }), '{"cfg":{},"list":[]}');
  assert.equal(send({ payload: { cfg: { '': 1 } } }), '{"cfg":{"":1}}');
});

test('maxBytes: exactly the limit passes, one byte more is refused (bytes, not characters)', { timeout: 30000 }, () => {
  const body = '{"k":"aaaa"}'; // 12 bytes
  assert.equal(send({ payload: { k: 'aaaa' } }, { kind: 'telemetry', maxBytes: 12 }), body);
  refuses({ payload: { k: 'aaaaa' } }, { kind: 'telemetry', maxBytes: 12 }, 'payload', /13 bytes/, /limit of 12 bytes/, /fewer/);
  // "é" is 2 bytes in UTF-8: 11 characters, 12 bytes.
  assert.equal(send({ payload: { k: 'aaé' } }, { kind: 'attributes', maxBytes: 12 }), '{"k":"aaé"}');
  refuses({ payload: { k: 'aaaé' } }, { kind: 'attributes', maxBytes: 12 }, 'payload', /13 bytes/);
  // A 4-byte emoji (2 UTF-16 units).
  assert.equal(shapePayload({ payload: { k: '😀' } }, { kind: 'telemetry', maxBytes: 12 }).body.length, 12);
  refuses({ payload: { k: 'a😀' } }, { kind: 'telemetry', maxBytes: 12 }, 'payload', /13 bytes/);
  // The limit applies after msg.ts wrapping.
  const wrapped = `{"ts":${TS},"values":{"a":1}}`;
  assert.equal(send({ payload: { a: 1 }, ts: TS }, { kind: 'telemetry', maxBytes: wrapped.length }), wrapped);
  refuses({ payload: { a: 1 }, ts: TS }, { kind: 'telemetry', maxBytes: wrapped.length - 1 }, 'payload', /bytes/);
});

test('a message is reusable: errors leave no state behind', { timeout: 30000 }, () => {
  assert.throws(() => shapePayload({ payload: { a: { b: NaN } } }, TELEMETRY), PayloadError);
  refuses({ payload: { x: undefined } }, TELEMETRY, 'payload.x');
  assert.equal(send({ payload: { ok: 1 } }), '{"ok":1}');
  // A toJSON that itself shapes a payload (re-entry) does not disturb the outer walk.
  const inner = { toJSON: () => shapePayload({ payload: { z: 1 } }, TELEMETRY).value };
  assert.equal(send({ payload: { a: { b: inner } } }), '{"a":{"b":{"z":1}}}');
  const innerBad = { toJSON: () => { try { shapePayload({ payload: { q: NaN } }, TELEMETRY); } catch { /* ignore */ } return 1; } };
  refuses({ payload: { a: innerBad, b: NaN } }, TELEMETRY, 'payload.b', /is NaN/);
});
