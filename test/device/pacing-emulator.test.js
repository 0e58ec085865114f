'use strict';
// Pacing against the emulator enforcing ThingsBoard's windows (emulator/limits.js: per-device
// token buckets, MQTT 3.1.1 session closed / CoAP 5.00 when one runs dry). A burst of 1,000
// readings must cross `10:1,300:60` with zero violations and every reading delivered, each with
// its own ts. Time is scaled on both sides (a window's second is SCALE ms) so minutes of pacing
// take seconds; the syntax and the arithmetic are ThingsBoard's.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, TOKEN, mqttSettings, emulator, waitFor } = require('../mqtt/common');
const { settings: coapSettings } = require('../coap/common');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');

const { DeviceConnection } = lib('device/connection.js');
const { parseDeviceConfig } = lib('device/settings.js');
const { createTransport } = lib('transports/index.js');

/** One emulated second, in ms. */
const SCALE = 100;
const FAST = { backoffInitialMs: 50, backoffMaxMs: 200, statusThrottleMs: 10 };
const EVERY_LIMIT = 'messages=10:1,300:60; telemetryMessages=10:1,300:60; telemetryDataPoints=10:1,300:60';

function open(settings, rateLimits, msPerSecond = SCALE) {
  const log = { warnings: [], infos: [] };
  const states = [];
  const conn = new DeviceConnection(settings, {
    createTransport,
    queueSize: 5000,
    timing: FAST,
    rateLimits,
    pacing: { msPerSecond },
    log: { warn: (t) => log.warnings.push(t), info: (t) => log.infos.push(t) },
  });
  conn.register({ onStatus: (s) => states.push(s) });
  return { conn, log, states };
}

/**
 * The MQTT emulator enforcing `limits` (an emulated second lasting `scale` ms) and a device
 * connection configured with the same limits (its MQTT settings amended by `settings`); both are
 * closed after test `t`.
 */
async function limitedMqtt(t, limits, scale = SCALE, settings = {}) {
  const store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }], rateLimits: limits, limitsMsPerSecond: scale });
  const { emu } = await emulator({ store });
  t.after(() => emu.close());
  const parsed = parseDeviceConfig({ host: 'h', rateLimits: limits }, { accessToken: 't' });
  assert.deepEqual(parsed.problems, [], `the device accepts "${limits}"`);
  const opened = open(mqttSettings({ port: emu.port, ...settings }), parsed.rateLimits, scale);
  t.after(() => opened.conn.close());
  return { store, emu, ...opened };
}

const reading = (n, receivedAt) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify({ n })), qos: 1, receivedAt, batchShape: 'wrap' });

/** Sends `count` readings at once; resolves with how they ended and where they arrived. */
async function burst(conn, store, count) {
  const seen = new Map();
  store.on('telemetry', (e) => { for (const entry of e.entries) seen.set(entry.values.n, entry.ts); });
  const base = Date.now() - 1_000_000;
  const ends = await Promise.all(Array.from({ length: count }, (_, n) => conn.send(reading(n, base + n)).then(() => null, (err) => err.message)));
  return { ends, seen, base };
}

function assertAllDelivered({ ends, seen, base }, count, firstWaiting = 1) {
  assert.deepEqual(ends.filter(Boolean), [], 'no reading failed');
  assert.equal(seen.size, count, 'every reading at the server');
  // The first ones may go out the moment they arrive (connected, window open): then, as always,
  // without a ts of their own. Every one that waited carries its receive time.
  for (let n = firstWaiting; n < count; n++) assert.equal(seen.get(n), base + n, `reading ${n} keeps its own ts`);
}

test('MQTT: 1,000 readings cross 10:1,300:60 on every limit with zero violations', { timeout: 120000 }, async (t) => {
  const { store, emu, conn, log, states } = await limitedMqtt(t, EVERY_LIMIT);
  const started = Date.now();
  const result = await burst(conn, store, 1000);
  const took = Date.now() - started;
  assertAllDelivered(result, 1000);
  assert.equal(store.rateLimitStats.exceeded, 0, `no window exceeded (${store.rejected.map((r) => r.reason).join('; ')})`);
  assert.equal(emu.stats.rateLimited, 0);
  assert.equal(emu.stats.connects, 1, 'one session: never closed for a rate limit');
  assert.ok(states.some((s) => s.paced && s.queued > 0), 'the status said "paced · N queued"');
  // 1,000 data points at 80 % of 300 per minute after the first 240: about 190 emulated seconds.
  const ideal = ((1000 - 240) / (0.8 * 300 / 60)) * SCALE;
  // Generous (a loaded CI machine); bench/ measures the drain time against the minimum.
  assert.ok(took < ideal * 3, `took ${took} ms, paced minimum ${Math.round(ideal)} ms`);
  t.diagnostic(`1,000 readings in ${took} ms; paced minimum ${Math.round(ideal)} ms`);
  assert.deepEqual(log.warnings, []);
});

test('MQTT: the plain syntax "10:1,300:60" (every message) paces a 1,000-reading burst with zero violations', { timeout: 60000 }, async (t) => {
  // 400 ms per window second, as below: device and emulator share one event loop, and a stall
  // on a loaded machine delivered two paced publishes into one 100 ms bucket (CI, once).
  const scale = 4 * SCALE;
  const { store, emu, conn } = await limitedMqtt(t, '10:1,300:60', scale, { maxPayloadBytes: 2000 });
  assertAllDelivered(await burst(conn, store, 1000), 1000);
  assert.equal(store.rateLimitStats.exceeded, 0);
  assert.equal(emu.stats.connects, 1);
});

test('MQTT, no rateLimits set: the limits getSessionLimits answers are paced', { timeout: 60000 }, async (t) => {
  // A window's second is 400 ms here: the device and the emulator share one event loop, and on
  // a loaded machine a stall of tens of ms delivered two paced 100 ms windows into one bucket.
  const scale = 4 * SCALE;
  const store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }], rateLimits: EVERY_LIMIT, limitsMsPerSecond: scale });
  const { emu } = await emulator({ store });
  t.after(() => emu.close());
  const { conn } = open(mqttSettings({ port: emu.port }), undefined, scale);
  t.after(() => conn.close());
  await waitFor(() => conn.pacer.active, 'the answer to getSessionLimits');
  // Connected before the burst: the first few (up to the window) go out as they arrive. 100
  // readings are ten times the 10-per-second limit.
  assertAllDelivered(await burst(conn, store, 100), 100, 20);
  assert.equal(store.rateLimitStats.exceeded, 0, store.rejected.map((r) => r.reason).join('; '));
  assert.equal(emu.stats.connects, 1);
});

test('MQTT 3.1.1 without pacing: the session closed after the burst is logged as a possible rate limit', { timeout: 60000 }, async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }] });
  const { emu } = await emulator({ store });
  t.after(() => emu.close());
  // The server says nothing (no limits known) but enforces them from now on.
  const { conn, log } = open(mqttSettings({ port: emu.port }), undefined);
  t.after(() => conn.close());
  await conn.send(reading(-1, Date.now()));
  store.setRateLimits('10:1');
  // Plain telemetry (no receive time): one publish each, 40 of them at once.
  const ends = Array.from({ length: 40 }, (_, n) => conn.send({ kind: 'telemetry', body: Buffer.from(JSON.stringify({ n })), qos: 1 }).catch(() => {}));
  await waitFor(() => log.warnings.some((w) => /possibly a rate limit/.test(w)), 'the possible-rate-limit warning');
  assert.match(log.warnings.find((w) => /possibly a rate limit/.test(w)), /set "rate limits"/);
  store.setRateLimits('');
  await Promise.all(ends);
});

test('CoAP: rateLimits set on the device pace a burst: no 5.00 from the server', { timeout: 60000 }, async (t) => {
  const token = 'PacedCoapToken1';
  const store = new DeviceStore({ devices: [{ name: 'dev', token }], rateLimits: '10:1,300:60', limitsMsPerSecond: SCALE });
  const emu = await startCoapEmulator({ store });
  t.after(() => emu.close());
  const { conn } = open(coapSettings(emu.port, { accessToken: token }), parseDeviceConfig({ host: 'h', rateLimits: '10:1,300:60' }, { accessToken: 't' }).rateLimits);
  t.after(() => conn.close());
  assertAllDelivered(await burst(conn, store, 400), 400);
  assert.equal(emu.stats.byCode['5.00'] || 0, 0, 'no 5.00');
  assert.equal(store.rateLimitStats.exceeded, 0);
});

test('MQTT: attribute requests keep to the same windows as the readings (ThingsBoard counts every message of a device): zero violations', { timeout: 60000 }, async (t) => {
  const scale = 4 * SCALE; // as above: one event loop for device and emulator
  const { store, emu, conn } = await limitedMqtt(t, 'messages=10:1,300:60', scale);
  await waitFor(() => conn.status().state === 'connected', 'connected');
  // 30 readings and 30 attribute requests at once: six times the per-second limit together.
  const readings = burst(conn, store, 30);
  const requests = Array.from({ length: 30 }, () => conn.downlink.requestAttributes({ clientKeys: [], sharedKeys: ['k'] }, 15_000).then(() => null, (err) => err.message));
  const [result, answers] = await Promise.all([readings, Promise.all(requests)]);
  assertAllDelivered(result, 30, 20);
  assert.deepEqual(answers.filter(Boolean), [], 'every request answered');
  assert.equal(store.rateLimitStats.exceeded, 0, store.rejected.map((r) => r.reason).join('; '));
  assert.equal(emu.stats.rateLimited, 0);
  assert.equal(emu.stats.connects, 1, 'one session: never closed for a rate limit');
});

test('an exchange held back by the rate limits past its deadline fails saying so, without a violation', { timeout: 30000 }, async (t) => {
  // 80 % of 3 per window: getSessionLimits at connect and the first request fit, the second
  // waits for the window, whose second is a minute here.
  const scale = 60_000;
  const { store, conn } = await limitedMqtt(t, 'messages=3:1', scale);
  await waitFor(() => conn.status().state === 'connected', 'connected');
  const first = await conn.downlink.requestAttributes({ clientKeys: [], sharedKeys: ['k'] }, 5000).then(() => 'answered', (err) => err.message);
  assert.equal(first, 'answered');
  const second = await conn.downlink.requestAttributes({ clientKeys: [], sharedKeys: ['k'] }, 500).then(() => 'answered', (err) => err);
  assert.equal(second.code, 'NO_ANSWER');
  assert.match(second.message, /held back all that time by this device's rate limits/);
  assert.equal(store.rateLimitStats.exceeded, 0);
});

test('MQTT: a publish right after the device\'s own small write (its PUBACK of the getSessionLimits answer) reaches the server at once, not after a delayed ACK (TCP_NODELAY)', { timeout: 60000 }, async (t) => {
  // With Nagle on, the publish waited for the server's ACK of that 4-byte PUBACK, which the
  // server's TCP holds back (delayed ACK, 40 ms on Linux) when it has nothing to send: publishes
  // paced apart then reach ThingsBoard together and are charged to its buckets together.
  const store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }], rateLimits: 'messages=1000:1', limitsMsPerSecond: 1000 });
  const { emu } = await emulator({ store });
  t.after(() => emu.close());
  const latencies = [];
  for (let i = 0; i < 3; i++) {
    const { conn } = open(mqttSettings({ port: emu.port }), undefined, 1000);
    await waitFor(() => conn.pacer.active, 'the answer to getSessionLimits');
    const arrived = new Promise((resolve) => store.once('telemetry', () => resolve(Date.now())));
    const sentAt = Date.now();
    await conn.send({ kind: 'telemetry', body: Buffer.from('{"n":1}'), qos: 1 });
    latencies.push((await arrived) - sentAt);
    await conn.close();
  }
  t.diagnostic(`send → server: ${latencies.join(', ')} ms`);
  assert.ok(Math.min(...latencies) < 20, `a publish after the device's PUBACK took ${latencies.join(', ')} ms to reach the server`);
});
