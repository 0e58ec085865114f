'use strict';
// The gateway parts of the device layer without Node-RED, over the real MQTT transport and aedes
// in ThingsBoard's role (test/support/tb-broker.js): a sub-device RPC that ThingsBoard sends again
// after a reconnect (persistent RPC, same id) reaches the flow once, and the status counts the
// sub-devices.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, TOKEN, mqttSettings, waitFor } = require('../mqtt/common');
const { startTbBroker } = require('../support/tb-broker');

const { DeviceConnection } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');

const FAST = { backoffInitialMs: 50, backoffMaxMs: 400, statusThrottleMs: 10 };

test('a sub-device RPC redelivered after a reconnect reaches the listener once; a new id does; the status counts sub-devices', { timeout: 30000 }, async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  const warnings = [];
  const conn = new DeviceConnection(mqttSettings({ port: tb.port }), { createTransport, log: { warn: (w) => warnings.push(w), info() {} }, queueSize: 10, timing: FAST, gateway: true });
  const statuses = [];
  conn.register({ onStatus: (s) => statuses.push(s) });
  t.after(() => conn.close());
  const got = [];
  conn.gateway.downlink.listen({ channel: 'rpc', devices: [], names: [], onRpc: (r) => got.push(r), onError: (e) => assert.fail(e.message) });
  await waitFor(() => tb.subscribed(TOKEN, 'v1/gateway/rpc'), 'subscribed');
  const rpc = { device: 'A', data: { id: 5, method: 'm', params: { x: 1 } } };
  await tb.push(TOKEN, 'v1/gateway/rpc', rpc);
  await waitFor(() => got.length === 1, 'the RPC');
  assert.deepEqual(got[0], { device: 'A', id: 5, method: 'm', params: { x: 1 } });
  await waitFor(() => statuses.at(-1).subDevices === 1, 'one sub-device in the status');

  await tb.restart();
  await waitFor(() => tb.subscribed(TOKEN, 'v1/gateway/rpc'), 'subscribed again');
  // A is announced again first (ThingsBoard forgot it), then the same RPC comes again.
  assert.deepEqual(tb.publishedOn('v1/gateway/connect').map((p) => JSON.parse(p.payload)), [{ device: 'A', type: 'default' }]);
  await tb.push(TOKEN, 'v1/gateway/rpc', rpc);
  await tb.push(TOKEN, 'v1/gateway/rpc', { device: 'B', data: { id: 5, method: 'm', params: { x: 1 } } });
  await waitFor(() => got.length === 2, 'B\'s RPC');
  assert.equal(got[1].device, 'B', 'A\'s repeat was not delivered again; B\'s id 5 is its own');
  await waitFor(() => statuses.at(-1).subDevices === 2, 'two sub-devices');
});

test('telemetry that cannot join an array with a ts still goes as an array for its sub-device (an object there closes the session)', { timeout: 30000 }, async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  const conn = new DeviceConnection(mqttSettings({ port: tb.port }), { createTransport, log: { warn() {}, info() {} }, queueSize: 10, timing: FAST, gateway: true });
  conn.register({ onStatus() {} });
  t.after(() => conn.close());
  await waitFor(() => conn.status().state === 'connected', 'connected');
  const send = (body) => new Promise((resolve) => conn.submit({ kind: 'telemetry', body: Buffer.from(body), qos: 1 }, (err) => resolve(err ? err.message : 'ok'), { device: 'A', type: 'default' }));
  assert.equal(await send('{"t":1}'), 'ok'); // no receivedAt / batch shape: it cannot be stamped
  assert.equal(await send('[{"t":2},{"t":3}]'), 'ok');
  assert.deepEqual(tb.publishedOn('v1/gateway/telemetry').map((p) => JSON.parse(p.payload)), [{ A: [{ t: 1 }] }, { A: [{ t: 2 }, { t: 3 }] }]);
});

test('MQTT 5 style: a server v1/gateway/disconnect {"device","reason"} is a warning naming the sub-device (0x97 in words), and its next reading connects it again', { timeout: 30000 }, async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  const warnings = [];
  const conn = new DeviceConnection(mqttSettings({ port: tb.port }), { createTransport, log: { warn: (w) => warnings.push(w), info() {} }, queueSize: 10, timing: FAST, gateway: true });
  conn.register({ onStatus() {} });
  t.after(() => conn.close());
  await waitFor(() => conn.status().state === 'connected', 'connected');
  const send = (n) => new Promise((resolve) => conn.submit({ kind: 'telemetry', body: Buffer.from(`{"n":${n}}`), qos: 1, receivedAt: Date.now(), batchShape: 'wrap' }, (err) => resolve(err ? err.message : 'ok'), { device: 'meter 7', type: 'meter' }));
  assert.equal(await send(1), 'ok');
  assert.equal(await send(2), 'ok');
  assert.equal(tb.publishedOn('v1/gateway/connect').length, 1);
  // ThingsBoard writes it to the gateway without a subscription.
  const [client] = Object.values(tb.broker.clients);
  await new Promise((resolve) => client.publish({ cmd: 'publish', topic: 'v1/gateway/disconnect', payload: Buffer.from(JSON.stringify({ device: 'meter 7', reason: 151 })), qos: 0, retain: false, dup: false }, resolve));
  await waitFor(() => warnings.some((w) => w.includes('"meter 7"')), 'the warning');
  assert.match(warnings.find((w) => w.includes('"meter 7"')), /ended the session of sub-device "meter 7" \(reason 151: quota exceeded/);
  assert.equal(await send(3), 'ok');
  assert.deepEqual(tb.publishedOn('v1/gateway/connect').map((p) => JSON.parse(p.payload)), [{ device: 'meter 7', type: 'meter' }, { device: 'meter 7', type: 'meter' }], 'connected again before its next reading');
});

test('a gateway is paced by the gatewayRateLimits getSessionLimits answers: ThingsBoard\'s gateway bucket is never exceeded', { timeout: 60000 }, async (t) => {
  // One "second" of a window, scaled down; long enough that a loaded machine's scheduling delay
  // (arrivals bunched by tens of ms) stays inside the 20 % margin pacing keeps.
  const MS = 400;
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  tb.onClientRpc = (token, id, req) => (req.method === 'getSessionLimits' ? { maxPayloadSize: 65536, maxInflightMessages: 100, rateLimits: {}, gatewayRateLimits: { messages: '5:1' } } : undefined);
  // Each device's part of a gateway publish counts against the gateway's limits.
  const arrivals = [];
  tb.holdPublish = (topic, payload) => {
    if (topic === 'v1/gateway/telemetry') arrivals.push({ at: Date.now(), parts: Object.keys(JSON.parse(payload)).length });
    return false;
  };
  const conn = new DeviceConnection(mqttSettings({ port: tb.port }), { createTransport, log: { warn() {}, info() {} }, queueSize: 100, timing: FAST, gateway: true, pacing: { msPerSecond: MS } });
  conn.register({ onStatus() {} });
  t.after(() => conn.close());
  await waitFor(() => conn.pacer.has('gateway.messages'), 'the gateway limits from getSessionLimits');
  const sends = Array.from({ length: 30 }, (_, n) => new Promise((resolve, reject) => conn.submit(
    { kind: 'telemetry', body: Buffer.from(`{"n":${n}}`), qos: 1, receivedAt: Date.now(), batchShape: 'wrap' },
    (err) => (err ? reject(err) : resolve()),
    { device: `meter ${n % 10}`, type: 'meter' },
  )));
  await Promise.all(sends);
  // ThingsBoard's bucket for 5:1 — 5 tokens, refilled evenly at 5 per second — must never go below zero.
  let tokens = 5;
  let last = arrivals[0].at;
  for (const { at, parts } of arrivals) {
    tokens = Math.min(5, tokens + ((at - last) * 5) / MS);
    last = at;
    tokens -= parts;
    assert.ok(tokens > -0.5, `the gateway bucket went below zero: ${JSON.stringify(arrivals.map((a) => [a.at - arrivals[0].at, a.parts]))}`);
  }
  assert.equal(arrivals.reduce((n, a) => n + a.parts, 0) >= 10, true);
});

test('a gateway reading that waited for the connection goes alone with its own receive time', { timeout: 30000 }, async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  const conn = new DeviceConnection(mqttSettings({ port: tb.port }), { createTransport, log: { warn() {}, info() {} }, queueSize: 10, timing: FAST, gateway: true });
  conn.register({ onStatus() {} });
  t.after(() => conn.close());
  assert.notEqual(conn.status().state, 'connected');
  await new Promise((resolve, reject) => conn.submit(
    { kind: 'telemetry', body: Buffer.from('{"n":1}'), qos: 1, receivedAt: 1_700_000_000_123, batchShape: 'wrap' },
    (err) => (err ? reject(err) : resolve()),
    { device: 'A', type: 'default' },
  ));
  assert.deepEqual(tb.publishedOn('v1/gateway/telemetry').map((p) => JSON.parse(p.payload)), [{ A: [{ ts: 1_700_000_000_123, values: { n: 1 } }] }]);
});
