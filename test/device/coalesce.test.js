'use strict';
// Issue 6 coalescing in the device layer: telemetry that waits in the queue goes out as ONE
// ThingsBoard array publish `[{ts, values}, ...]`, against the real MQTT transport and emulator
// (and the CoAP transport for per-message errors). Messages are queued by sending them before
// the connection is up (or while the broker holds the in-flight ones), which is what makes them
// back up. What is checked is what the emulator's store recorded: every entry's values and ts.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, TOKEN, mqttSettings, emulator, waitFor } = require('../mqtt/common');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');

const { DeviceConnection } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');
const { batchShapeOf } = lib('device/batch.js');

const FAST = { backoffInitialMs: 50, backoffMaxMs: 200, stableAfterMs: 60_000, quickDropMs: 5000, statusThrottleMs: 10 };
const BASE_TS = 1_700_000_000_000; // a "received at" far from now, so it cannot be the server's time

const silentLog = { warn() {}, info() {} };
const user = { onStatus() {} };

function open(t, settings, extra = {}) {
  const conn = new DeviceConnection(settings, { createTransport, log: silentLog, queueSize: 10_000, timing: FAST, ...extra });
  conn.register(user);
  t.after(() => conn.close()); // also when an assertion failed: no handle left open
  return conn;
}

/** A telemetry message as the out node builds it (value → body + shape; the value is not kept). */
function tele(value, receivedAt, qos = 1) {
  return { kind: 'telemetry', body: Buffer.from(JSON.stringify(value)), qos, receivedAt, batchShape: batchShapeOf(value) };
}

/** Sends through submit() and records how often and how each message ended. */
function sender(conn) {
  const ends = new Map(); // id → [err | null, ...]
  const send = (id, message) =>
    new Promise((resolve) => {
      ends.set(id, []);
      conn.submit(message, (err) => {
        ends.get(id).push(err || null);
        resolve(err || null);
      });
    });
  return { ends, send };
}

/** Every telemetry publish the store accepted: its entries, in arrival order. */
function publishes(store) {
  const list = [];
  store.on('telemetry', (e) => list.push(e.entries));
  return list;
}

test('queued telemetry goes out as arrays, in order across batches, each entry with its own received-at ts, each done once', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const seen = publishes(store);
  // A small payload limit: 200 messages need several arrays.
  const conn = open(t, mqttSettings({ port: emu.port, maxPayloadBytes: 1000 }));
  const { ends, send } = sender(conn);
  const N = 200;
  const all = Array.from({ length: N }, (_, n) => send(n, tele({ n }, BASE_TS + n)));
  assert.deepEqual(await Promise.all(all), Array(N).fill(null), 'every message done without error');
  const entries = seen.flat();
  assert.deepEqual(entries.map((e) => e.values.n), Array.from({ length: N }, (_, n) => n), 'order kept');
  assert.deepEqual(entries.map((e) => e.ts), Array.from({ length: N }, (_, n) => BASE_TS + n), 'ts = when received');
  assert.ok(seen.length > 1 && seen.length < N / 5, `coalesced into a few arrays (${seen.length} publishes)`);
  assert.ok(seen.every((p) => Buffer.byteLength(JSON.stringify(p)) <= 1000), 'no array over the payload limit');
  for (const [id, list] of ends) assert.equal(list.length, 1, `message ${id} ended once`);
  await conn.close();
});

test('a message with its own ts keeps it; {ts, values} arrays join as their entries', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const seen = publishes(store);
  const conn = open(t, mqttSettings({ port: emu.port }));
  const { send } = sender(conn);
  const own = BASE_TS - 5000;
  await Promise.all([
    send('plain', tele({ a: 1 }, BASE_TS)),
    send('msg.ts', tele({ ts: own, values: { b: 2 } }, BASE_TS + 1)),
    send('array', tele([{ ts: own + 1, values: { c: 3 } }, { ts: own + 2, values: { c: 4 } }], BASE_TS + 2)),
    send('plain2', tele({ d: 5 }, BASE_TS + 3)),
  ]);
  assert.equal(seen.length, 1, 'one array publish');
  assert.deepEqual(seen[0], [
    { ts: BASE_TS, values: { a: 1 } },
    { ts: own, values: { b: 2 } },
    { ts: own + 1, values: { c: 3 } },
    { ts: own + 2, values: { c: 4 } },
    { ts: BASE_TS + 3, values: { d: 5 } },
  ]);
  await conn.close();
});

test('no coalescing of attributes, across QoS, or of arrays without ts; an item too big for an array goes alone as it was', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const seen = [];
  store.on('telemetry', (e) => seen.push({ kind: 'telemetry', entries: e.entries }));
  store.on('attributes', (e) => seen.push({ kind: 'attributes', values: e.values }));
  const qosOf = [];
  const authorize = emu.broker.authorizePublish; // called in arrival order, before the store
  emu.broker.authorizePublish = (client, packet, cb) => {
    qosOf.push(packet.qos);
    authorize(client, packet, cb);
  };
  // 200 bytes: {"big":"…"} of 190 bytes fits alone, not with the 30 bytes an array entry adds.
  const conn = open(t, mqttSettings({ port: emu.port, maxPayloadBytes: 200 }));
  const { send } = sender(conn);
  const big = { big: 'x'.repeat(190 - 10) };
  assert.equal(Buffer.byteLength(JSON.stringify(big)), 190);
  const before = Date.now();
  const results = await Promise.all([
    send(1, tele({ q: 1 }, BASE_TS + 1, 1)),
    send(2, tele({ q: 2 }, BASE_TS + 2, 1)),
    send(3, tele({ q: 3 }, BASE_TS + 3, 0)),
    send(4, tele({ q: 4 }, BASE_TS + 4, 0)),
    send(5, { kind: 'attributes', body: Buffer.from('{"fw":"1"}'), qos: 1 }),
    send(6, { kind: 'attributes', body: Buffer.from('{"hw":"2"}'), qos: 1 }),
    send(7, tele([{ r: 1 }, { r: 2 }], BASE_TS + 7)), // no ts in the items: alone, server-stamped
    send(8, tele(big, BASE_TS + 8)),
    send(9, tele({ q: 9 }, BASE_TS + 9, 1)),
  ]);
  assert.deepEqual(results, Array(9).fill(null));
  const shape = seen.map((p) => (p.kind === 'attributes' ? `A:${Object.keys(p.values)}` : `T:${p.entries.length}`));
  assert.deepEqual(shape, ['T:2', 'T:2', 'A:fw', 'A:hw', 'T:2', 'T:1', 'T:1']);
  assert.deepEqual(qosOf, [1, 0, 1, 1, 1, 1, 1], 'QoS 1 array, QoS 0 array, then the rest at QoS 1');
  assert.deepEqual(seen[0].entries.map((e) => e.ts), [BASE_TS + 1, BASE_TS + 2]);
  assert.deepEqual(seen[1].entries.map((e) => e.values.q), [3, 4]);
  assert.ok(seen[4].entries.every((e) => e.ts >= before), 'the array without ts was stamped by the server, as sent');
  assert.ok(seen[5].entries[0].ts >= before && seen[5].entries[0].values.big, 'the big one went alone, as it was');
  assert.deepEqual(seen[6].entries[0].values, { q: 9 }, 'the last one alone (nothing queued behind it)');
  await conn.close();
});

test('a rejected array: its messages go again one by one, the bad one fails alone, order and ts kept (CoAP)', { timeout: 60000 }, async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }] });
  const requests = [];
  const emu = await startCoapEmulator({
    store,
    override: ({ body }) => {
      requests.push(JSON.parse(body.toString()));
      return body.includes('"bad"') ? '4.00' : undefined;
    },
  });
  t.after(() => emu.close());
  const seen = publishes(store);
  const conn = open(t, mqttSettings({ transport: 'coap', port: emu.port, coap: { confirmable: true, maxInFlight: 1 } }));
  const { ends, send } = sender(conn);
  const ids = ['a', 'b', 'bad', 'c', 'd'];
  const results = await Promise.all(ids.map((id, i) => send(id, tele({ [id]: i }, BASE_TS + i))));
  assert.deepEqual(results.map((r) => r && r.code), [null, null, 'COAP_4.00', null, null], 'only the bad one failed');
  assert.match(results[2].message, /4\.00/);
  assert.ok(requests.some((r) => Array.isArray(r) && r.length > 1 && r.some((e) => e.values.bad !== undefined)), 'it was in a rejected array first');
  const stored = seen.flat();
  assert.deepEqual(stored.map((e) => Object.keys(e.values)[0]), ['a', 'b', 'c', 'd'], 'the others stored once each, in order');
  assert.deepEqual(stored.map((e) => e.ts), [BASE_TS, BASE_TS + 1, BASE_TS + 3, BASE_TS + 4], 'with the ts they had in the array');
  for (const [id, list] of ends) assert.equal(list.length, 1, `${id} ended once`);
  await conn.close();
});

test('the connection drops while arrays are in flight: they go back in order and every message arrives (at least once)', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  // The broker holds every publish (no PUBACK) until the connection is cut.
  let held = 0;
  const authorize = emu.broker.authorizePublish;
  emu.broker.authorizePublish = () => {
    held++;
  };
  const conn = open(t, mqttSettings({ port: emu.port, maxPayloadBytes: 1000 }));
  const { ends, send } = sender(conn);
  const N = 100;
  const all = Array.from({ length: N }, (_, n) => send(n, tele({ n }, BASE_TS + n)));
  await waitFor(() => held >= 3, 'arrays in flight');
  const arrived = [];
  store.on('telemetry', (e) => arrived.push(e.entries));
  emu.broker.authorizePublish = authorize;
  for (const client of Object.values(emu.broker.clients)) client.conn.destroy();
  assert.deepEqual(await Promise.all(all), Array(N).fill(null));
  const firstArrival = new Map();
  for (const e of arrived.flat()) if (!firstArrival.has(e.values.n)) firstArrival.set(e.values.n, e.ts);
  assert.deepEqual([...firstArrival.keys()], Array.from({ length: N }, (_, n) => n), 'all arrived, order of first arrival kept');
  for (const [n, ts] of firstArrival) assert.equal(ts, BASE_TS + n, `message ${n} kept its received-at ts when sent again`);
  for (const [id, list] of ends) assert.equal(list.length, 1, `${id} ended once`);
  await conn.close();
});
