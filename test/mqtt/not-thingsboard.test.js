'use strict';
// A plain MQTT broker (mosquitto on 1883, say) acknowledges every publish, so nothing looks
// wrong, but the readings reach no ThingsBoard device. ThingsBoard's MQTT transport answers the
// client-side RPC getSessionLimits itself: when it stays unanswered while publishes are
// acknowledged, the log says once that the server may not be ThingsBoard.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, TOKEN, mqttSettings, emulator, waitFor } = require('./common');
const { requirePeer } = require('../support/peers');
const { startMosquitto } = require('../support/mosquitto');

const { DeviceConnection } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');

const tele = (obj) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify(obj)), qos: 1 });

function open(port) {
  const warnings = [];
  const conn = new DeviceConnection(mqttSettings({ port }), {
    createTransport,
    queueSize: 100,
    sessionLimitsAnswerMs: 500,
    timing: { backoffInitialMs: 50, backoffMaxMs: 100 },
    log: { warn: (w) => warnings.push(w), info() {} },
  });
  conn.register({ onStatus() {} });
  return { conn, warnings };
}

test('mosquitto: publishes acknowledged, getSessionLimits never answered → one "may not be ThingsBoard" warning', { timeout: 30000 }, async (t) => {
  if (!requirePeer(t, 'mosquitto') || !requirePeer(t, 'mosquitto_sub')) return;
  const broker = await startMosquitto({ token: TOKEN });
  t.after(() => broker.close());
  const { conn, warnings } = open(broker.port);
  t.after(() => conn.close());
  for (let i = 0; i < 3; i++) await conn.send(tele({ i }));
  await waitFor(() => warnings.some((w) => /may not be ThingsBoard/.test(w)), 'the warning');
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(warnings.filter((w) => /may not be ThingsBoard/.test(w)).length, 1, 'once');
  assert.match(warnings[0], /getSessionLimits/);
  assert.ok(!warnings[0].includes(TOKEN));
});

test('the emulator answers getSessionLimits like ThingsBoard: no such warning', { timeout: 30000 }, async (t) => {
  const { emu } = await emulator();
  t.after(() => emu.close());
  const { conn, warnings } = open(emu.port);
  t.after(() => conn.close());
  for (let i = 0; i < 3; i++) await conn.send(tele({ i }));
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(warnings, []);
});
