'use strict';
// The gateway's list of known sub-device names is bounded (device/gateway/sub-devices.ts): least
// recently used names are forgotten first, a name with work pending (data in flight, an RPC
// awaiting the flow's reply) never; what is forgotten is not announced after a reconnect, and its
// next data connects it again. Real MQTT transport, aedes in ThingsBoard's role.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, TOKEN, mqttSettings, waitFor } = require('../mqtt/common');
const { startTbBroker } = require('../support/tb-broker');

const { DeviceConnection } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');

const FAST = { backoffInitialMs: 50, backoffMaxMs: 400, statusThrottleMs: 10 };

test('known sub-device names: at most maxSubDevices, least recently used forgotten first, never one with data in flight or an open RPC', { timeout: 30000 }, async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  const conn = new DeviceConnection(mqttSettings({ port: tb.port }), { createTransport, log: { warn() {}, info() {} }, queueSize: 50, timing: FAST, gateway: true, maxSubDevices: 3 });
  const statuses = [];
  conn.register({ onStatus: (s) => statuses.push(s) });
  t.after(() => conn.close());
  const rpcs = [];
  conn.gateway.downlink.listen({ channel: 'rpc', devices: [], names: [], onRpc: (r) => rpcs.push(r), onError: (e) => assert.fail(e.message) });
  await waitFor(() => tb.subscribed(TOKEN, 'v1/gateway/rpc'), 'subscribed');
  const send = (device, n) => new Promise((resolve) => conn.submit({ kind: 'telemetry', body: Buffer.from(`{"n":${n}}`), qos: 1, receivedAt: Date.now(), batchShape: 'wrap' }, (err) => resolve(err ? err.message : 'ok'), { device, type: 'default' }));

  // R: an RPC the flow has not answered yet. H: a reading ThingsBoard has not acknowledged yet.
  await tb.push(TOKEN, 'v1/gateway/rpc', { device: 'R', data: { id: 1, method: 'm', params: {} } });
  await waitFor(() => rpcs.length === 1, 'the RPC');
  tb.holdPublish = (topic, payload) => topic === 'v1/gateway/telemetry' && payload.includes('"H"');
  const inFlight = send('H', 0);
  await waitFor(() => tb.state.held.length === 1, 'H in flight');
  tb.holdPublish = undefined;
  for (const [i, name] of ['A', 'B', 'C', 'D'].entries()) assert.equal(await send(name, i), 'ok');
  // Order of use: R, H, A, B, C, D; R and H are busy, so A, B and C made room (D is the newest).
  assert.deepEqual(conn.gateway.subDevices.names(), ['R', 'H', 'D']);
  await waitFor(() => statuses.at(-1).subDevices === 3, 'the status counts 3');

  // A used again is connected again (it was forgotten) and is the most recent; the oldest idle
  // one (D) goes, the busy ones stay.
  const connectsBefore = tb.publishedOn('v1/gateway/connect').length;
  assert.equal(await send('A', 9), 'ok');
  assert.deepEqual(tb.publishedOn('v1/gateway/connect').slice(connectsBefore).map((p) => JSON.parse(p.payload).device), ['A']);
  assert.deepEqual(conn.gateway.subDevices.names(), ['R', 'H', 'A']);

  // H's work ends; H used again becomes the most recent, so the oldest idle one is now A (R is
  // still waiting for its reply).
  tb.releaseHeld();
  assert.equal(await inFlight, 'ok');
  assert.equal(await send('H', 1), 'ok');
  assert.equal(await send('E', 1), 'ok');
  assert.deepEqual(conn.gateway.subDevices.names(), ['R', 'H', 'E']);

  // After a reconnect only the names still known are announced again.
  const before = tb.publishedOn('v1/gateway/connect').length;
  await tb.restart();
  await waitFor(() => tb.publishedOn('v1/gateway/connect').length >= before + 3, 'announced again');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(tb.publishedOn('v1/gateway/connect').slice(before).map((p) => JSON.parse(p.payload).device).sort(), ['E', 'H', 'R']);
});
