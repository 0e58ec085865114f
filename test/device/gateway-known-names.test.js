'use strict';
// The gateway's list of known sub-device names is bounded (device/gateway/sub-devices.ts): least
// recently used names are forgotten first, a name with work pending (data in flight, an RPC
// awaiting the flow's reply) never; what is forgotten is not announced after a reconnect, and its
// next data connects it again. Real MQTT transport, aedes in ThingsBoard's role.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, TOKEN, mqttSettings, waitFor } = require('../mqtt/common');
const { startTbBroker } = require('../support/tb-broker');
const { seededRandom } = require('../support/seeded-random');

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

// The order of use is approximate (a name moves only when its last move is maxKnown/2 uses old,
// sub-devices.ts): what must hold is that a name used within the last maxKnown/2 uses is never
// the one forgotten, and the bound itself. A seeded walk over 3× more names than are kept.
test('approximate order of use: a name used within the last maxKnown/2 uses is never forgotten; never more than maxKnown known; zero work counts do not pile up', () => {
  const { SubDevices } = lib('device/gateway/sub-devices.js');
  const connects = [];
  const transport = { publishGateway: (topic, body, qos, cb) => { connects.push(topic); process.nextTick(cb); } };
  const max = 100;
  const subs = new SubDevices({ warn() {}, changed() {} }, max);
  const rand = seededRandom(12345);
  const recent = [];
  for (let i = 0; i < 20000; i++) {
    // Skewed: a few hot names most of the time, any of 300 otherwise.
    const name = `n${rand() < 0.5 ? Math.floor(rand() * 40) : Math.floor(rand() * 300)}`;
    subs.prepare(transport, name, 'default');
    recent.push(name);
    if (recent.length > max / 2) recent.shift();
    assert.ok(subs.size <= max, `at most ${max} known (${subs.size})`);
    for (const r of recent) assert.ok(subs.has(r), `${r} was used within the last ${max / 2} uses (step ${i})`);
  }
  // The edge: X used 61 uses after its last move (more than max/2: it must move), then 40 new
  // names; X was used 40 uses ago, so it stays and the oldest filler goes.
  const edge = new SubDevices({ warn() {}, changed() {} }, max);
  edge.prepare(transport, 'X', 'default');
  for (let i = 0; i < 60; i++) edge.prepare(transport, `f${i}`, 'default');
  edge.prepare(transport, 'X', 'default');
  for (let i = 60; i < 100; i++) edge.prepare(transport, `f${i}`, 'default');
  assert.ok(edge.has('X'), 'X was used within the last max/2 uses');
  assert.ok(!edge.has('f0') && edge.size === max);
  // A used name that is old in the order still moves: after 300 fresh names only the last 100 are left.
  for (let i = 0; i < 300; i++) subs.prepare(transport, `fresh${i}`, 'default');
  assert.deepEqual(subs.names(), Array.from({ length: 100 }, (_, i) => `fresh${200 + i}`));
  // Work held and released for many names that are never sent: the zero counts are swept.
  for (let i = 0; i < 10000; i++) {
    subs.hold(`x${i}`);
    subs.release(`x${i}`);
  }
  assert.ok(subs.pending.size < 200, `zero counts swept (${subs.pending.size} left)`);
  // A held name survives any number of newer ones; released, it can go.
  subs.prepare(transport, 'held', 'default');
  subs.hold('held');
  for (let i = 0; i < 500; i++) subs.prepare(transport, `later${i}`, 'default');
  assert.ok(subs.has('held'));
  subs.release('held');
  subs.prepare(transport, 'one-more', 'default');
  assert.ok(!subs.has('held'));
});
