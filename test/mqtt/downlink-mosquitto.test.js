'use strict';
// The downlink nodes against mosquitto from Debian. A test client plays ThingsBoard (username
// "tb-server", which the ACL lets read and write v1/devices/me/#): it publishes server-side RPC
// and shared-attribute updates, and answers attribute requests and client-side RPC. One broker
// per device, since mosquitto's v1/devices/me topics are global (no client here publishes on a
// topic its own device subscribes to). A broker restart proves that subscriptions are renewed.
const test = require('node:test');
const assert = require('node:assert/strict');
const mqtt = require('mqtt');
const { lastStatus, waitFor, scanForTokens } = require('../nodes/common');
const { helper, modules, dev, inNode, sink, probes, collect, takeSeenTexts, at } = require('../nodes/downlink-common');
const { TOKEN } = require('./common');
const { requirePeer } = require('../support/peers');
const { startMosquitto } = require('../support/mosquitto');

const creds = { dev: { accessToken: TOKEN } };

test.afterEach(async () => {
  scanForTokens(takeSeenTexts(), [TOKEN]);
  await helper.unload();
});

/** The ThingsBoard side: an MQTT client that reconnects (and resubscribes) after a restart. */
async function thingsboard(broker, t) {
  const client = mqtt.connect({ host: '127.0.0.1', port: broker.port, username: 'tb-server', clientId: `tb-${process.pid}`, reconnectPeriod: 200 });
  t.after(() => new Promise((r) => client.end(true, {}, r)));
  const received = [];
  const answers = { attributes: undefined, rpc: undefined };
  client.on('message', (topic, payload) => {
    received.push({ topic, payload: payload.toString() });
    let m = /^v1\/devices\/me\/attributes\/request\/(\d+)$/.exec(topic);
    if (m && answers.attributes) {
      const a = answers.attributes(JSON.parse(payload.toString()));
      if (a !== undefined) client.publish(`v1/devices/me/attributes/response/${m[1]}`, JSON.stringify(a), { qos: 1 });
    }
    m = /^v1\/devices\/me\/rpc\/request\/(\d+)$/.exec(topic);
    if (m && answers.rpc) {
      const a = answers.rpc(JSON.parse(payload.toString()));
      if (a !== undefined) client.publish(`v1/devices/me/rpc/response/${m[1]}`, JSON.stringify(a), { qos: 1 });
    }
  });
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return { client, received, answers };
}

function subscribe(client, topics) {
  return new Promise((resolve, reject) => client.subscribe(topics, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
}

test('mosquitto: RPC round trip, initial values, and after a broker restart initial values again and a pushed update', async (t) => {
  if (!requirePeer(t, 'mosquitto')) return;
  const broker = await startMosquitto({ token: TOKEN, extraTokens: ['tb-server'] });
  t.after(() => broker.close());
  const tb = await thingsboard(broker, t);
  await subscribe(tb.client, ['v1/devices/me/attributes/request/+', 'v1/devices/me/rpc/response/+']);
  let setpoint = 19;
  tb.answers.attributes = () => ({ shared: { setpoint } });

  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', broker.port),
    inNode('rpc', 'dev', { receive: 'rpc', methods: 'setLed' }, [['fn']]),
    { id: 'fn', type: 'function', z: 'tab', ...at, func: 'msg.payload = { led: msg.payload.on }; return msg;', outputs: 1, wires: [['resp']] },
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    inNode('attr', 'dev', { keys: 'setpoint' }),
    sink('attr-sink'),
    ...probes(['resp']),
  ], creds);
  const attrs = collect('attr-sink');
  const ok = collect('done-ok');
  await waitFor(() => attrs.length === 1, 'initial values');
  assert.deepEqual([attrs[0].payload, attrs[0].initial], [{ setpoint: 19 }, true]);

  const replyOn = (id) => waitFor(() => tb.received.find((m) => m.topic === `v1/devices/me/rpc/response/${id}`), `the reply to ${id}`);
  tb.client.publish('v1/devices/me/rpc/request/1', JSON.stringify({ method: 'setLed', params: { on: true } }), { qos: 1 });
  assert.deepEqual(JSON.parse((await replyOn(1)).payload), { led: true });
  await waitFor(() => ok.length === 1, 'the reply done');

  setpoint = 23;
  await broker.restart();
  await waitFor(() => attrs.length === 2, 'initial values after the restart', 20000);
  assert.deepEqual([attrs[1].payload, attrs[1].initial], [{ setpoint: 23 }, true]);
  await waitFor(() => /status\.connected/.test((lastStatus('rpc') || {}).text || ''), 'connected');
  await waitFor(() => tb.client.connected, 'the ThingsBoard side back');
  tb.client.publish('v1/devices/me/attributes', JSON.stringify({ setpoint: 24, other: 1 }), { qos: 1 });
  await waitFor(() => attrs.length === 3, 'the pushed update after the restart');
  assert.deepEqual([attrs[2].payload, attrs[2].initial], [{ setpoint: 24 }, undefined]);
  // The RPC subscription was renewed too (the attribute one alone would not prove it).
  tb.client.publish('v1/devices/me/rpc/request/2', JSON.stringify({ method: 'setLed', params: { on: false } }), { qos: 1 });
  assert.deepEqual(JSON.parse((await replyOn(2)).payload), { led: false });
});

test('mosquitto: thingsboard-request answers, timeout, client-side RPC', async (t) => {
  if (!requirePeer(t, 'mosquitto')) return;
  const broker = await startMosquitto({ token: TOKEN, extraTokens: ['tb-server'] });
  t.after(() => broker.close());
  const tb = await thingsboard(broker, t);
  await subscribe(tb.client, ['v1/devices/me/attributes/request/+', 'v1/devices/me/rpc/request/+']);
  tb.answers.attributes = (req) => ({ client: { asked: req.clientKeys }, shared: { s: 1 } });
  tb.answers.rpc = (req) => (req.method === 'getCurrentTime' ? { time: 1700000000000 } : undefined);
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', broker.port),
    { id: 'ra', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'attributes', clientKeys: 'fw,hw', sharedKeys: 's', wires: [['out']] },
    { id: 'rr', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'rpc', method: 'getCurrentTime', timeout: '1', wires: [['out']] },
    sink('out'),
    ...probes(['ra', 'rr']),
  ], creds);
  const out = collect('out');
  const errs = collect('done-err');
  helper.getNode('ra').receive({});
  helper.getNode('rr').receive({ payload: {} });
  await waitFor(() => out.length === 2, 'two answers');
  const byNode = Object.fromEntries(out.map((m) => [m.payload.time ? 'rr' : 'ra', m.payload]));
  assert.deepEqual(byNode.ra, { client: { asked: 'fw,hw' }, shared: { s: 1 } });
  assert.deepEqual(byNode.rr, { time: 1700000000000 });
  helper.getNode('rr').receive({ topic: 'unknownMethod', payload: {} });
  await waitFor(() => errs.length === 1, 'the timeout');
  assert.match(errs[0].error.message, /no answer from ThingsBoard within 1 s/);
  assert.equal(out.length, 2);
});
