'use strict';
// Every reading that waited carries the time the node received it, on every path and both
// transports: one reading queued during an outage goes out alone after the reconnect (the
// one-at-a-time path), several go out as an array, and a reading in flight when the connection
// dropped is sent again alone. Without its ts ThingsBoard would store it at its late arrival.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, mqttSettings, emulator, waitFor } = require('../mqtt/common');
const { settings: coapSettings, fastTiming } = require('../coap/common');
const { freeTcpPort, freeUdpPort } = require('../support/ports');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');

const { DeviceConnection } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');

const FAST = { backoffInitialMs: 50, backoffMaxMs: 200, stableAfterMs: 60_000, quickDropMs: 5000, statusThrottleMs: 10 };
/** A receive time far enough in the past that a server stamp could never be mistaken for it. */
const LONG_AGO = Date.now() - 3_600_000;

const reading = (n, receivedAt) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify({ n })), qos: 1, receivedAt, batchShape: 'wrap' });

function connect(settings) {
  const states = [];
  const conn = new DeviceConnection(settings, { createTransport, log: { warn() {}, info() {} }, queueSize: 1000, timing: FAST });
  conn.register({ onStatus: (s) => states.push(s.state) });
  return { conn, states };
}

/** n → the ts the store kept for it. */
function stamps(store) {
  const seen = new Map();
  store.on('telemetry', (e) => { for (const entry of e.entries) seen.set(entry.values.n, entry.ts); });
  return seen;
}

/**
 * MQTT notices the outage at once (the TCP close); plain CoAP only when the next request gets
 * ICMP port unreachable, so there the reading goes out, fails and waits to be sent again.
 */
async function outage({ conn, states }, stop, restart, seen, { noticedAtOnce = true } = {}) {
  const down = () => waitFor(() => states.at(-1) === 'reconnecting', 'reconnecting during the outage');
  await conn.send(reading(0, LONG_AGO));
  await stop();
  if (noticedAtOnce) await down();
  // One reading alone first (it goes out on its own after the reconnect), then a run of them.
  const lone = conn.send(reading(1, LONG_AGO + 1));
  if (!noticedAtOnce) await down();
  await restart();
  await lone;
  assert.equal(seen.get(1), LONG_AGO + 1, 'the lone reading queued during the outage keeps its receive time');
  await stop();
  if (noticedAtOnce) await down();
  const run = Array.from({ length: 5 }, (_, i) => conn.send(reading(10 + i, LONG_AGO + 10 + i)));
  if (!noticedAtOnce) await down();
  await restart();
  await Promise.all(run);
  for (let i = 0; i < 5; i++) assert.equal(seen.get(10 + i), LONG_AGO + 10 + i, `reading ${10 + i} keeps its receive time`);
}

test('MQTT: readings queued during an outage arrive with their receive time', { timeout: 60000 }, async (t) => {
  const port = await freeTcpPort();
  const store = new DeviceStore({ devices: [{ name: 'dev1', token: mqttSettings().accessToken }] });
  let { emu } = await emulator({ store, port });
  t.after(() => emu.close());
  const seen = stamps(store);
  const device = connect(mqttSettings({ port }));
  t.after(() => device.conn.close());
  await outage(device, () => emu.close(), async () => { ({ emu } = await emulator({ store, port })); }, seen);
});

test('MQTT: a reading in flight when the session closed is sent again with its receive time', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const seen = stamps(store);
  const device = connect(mqttSettings({ port: emu.port }));
  t.after(() => device.conn.close());
  await device.conn.send(reading(0, LONG_AGO));
  // The session ends while reading 1 waits for its PUBACK: the first time it arrives the broker
  // refuses it by closing the session (as ThingsBoard does), before storing or acknowledging it.
  let dropped = false;
  const accept = store.accept.bind(store);
  store.accept = (token, kind, body, transport) => {
    if (!dropped && String(body).includes('"n":1')) {
      dropped = true;
      return { ok: false, reason: 'dropped by the test' };
    }
    return accept(token, kind, body, transport);
  };
  await device.conn.send(reading(1, LONG_AGO + 1));
  assert.ok(dropped, 'the session was closed with the reading in flight');
  assert.equal(seen.get(1), LONG_AGO + 1);
});

test('CoAP: readings queued during an outage arrive with their receive time', { timeout: 60000 }, async (t) => {
  fastTiming(0.1);
  const port = await freeUdpPort();
  const token = 'WaitedTsToken1';
  const store = new DeviceStore({ devices: [{ name: 'dev', token }] });
  let emu = await startCoapEmulator({ store, port });
  t.after(() => emu.close());
  const seen = stamps(store);
  const device = connect(coapSettings(port, { accessToken: token }));
  t.after(() => device.conn.close());
  await outage(device, () => emu.close(), async () => { emu = await startCoapEmulator({ store, port }); }, seen, { noticedAtOnce: false });
});
