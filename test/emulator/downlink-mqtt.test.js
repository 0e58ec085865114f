'use strict';
// The emulator's MQTT downlink as ThingsBoard's MqttTransportHandler does it, with mqtt.js as
// the device: only ThingsBoard's subscription filters are granted (0x80 for the rest), pushes go
// to the one device they are for (never broker-routed to another client), one session per
// token, server-side RPC round-trip with its states and its timeout, attribute requests and
// client-side RPC answered, and the HTTP API the page and the tests use.
const test = require('node:test');
const assert = require('node:assert/strict');
const mqtt = require('mqtt');
const { DeviceStore } = require('../../emulator/store');
const { startMqttEmulator } = require('../../emulator/mqtt');
const { startWebServer } = require('../../emulator/web/server');
const { waitFor } = require('../support/wait');

const DEVICES = [{ name: 'boiler', token: 'dl-token-boiler-1' }, { name: 'pump', token: 'dl-token-pump-22' }];

async function setup(t) {
  const store = new DeviceStore({ devices: DEVICES });
  const emu = await startMqttEmulator({ store });
  t.after(() => emu.close());
  const web = await startWebServer({ store });
  t.after(() => web.close());
  t.after(() => store.closeDownlink());
  const connect = async (token, opts = {}) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${emu.port}`, { username: token, reconnectPeriod: 0, ...opts });
    const messages = [];
    client.on('message', (topic, payload) => messages.push({ topic, body: JSON.parse(payload.toString()) }));
    t.after(() => client.end(true));
    return { client, messages };
  };
  const api = async (path, method, body) => {
    const res = await fetch(new URL(path, web.url), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  return { store, emu, web, connect, api };
}

/** The granted QoS list of a SUBSCRIBE (mqtt.js rejects when any filter was refused). */
async function granted(client, filters) {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    if (err.packet && err.packet.granted) return err.packet.granted;
    throw err;
  }
}

test('MQTT: only ThingsBoard\'s subscription filters are granted, at QoS 1 at most', async (t) => {
  const { connect } = await setup(t);
  const { client } = await connect(DEVICES[0].token);
  assert.deepEqual(await granted(client, ['v1/devices/me/attributes', 'v1/devices/me/attributes/response/+', 'v1/devices/me/rpc/request/+', 'v1/devices/me/rpc/response/+']), [1, 1, 1, 1]);
  assert.deepEqual(await granted(client, ['#', 'v1/devices/me/rpc/response/1', 'v1/devices/me/#', 'v1/devices/me/telemetry', 'v2/r/req/+']), [128, 128, 128, 128, 1]);
  const qos2 = await client.subscribeAsync('v1/devices/me/attributes', { qos: 2 });
  assert.equal(qos2[0].qos, 1);
});

test('MQTT: shared attributes and RPC reach only their device; one device\'s publishes reach no other client', async (t) => {
  const { store, connect, api } = await setup(t);
  const boiler = await connect(DEVICES[0].token);
  const pump = await connect(DEVICES[1].token);
  for (const d of [boiler, pump]) await d.client.subscribeAsync(['v1/devices/me/attributes', 'v1/devices/me/rpc/request/+', 'v1/devices/me/rpc/response/+', 'v1/devices/me/attributes/response/+'], { qos: 1 });

  assert.deepEqual((await api('api/devices/boiler/shared', 'POST', { targetTemperature: 21.5 })).body, { shared: { targetTemperature: 21.5 } });
  await waitFor(() => boiler.messages.length === 1, 'the shared attribute at the boiler');
  assert.deepEqual(boiler.messages[0], { topic: 'v1/devices/me/attributes', body: { targetTemperature: 21.5 } });

  // The pump publishes client attributes and a client-side RPC on topics the boiler subscribed
  // (v1/devices/me/... means "me"): a broker would route them to the boiler; ThingsBoard does not.
  await pump.client.publishAsync('v1/devices/me/attributes', '{"firmware":"2.0"}', { qos: 1 });
  await pump.client.publishAsync('v1/devices/me/rpc/request/5', '{"method":"ping","params":{"n":1}}', { qos: 1 });
  await waitFor(() => pump.messages.length === 1, 'the echo of the pump\'s client-side RPC');
  assert.deepEqual(pump.messages[0], { topic: 'v1/devices/me/rpc/response/5', body: { n: 1 } });

  const call = api(`api/devices/${DEVICES[1].token}/rpc`, 'POST', { method: 'setLed', params: true, timeout: 5000 });
  await waitFor(() => pump.messages.length === 2, 'the RPC at the pump');
  assert.equal(pump.messages[1].topic, 'v1/devices/me/rpc/request/1');
  assert.deepEqual(pump.messages[1].body, { method: 'setLed', params: true });
  await pump.client.publishAsync('v1/devices/me/rpc/response/1', '{"led":true}', { qos: 1 });
  assert.deepEqual(await call, { status: 200, body: { id: 1, state: 'SUCCESSFUL', reply: { led: true } } });

  await api('api/devices/boiler/shared?keys=targetTemperature,notThere', 'DELETE');
  await waitFor(() => boiler.messages.length === 2, 'the deletion at the boiler');
  assert.deepEqual(boiler.messages[1].body, { deleted: ['targetTemperature'] });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(boiler.messages.length, 2, `the boiler got another device's traffic: ${JSON.stringify(boiler.messages)}`);
  assert.equal(pump.messages.length, 2);
  assert.deepEqual(store.devices.get('pump').attributes, { firmware: '2.0' });
});

test('MQTT: a pushed value goes only to sessions that subscribed; RPC waits QUEUED for a subscriber', async (t) => {
  const { store, connect } = await setup(t);
  const boiler = await connect(DEVICES[0].token);
  store.setShared('boiler', { mode: 'eco' });
  const { done } = store.sendRpc('boiler', { method: 'reboot', timeout: 1500 });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(boiler.messages, []);
  assert.equal(store.devices.get('boiler').rpc[0].state, 'QUEUED');
  await boiler.client.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
  await waitFor(() => boiler.messages.length === 1, 'the queued RPC after SUBSCRIBE');
  assert.deepEqual(boiler.messages[0], { topic: 'v1/devices/me/rpc/request/1', body: { method: 'reboot', params: {} } });
  // PUBACK from mqtt.js → DELIVERED; no reply → TIMEOUT, and a late reply is dropped.
  await waitFor(() => store.devices.get('boiler').rpc[0].state === 'DELIVERED', 'DELIVERED after the PUBACK');
  const final = await done;
  assert.equal(final.state, 'TIMEOUT');
  assert.ok(final.at.delivered >= final.at.sent && final.at.sent >= final.created && final.at.timeout >= final.at.delivered);
  await boiler.client.publishAsync('v1/devices/me/rpc/response/1', '"late"', { qos: 1 });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(store.devices.get('boiler').rpc[0].state, 'TIMEOUT');
  assert.equal(store.devices.get('boiler').rpc[0].reply, undefined);
});

test('MQTT: the HTTP API answers 504 when the device does not reply in time', async (t) => {
  const { connect, api } = await setup(t);
  const boiler = await connect(DEVICES[0].token);
  await boiler.client.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
  const started = Date.now();
  const res = await api('api/devices/boiler/rpc', 'POST', { method: 'slow', params: {}, timeout: 400 });
  assert.equal(res.status, 504);
  assert.equal(res.body.state, 'TIMEOUT');
  assert.match(res.body.error, /no reply from the device within 400 ms/);
  assert.ok(Date.now() - started >= 380);
  assert.equal((await api('api/devices/nobody/rpc', 'POST', { method: 'x' })).status, 404);
  assert.equal((await api('api/devices/boiler/rpc', 'POST', { params: 1 })).status, 400);
  assert.equal((await api('api/devices/boiler/shared', 'POST', [])).status, 400);
  const plain = await fetch(new URL('api/devices/boiler/shared', (await setup(t)).web.url), { method: 'POST', body: '{"a":1}' });
  assert.equal(plain.status, 415, 'a body without content-type: application/json is refused');
});

test('MQTT: one session per token — a second CONNECT with the token closes the first', async (t) => {
  const { store, connect } = await setup(t);
  const first = await connect(DEVICES[0].token);
  await first.client.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
  const closed = new Promise((resolve) => first.client.once('close', resolve));
  const second = await connect(DEVICES[0].token);
  await closed;
  await second.client.subscribeAsync('v1/devices/me/attributes', { qos: 1 });
  store.setShared('boiler', { a: 1 });
  await waitFor(() => second.messages.length === 1, 'the push at the new session');
  assert.deepEqual(first.messages, []);
  assert.equal(store.devices.get('boiler').sessions.size, 1);
});

test('MQTT: attribute requests and client-side RPC rules (v1 and v2 topics)', async (t) => {
  const { store, connect } = await setup(t);
  const boiler = await connect(DEVICES[0].token);
  await boiler.client.subscribeAsync(['v1/devices/me/attributes/response/+', 'v1/devices/me/rpc/response/+', 'v2/a/res/+'], { qos: 1 });
  await boiler.client.publishAsync('v1/devices/me/attributes', '{"firmware":"1.0","model":"X"}', { qos: 1 });
  store.setShared('boiler', { interval: 5, mode: 'eco' });
  const ask = async (topic, body, answerTopic) => {
    const before = boiler.messages.length;
    await boiler.client.publishAsync(topic, JSON.stringify(body), { qos: 1 });
    await waitFor(() => boiler.messages.length > before, `an answer on ${answerTopic}`);
    const m = boiler.messages.at(-1);
    assert.equal(m.topic, answerTopic);
    return m.body;
  };
  assert.deepEqual(await ask('v1/devices/me/attributes/request/1', { clientKeys: 'firmware', sharedKeys: 'interval,nope' }, 'v1/devices/me/attributes/response/1'),
    { client: { firmware: '1.0' }, shared: { interval: 5 } });
  assert.deepEqual(await ask('v1/devices/me/attributes/request/2', { sharedKeys: 'mode' }, 'v1/devices/me/attributes/response/2'), { shared: { mode: 'eco' } });
  assert.deepEqual(await ask('v1/devices/me/attributes/request/3', {}, 'v1/devices/me/attributes/response/3'),
    { client: { firmware: '1.0', model: 'X' }, shared: { interval: 5, mode: 'eco' } });
  assert.deepEqual(await ask('v1/devices/me/attributes/request/4', { clientKeys: 'nope' }, 'v1/devices/me/attributes/response/4'), {});
  assert.deepEqual(await ask('v2/a/req/5', { sharedKeys: 'mode' }, 'v2/a/res/5'), { shared: { mode: 'eco' } });

  const before = Date.now();
  const time = await ask('v1/devices/me/rpc/request/7', { method: 'getCurrentTime', params: {} }, 'v1/devices/me/rpc/response/7');
  assert.ok(time.time >= before && time.time <= Date.now(), JSON.stringify(time));
  const limits = await ask('v1/devices/me/rpc/request/8', { method: 'getSessionLimits', params: {} }, 'v1/devices/me/rpc/response/8');
  assert.equal(limits.maxPayloadSize, 65536);
  assert.equal(typeof limits.rateLimits.telemetryMessages, 'string');
  assert.deepEqual(await ask('v1/devices/me/rpc/request/9', { method: 'anything', params: [1, 'two'] }, 'v1/devices/me/rpc/response/9'), [1, 'two']);
  const log = store.devices.get('boiler').clientRpc.map((c) => [c.method, c.rule]);
  assert.deepEqual(log, [['getCurrentTime', 'getCurrentTime'], ['getSessionLimits', 'getSessionLimits'], ['anything', 'echo']]);
});

test('MQTT: v2 short topics — shared updates on v2/a, RPC on v2/r/req/N, reply on v2/r/res/N', async (t) => {
  const { store, connect } = await setup(t);
  const boiler = await connect(DEVICES[0].token);
  await boiler.client.subscribeAsync(['v2/a', 'v2/r/req/+'], { qos: 1 });
  store.setShared('boiler', { k: 'v' });
  const { done } = store.sendRpc('boiler', { method: 'm', params: 2, timeout: 5000 });
  await waitFor(() => boiler.messages.length === 2, 'both pushes on v2 topics');
  assert.deepEqual(boiler.messages.map((m) => m.topic), ['v2/a', 'v2/r/req/1']);
  await boiler.client.publishAsync('v2/r/res/1', '{"ok":1}', { qos: 1 });
  assert.deepEqual((await done).reply, { ok: 1 });
});
