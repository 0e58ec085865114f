'use strict';
// A gateway device through Node-RED against mosquitto from Debian (in ThingsBoard's role: an ACL
// lets only the gateway's token and "tbserver" use v1/devices/me/# and v1/gateway/#). An
// observer sees what reached the broker; a broker restart proves the re-announcement.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor, scanForTokens } = require('../nodes/common');
const { TOKEN } = require('./common');
const { requirePeer } = require('../support/peers');
const { startMosquitto } = require('../support/mosquitto');

test.afterEach(async () => {
  scanForTokens([], [TOKEN]);
  await helper.unload();
});

const GATEWAY_TOPICS = ['v1/devices/me/#', 'v1/gateway/#'];

async function gatewayFlow(broker) {
  await helper.load(allModules(), [
    { id: 'tab', type: 'tab' },
    deviceConfig({ port: String(broker.port), gateway: true }),
    ...outsWithProbes([['out1', {}], ['attr', { kind: 'attributes' }]]),
  ], { dev: { accessToken: TOKEN } });
  await waitFor(() => /status\.connected/.test((lastStatus('out1') || {}).text || ''), 'connected');
}

const bodies = (obs, topic) => obs.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload.toString()));

test('mosquitto: sub-device connect, telemetry and attributes arrive as ThingsBoard takes them; after a broker restart every sub-device is announced again first', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'mosquitto')) return;
  const broker = await startMosquitto({ token: TOKEN, extraTokens: ['tbserver'], topics: GATEWAY_TOPICS });
  t.after(() => broker.close());
  const obs = await broker.observe('v1/#');
  await gatewayFlow(broker);
  const out = probe('out1');
  const attr = probe('attr');
  assert.equal((await out.send({ device: 'm-1', deviceType: 'meter', payload: { kwh: 1 } })).ok, true);
  assert.equal((await out.send({ device: 'm-2', payload: { kwh: 2 } })).ok, true);
  assert.equal((await attr.send({ device: 'm-1', payload: { serial: 'A1' } })).ok, true);
  await waitFor(() => bodies(obs, 'v1/gateway/attributes').length === 1, 'the attributes at the broker');
  assert.deepEqual(bodies(obs, 'v1/gateway/connect'), [{ device: 'm-1', type: 'meter' }, { device: 'm-2', type: 'default' }]);
  const telemetry = bodies(obs, 'v1/gateway/telemetry');
  assert.deepEqual(telemetry.map((b) => Object.keys(b)), [['m-1'], ['m-2']]);
  assert.deepEqual(telemetry[0]['m-1'].map((e) => e.values), [{ kwh: 1 }]);
  assert.deepEqual(bodies(obs, 'v1/gateway/attributes'), [{ 'm-1': { serial: 'A1' } }]);

  obs.messages.length = 0;
  await broker.restart();
  await waitFor(() => /status\.connected/.test((lastStatus('out1') || {}).text || ''), 'connected again', 30000);
  // The observer reconnects on its own; send once it is back so the order can be seen.
  await waitFor(() => /Received SUBSCRIBE from observer-/.test(broker.log().split('mosquitto version').pop()), 'the observer back', 20000);
  assert.equal((await out.send({ device: 'm-2', payload: { kwh: 3 } })).ok, true);
  await waitFor(() => bodies(obs, 'v1/gateway/telemetry').length === 1, 'the new reading at the broker');
  // The re-announcement may have passed before the observer was back; mosquitto's log has them all.
  const log = broker.log().split('mosquitto version').pop();
  const sent = [...log.matchAll(/Received PUBLISH from \S+ \(d0, q1, r0, m\d+, '(v1\/[^']+)'/g)].map((m) => m[1])
    // Not the getSessionLimits question asked after every connect (device/session-limits.ts).
    .filter((topic) => !topic.startsWith('v1/devices/me/rpc/request/'));
  assert.deepEqual(sent.slice(0, 3), ['v1/gateway/connect', 'v1/gateway/connect', 'v1/gateway/telemetry'], sent.join(', '));
});

test('mosquitto: sub-device RPC from "tbserver" answered on v1/gateway/rpc; the broker\'s echoes of our own reply and client attributes are not commands', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'mosquitto')) return;
  const { helper: h, modules, dev, inNode, sink, collect, at } = require('../nodes/downlink-common');
  const mqtt = require('mqtt');
  const broker = await startMosquitto({ token: TOKEN, extraTokens: ['tbserver'], topics: GATEWAY_TOPICS });
  t.after(() => broker.close());
  const tb = mqtt.connect({ host: '127.0.0.1', port: broker.port, username: 'tbserver', clientId: `tbserver-${process.pid}` });
  t.after(() => new Promise((r) => tb.end(true, {}, r)));
  await new Promise((resolve, reject) => { tb.once('connect', resolve); tb.once('error', reject); });
  const replies = [];
  tb.on('message', (topic, payload) => { if (topic === 'v1/gateway/rpc') replies.push(JSON.parse(payload.toString())); });
  await new Promise((resolve) => tb.subscribe('v1/gateway/rpc', { qos: 1 }, resolve));

  await h.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', broker.port, { gateway: true }),
    { id: 'out1', type: 'thingsboard-out', z: 'tab', ...at, device: 'dev', kind: 'attributes', qos: '1', key: '', wires: [] },
    inNode('rpc', 'dev', { receive: 'rpc' }, [['fn', 'rpc-sink']]),
    { id: 'fn', type: 'function', z: 'tab', ...at, func: 'msg.payload = { id: 1, method: "echoBait", ok: true }; return msg;', outputs: 1, wires: [['resp']] },
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    sink('rpc-sink'),
    inNode('attr', 'dev', { keys: '', initial: false }),
    sink('attr-sink'),
  ], { dev: { accessToken: TOKEN } });
  const rpcs = collect('rpc-sink');
  const attrs = collect('attr-sink');
  await waitFor(() => /Received SUBSCRIBE from nr-tb-dev[\s\S]*v1\/gateway\/rpc/.test(broker.log()) && /v1\/gateway\/attributes \(QoS 1\)/.test(broker.log()), 'the gateway subscriptions');
  tb.publish('v1/gateway/rpc', JSON.stringify({ device: 'valve-3', data: { id: 11, method: 'open', params: { pct: 50 } } }), { qos: 1 });
  await waitFor(() => replies.some((r) => r.id === 11), 'the reply at the broker');
  assert.deepEqual(replies.find((r) => r.id === 11), { device: 'valve-3', id: 11, data: { id: 1, method: 'echoBait', ok: true } });
  // Client attributes go out on the topic the gateway also receives shared updates on.
  h.getNode('out1').receive({ device: 'valve-3', payload: { device: 'x', data: { a: 1 } } });
  tb.publish('v1/gateway/attributes', JSON.stringify({ device: 'valve-3', data: { mode: 'eco' } }), { qos: 1 });
  await waitFor(() => attrs.length === 1, 'the shared update');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(rpcs.length, 1, 'our echoed reply was not taken as an RPC');
  assert.deepEqual(attrs.map((m) => [m.device, m.payload]), [['valve-3', { mode: 'eco' }]], 'our echoed client attributes were not taken as an update');
});
