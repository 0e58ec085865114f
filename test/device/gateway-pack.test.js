'use strict';
// Readings of several sub-devices in ONE gateway publish, over the real MQTT transport:
// - against the emulator (ThingsBoard's behaviour: one PUBACK per device entry, same packet id)
//   a burst goes out in fewer publishes than readings, every reading done once and stored;
// - done() keeps its promise: while the later PUBACKs of a pack have not come, none of its
//   readings is done; when the connection closes before they come, the readings go again after
//   the reconnect (at least once) and are done then;
// - a broker that acknowledges once per packet (aedes as a plain broker) is recognised on the
//   first pack (no second PUBACK within the probe time), which then counts as delivered, and
//   nothing is packed after that.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, mqttSettings, waitFor } = require('../mqtt/common');
const { startTbBroker } = require('../support/tb-broker');
const { DeviceStore } = require('../../emulator/store');
const { startMqttEmulator } = require('../../emulator/mqtt');

const { DeviceConnection } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');
const { PROBE_MS } = lib('transports/mqtt/gateway-acks.js');

const GW = 'GW_PACK_TOKEN_s3cr3t';
const FAST = { backoffInitialMs: 50, backoffMaxMs: 400, statusThrottleMs: 10 };
const log = { warn() {}, info() {} };

function reading(connection, device, n) {
  return new Promise((resolve) => {
    const message = { kind: 'telemetry', body: Buffer.from(JSON.stringify({ n })), qos: 1, receivedAt: Date.now(), batchShape: 'wrap' };
    connection.submit(message, (err) => resolve(err ? err.message : 'ok'), { device, type: 'default' });
  });
}

async function emulatorGateway(t) {
  const store = new DeviceStore({ devices: [{ name: 'gw', token: GW, gateway: true }] });
  const emu = await startMqttEmulator({ store });
  t.after(() => emu.close());
  const publishes = [];
  emu.broker.on('publish', (packet, client) => {
    if (client && packet.topic === 'v1/gateway/telemetry') publishes.push(JSON.parse(packet.payload.toString()));
  });
  const conn = new DeviceConnection(mqttSettings({ port: emu.port, accessToken: GW }), { createTransport, log, queueSize: 5000, timing: FAST, gateway: true });
  conn.register({ onStatus() {} });
  t.after(() => conn.close());
  await waitFor(() => conn.status().state === 'connected', 'connected');
  return { store, emu, conn, publishes };
}

const names = Array.from({ length: 20 }, (_, i) => `p-${i}`);

test('a burst over 20 connected sub-devices goes out in packed publishes, every reading done once and stored', { timeout: 30000 }, async (t) => {
  const { store, conn, publishes } = await emulatorGateway(t);
  for (const name of names) assert.equal(await reading(conn, name, -1), 'ok'); // connected and acknowledged
  publishes.length = 0;
  const ends = [];
  for (let round = 0; round < 10; round++) for (const name of names) ends.push(reading(conn, name, round));
  assert.deepEqual(new Set(await Promise.all(ends)), new Set(['ok']));
  assert.ok(publishes.length < 200, `${publishes.length} publishes for 200 readings`);
  assert.ok(publishes.some((b) => Object.keys(b).length > 1), 'some publishes carry several sub-devices');
  for (const name of names) {
    assert.deepEqual(store.devices.get(name).telemetry.get('n').map((e) => e.value), [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `${name}: every reading once, in order`);
  }
});

/** 100 readings round robin over `devices`: the first ones fill the in-flight window, the rest queue and pack. */
function burst(conn, devices, round, onDone) {
  const ends = [];
  for (let i = 0; i < 100; i++) {
    const name = devices[i % devices.length];
    ends.push(reading(conn, name, round * 1000 + i).then((r) => { onDone?.(name, round * 1000 + i); return r; }));
  }
  return ends;
}

test('a pack is done only when every device entry is acknowledged; a close before that sends it again', { timeout: 30000 }, async (t) => {
  const { store, emu, conn, publishes } = await emulatorGateway(t);
  const four = names.slice(0, 4);
  for (const name of four) assert.equal(await reading(conn, name, -1), 'ok');
  // A first burst proves the emulator acknowledges per entry (the transport trusts it from then on).
  assert.ok((await Promise.all(burst(conn, four, 1))).every((r) => r === 'ok'));
  assert.ok(publishes.some((b) => Object.keys(b).length > 1), 'packed');
  store.gatewayExtraAckDelayMs = 60000; // the later PUBACKs of a pack do not come
  const done = new Set();
  const ends = burst(conn, four, 2, (name, n) => done.add(n));
  const stored = () => four.reduce((sum, n) => sum + store.devices.get(n).telemetry.get('n').filter((e) => e.value >= 2000).length, 0);
  await waitFor(() => stored() === 100, 'the burst stored');
  await new Promise((r) => setTimeout(r, 300));
  const packed = new Set(publishes.filter((b) => Object.keys(b).length > 1).flatMap((b) => Object.values(b).flat().map((e) => e.values.n)).filter((n) => n >= 2000));
  assert.ok(packed.size > 0, 'some of the burst went in packs');
  for (const n of packed) assert.ok(!done.has(n), `reading ${n} was done on its pack's first PUBACK`);
  assert.equal(done.size, 100 - packed.size, 'the readings sent alone were done');
  store.gatewayExtraAckDelayMs = 0;
  for (const client of Object.values(emu.broker.clients)) client.close();
  assert.ok((await Promise.all(ends)).every((r) => r === 'ok'), 'done after the reconnect');
  assert.ok(stored() >= 100 + 1, 'the unproven packs went again (at least once)');
});

test('after ThingsBoard has shown one PUBACK per entry, every new sub-device still gets its v1/gateway/connect before its first data, once, alone or in a pack, whatever its profile or message; a reconnect announces each again', { timeout: 30000 }, async (t) => {
  const { store, emu, conn, publishes } = await emulatorGateway(t);
  const topics = [];
  emu.broker.on('publish', (packet, client) => { if (client && packet.topic.startsWith('v1/gateway/')) topics.push(`${packet.topic} ${packet.payload}`); });
  const connects = (name) => topics.filter((x) => x.startsWith('v1/gateway/connect ') && JSON.parse(x.slice(19)).device === name);
  const gatewaySession = () => Object.values(emu.broker.clients).find((c) => c.tbGateway).tbGateway;
  const four = names.slice(0, 4);
  for (const name of four) assert.equal(await reading(conn, name, -1), 'ok');
  assert.equal(connects('p-0').length, 1, 'before the server is proven: connect first');
  assert.ok((await Promise.all(burst(conn, four, 1))).every((r) => r === 'ok'));
  assert.ok(publishes.some((b) => Object.keys(b).length > 1), 'packed: proven');

  // Alone, and in a pack with others.
  assert.equal(await reading(conn, 'fresh-1', 1), 'ok');
  const inPack = ['fresh-2', 'fresh-3', 'fresh-4'];
  assert.ok((await Promise.all(burst(conn, inPack, 3))).every((r) => r === 'ok'));
  for (const name of ['fresh-1', ...inPack]) {
    assert.equal(connects(name).length, 1, `${name}: one connect of its own`);
    const connectAt = topics.findIndex((x) => x.startsWith('v1/gateway/connect ') && JSON.parse(x.slice(19)).device === name);
    const dataAt = topics.findIndex((x) => x.startsWith('v1/gateway/telemetry ') && name in JSON.parse(x.slice(21)));
    assert.ok(connectAt >= 0 && connectAt < dataAt, `${name}: the connect goes before its data`);
    const device = store.devices.get(name);
    assert.ok(device && device.type === 'default' && device.gatewayName === 'gw', `${name} created by ThingsBoard with the default profile`);
    assert.ok(gatewaySession().connected.has(name), `${name} connected in this gateway session (RPC and attributes reach it)`);
  }
  // Another profile: the connect carries it.
  const typed = await new Promise((resolve) => {
    const message = { kind: 'telemetry', body: Buffer.from('{"n":1}'), qos: 1, receivedAt: Date.now(), batchShape: 'wrap' };
    conn.submit(message, (err) => resolve(err ? err.message : 'ok'), { device: 'fresh-typed', type: 'thermostat' });
  });
  assert.equal(typed, 'ok');
  assert.equal(connects('fresh-typed').length, 1);
  assert.equal(store.devices.get('fresh-typed').type, 'thermostat');
  // A claim too.
  const claimed = await new Promise((resolve) => {
    conn.submit({ kind: 'claim', body: Buffer.from('{"secretKey":"k","durationMs":1000}'), qos: 1, receivedAt: Date.now() }, (err) => resolve(err ? err.message : 'ok'), { device: 'fresh-claim', type: 'default' });
  });
  assert.equal(claimed, 'ok');
  assert.equal(connects('fresh-claim').length, 1, 'a claim for a new name: connect first');
  // After a reconnect every known name is announced again.
  topics.length = 0;
  for (const client of Object.values(emu.broker.clients)) client.close();
  await waitFor(() => connects('fresh-1').length === 1 && connects('fresh-3').length === 1, 'announced again after the reconnect');
});

test('a broker that acknowledges once per packet: the first pack counts on its one PUBACK after the probe time, then nothing is packed', { timeout: PROBE_MS + 30000 }, async (t) => {
  const tb = await startTbBroker({ tokens: [GW] });
  t.after(() => tb.close());
  const conn = new DeviceConnection(mqttSettings({ port: tb.port, accessToken: GW }), { createTransport, log, queueSize: 1000, timing: FAST, gateway: true });
  conn.register({ onStatus() {} });
  t.after(() => conn.close());
  await waitFor(() => conn.status().state === 'connected', 'connected');
  const three = names.slice(0, 3);
  for (const name of three) assert.equal(await reading(conn, name, -1), 'ok');
  const started = Date.now();
  assert.ok((await Promise.all(burst(conn, three, 1))).every((r) => r === 'ok'));
  assert.ok(Date.now() - started >= PROBE_MS - 100, 'the first pack waited for the probe time');
  const bodies = () => tb.publishedOn('v1/gateway/telemetry').map((p) => JSON.parse(p.payload));
  assert.equal(bodies().filter((b) => Object.keys(b).length > 1).length, 1, 'one pack: the probe');
  const before = bodies().length;
  const again = Date.now();
  assert.ok((await Promise.all(burst(conn, three, 2))).every((r) => r === 'ok'));
  assert.ok(Date.now() - again < PROBE_MS / 2, 'no waiting any more');
  assert.ok(bodies().slice(before).every((b) => Object.keys(b).length === 1), 'one sub-device per publish now');
  // Not proven to be ThingsBoard: a new name is still connected before its data.
  assert.equal(await reading(conn, 'after-probe', 1), 'ok');
  assert.equal(tb.publishedOn('v1/gateway/connect').filter((p) => JSON.parse(p.payload).device === 'after-probe').length, 1, 'connect before the data');
});

test('HoldingIds: a packet id whose later PUBACKs may still come is never handed out again until released', () => {
  const { HoldingIds } = lib('transports/mqtt/gateway-acks.js');
  const held = new Map([[7, {}], [65535, {}]]);
  const ids = new HoldingIds(held);
  const seen = new Set();
  for (let i = 0; i < 65533; i++) seen.add(ids.allocate());
  assert.equal(seen.size, 65533, 'every other id, each once per round');
  assert.ok(!seen.has(7) && !seen.has(65535));
  assert.equal(ids.register(7), false, 'a held id cannot be registered (session restore)');
  held.delete(7);
  const next = new Set(Array.from({ length: 65534 }, () => ids.allocate()));
  assert.ok(next.has(7), 'released: in use again');
});

test('PackedAcks: the ids it hands mqtt.js skip a pack\'s packet id from its first publish until the pack is settled', () => {
  const { EventEmitter } = require('node:events');
  const { PackedAcks } = lib('transports/mqtt/gateway-acks.js');
  const acks = new PackedAcks();
  const client = new EventEmitter();
  acks.attach(client);
  const ids = acks.ids();
  assert.equal(ids.register(7), true, 'no pack yet: every id is free');
  const body = Buffer.from('{"a":[],"b":[]}');
  const results = [];
  acks.publish(body, 2, () => {}, (err) => results.push(err ? err.code : 'ok'));
  client.emit('packetsend', { cmd: 'publish', payload: body, messageId: 7 });
  assert.equal(ids.register(7), false, 'held while its later PUBACKs may still come');
  assert.equal(acks.ids().register(7), false, 'by the provider of the next client too');
  acks.failAll(Object.assign(new Error('closed'), { code: 'CLOSED' }));
  assert.deepEqual(results, ['CLOSED']);
  assert.equal(ids.register(7), true, 'settled: free again');
});

test('PackedAcks: after a reconnect the new client\'s packets are watched (from its first pack on)', () => {
  const { EventEmitter } = require('node:events');
  const { PackedAcks } = lib('transports/mqtt/gateway-acks.js');
  const acks = new PackedAcks();
  const first = new EventEmitter();
  acks.attach(first);
  assert.equal(first.listenerCount('packetsend'), 0, 'no pack yet: nothing listens to every packet');
  const a = Buffer.from('{"a":[],"b":[]}');
  acks.publish(a, 2, () => {}, () => {});
  assert.equal(first.listenerCount('packetsend'), 1);
  first.emit('packetsend', { cmd: 'publish', payload: a, messageId: 5 });
  acks.failAll(Object.assign(new Error('closed'), { code: 'CLOSED' }));
  const second = new EventEmitter();
  acks.attach(second);
  const b = Buffer.from('{"c":[],"d":[]}');
  acks.publish(b, 2, () => {}, () => {});
  acks.publish(Buffer.from('{"e":[],"f":[]}'), 2, () => {}, () => {});
  assert.equal(second.listenerCount('packetsend'), 1, 'once per client');
  second.emit('packetsend', { cmd: 'publish', payload: b, messageId: 9 });
  assert.equal(acks.ids().register(9), false, 'the pack sent on the new client holds its id');
});
