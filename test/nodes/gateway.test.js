'use strict';
// thingsboard-out on a gateway device (ThingsBoard's gateway API) in Node-RED against the
// emulator, which behaves like ThingsBoard on v1/gateway/*: sub-devices made on connect or on
// first data, telemetry that is not an array per device closes the session, one PUBACK per
// device entry. What goes on the wire is recorded at the broker, in order.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor, scanForTokens } = require('./common');
const { emulator } = require('../mqtt/common');
const { DeviceStore } = require('../../emulator/store');

const GW_TOKEN = 'GW_TEST_TOKEN_s3cr3t';
let store;
let emu;
/** Every publish a client made (accepted by the broker), in order: {topic, body}. */
const wire = [];

test.before(async () => {
  store = new DeviceStore({ devices: [{ name: 'gw', token: GW_TOKEN, gateway: true }] });
  ({ emu } = await emulator({ store }));
  emu.broker.on('publish', (packet, client) => {
    // Not the getSessionLimits question every connect asks (device/session-limits.ts).
    if (client && packet.topic.startsWith('v1/') && !packet.topic.startsWith('v1/devices/me/rpc/request/')) wire.push({ topic: packet.topic, body: JSON.parse(packet.payload.toString()) });
  });
});

test.after(async () => {
  await emu.close();
});

test.afterEach(async () => {
  scanForTokens([], [GW_TOKEN]);
  await helper.unload();
  wire.length = 0;
});

function flow(devOverrides = {}, outs = [['out1', {}]]) {
  return [{ id: 'tab', type: 'tab', label: 'test' }, deviceConfig({ port: String(emu.port), gateway: true, ...devOverrides }), ...outsWithProbes(outs)];
}

const creds = { dev: { accessToken: GW_TOKEN } };

async function connected(id) {
  await waitFor(() => /status\.connected/.test((lastStatus(id) || {}).text || ''), `${id} connected`);
}

const on = (topic) => wire.filter((w) => w.topic === topic).map((w) => w.body);

test('sub-device data: connect once per name, telemetry as an array per device, attributes as an object, the gateway\'s own data without msg.device', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow({}, [['out1', {}], ['attr', { kind: 'attributes' }], ['typed', { deviceName: 'pump-7', deviceType: 'pump' }]]), creds);
  await connected('out1');
  const out = probe('out1');
  const attr = probe('attr');
  const typed = probe('typed');

  assert.deepEqual(await out.send({ device: 'boiler-1', deviceType: 'boiler', payload: { temperature: 61 } }), { ok: true, count: 1 });
  assert.equal(store.latest('boiler-1').temperature.value, 61, 'stored before done()');
  assert.equal(store.devices.get('boiler-1').type, 'boiler', 'created with its profile');
  assert.equal((await out.send({ device: 'boiler-1', payload: { temperature: 62 } })).ok, true);
  assert.equal((await out.send({ device: 'boiler-1', payload: 5, topic: 'pressure' })).ok, true);
  assert.equal((await attr.send({ device: 'boiler-1', payload: { firmware: '2.1' } })).ok, true);
  assert.equal((await typed.send({ payload: { rpm: 1200 } })).ok, true);
  assert.equal((await out.send({ payload: { own: 1 } })).ok, true);

  assert.deepEqual(on('v1/gateway/connect'), [{ device: 'boiler-1', type: 'boiler' }, { device: 'pump-7', type: 'pump' }], 'once per name, with its type');
  const telemetry = on('v1/gateway/telemetry');
  assert.equal(telemetry.length, 4);
  for (const body of telemetry) {
    const [name] = Object.keys(body);
    assert.equal(Object.keys(body).length, 1, 'one sub-device per publish');
    assert.ok(Array.isArray(body[name]), 'an array per device');
    assert.ok(Number.isInteger(body[name][0].ts), 'each reading keeps a ts');
  }
  assert.deepEqual(telemetry[0]['boiler-1'][0].values, { temperature: 61 });
  assert.deepEqual(on('v1/gateway/attributes'), [{ 'boiler-1': { firmware: '2.1' } }]);
  assert.equal(store.latest('pump-7').rpm.value, 1200);
  assert.equal(store.devices.get('pump-7').type, 'pump');
  assert.deepEqual(on('v1/devices/me/telemetry'), [{ own: 1 }], 'no msg.device: the gateway\'s own data');
  assert.equal(store.latest('gw').own.value, 1);
  await waitFor(() => /status\.gateway/.test(lastStatus('out1').text), 'the gateway status');
  assert.match(lastStatus('attr').text, /status\.connected · \S*status\.gateway/, 'every node of the gateway shows it');
  assert.equal(helper.getNode('dev').connection.status().subDevices, 2, '"gateway · 2 devices"');
  // The connect went out before the sub-device's first data.
  const topics = wire.map((w) => w.topic);
  assert.ok(topics.indexOf('v1/gateway/connect') < topics.indexOf('v1/gateway/telemetry'));
});

test('a bad msg.device fails that message only, nothing reaches the broker and the session stays up', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(), creds);
  await connected('out1');
  const out = probe('out1');
  const connects = emu.stats.connects;
  for (const [device, pattern] of [['', /msg\.device is empty/], ['   ', /msg\.device is empty/], [7, /msg\.device is 7/], [null, /msg\.device is null/], [{ name: 'x' }, /msg\.device is/]]) {
    const r = await out.send({ device, payload: { x: 1 } });
    assert.equal(r.ok, false, `msg.device ${JSON.stringify(device)}`);
    assert.match(r.error, pattern);
  }
  const r = await out.send({ device: 'ok-1', deviceType: 5, payload: { x: 1 } });
  assert.match(r.error, /msg\.deviceType is 5/);
  assert.equal(wire.length, 0, 'nothing sent');
  assert.equal((await out.send({ device: 'ok-1', payload: { x: 2 } })).ok, true);
  assert.equal(emu.stats.connects, connects, 'no reconnect');
});

test('msg.disconnect sends v1/gateway/disconnect after the data queued before it, and the name is not announced again', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(), creds);
  await connected('out1');
  const out = probe('out1');
  const ends = [out.send({ device: 'tmp-1', payload: { a: 1 } }), out.send({ device: 'tmp-1', disconnect: true })];
  assert.ok((await Promise.all(ends)).every((r) => r.ok));
  assert.deepEqual(wire.map((w) => w.topic), ['v1/gateway/connect', 'v1/gateway/telemetry', 'v1/gateway/disconnect']);
  assert.deepEqual(on('v1/gateway/disconnect'), [{ device: 'tmp-1' }]);
  assert.equal(helper.getNode('dev').connection.gateway.subDevices.size, 0);
  const r = await out.send({ disconnect: true });
  assert.match(r.error, /no sub-device is named/);
});

test('after a reconnect every sub-device is announced again before anything else', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(), creds);
  await connected('out1');
  const out = probe('out1');
  for (const name of ['a-1', 'a-2', 'a-3']) assert.equal((await out.send({ device: name, deviceType: `t-${name}`, payload: { v: 1 } })).ok, true);
  wire.length = 0;
  for (const client of Object.values(emu.broker.clients)) client.close();
  await waitFor(() => /status\.reconnecting/.test((lastStatus('out1') || {}).text || ''), 'reconnecting');
  const pending = out.send({ device: 'a-2', payload: { v: 2 } });
  assert.equal((await pending).ok, true);
  const topics = wire.map((w) => w.topic);
  assert.deepEqual(topics.slice(0, 3), ['v1/gateway/connect', 'v1/gateway/connect', 'v1/gateway/connect']);
  assert.deepEqual(on('v1/gateway/connect'), ['a-1', 'a-2', 'a-3'].map((n) => ({ device: n, type: `t-${n}` })));
  assert.equal(topics[3], 'v1/gateway/telemetry');
  assert.equal(topics.length, 4, 'the queued reading did not connect a-2 a second time');
});

test('a backlog of one sub-device goes out as one array; sub-devices never share a publish', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(), creds);
  await connected('out1');
  const out = probe('out1');
  const ends = [];
  for (let i = 0; i < 200; i++) ends.push(out.send({ device: i < 100 ? 'burst-a' : 'burst-b', payload: { n: i } }));
  assert.ok((await Promise.all(ends)).every((r) => r.ok && r.count === 1));
  const telemetry = on('v1/gateway/telemetry');
  assert.ok(telemetry.length < 200, `coalesced (${telemetry.length} publishes)`);
  for (const body of telemetry) assert.equal(Object.keys(body).length, 1);
  const values = (name) => telemetry.filter((b) => b[name]).flatMap((b) => b[name].map((e) => e.values.n));
  assert.deepEqual(values('burst-a'), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(values('burst-b'), Array.from({ length: 100 }, (_, i) => i + 100));
});

test('a claim with msg.device goes on v1/gateway/claim as {"name":{secretKey, durationMs}}', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow({}, [['claim', { kind: 'claim' }]]), creds);
  await connected('claim');
  const claim = probe('claim');
  assert.equal((await claim.send({ device: 'meter-3', payload: { secretKey: 'k3', durationMs: 60000 } })).ok, true);
  assert.deepEqual(on('v1/gateway/claim'), [{ 'meter-3': { secretKey: 'k3', durationMs: 60000 } }]);
  assert.deepEqual(on('v1/gateway/connect'), [{ device: 'meter-3', type: 'default' }], 'connected first');
});

test('CoAP with gateway: every message fails naming gateway and MQTT, the status says so, nothing is sent', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow({ transport: 'coap', port: '5683' }), creds);
  const out = probe('out1');
  const r = await out.send({ device: 'x', payload: { a: 1 } });
  assert.equal(r.ok, false);
  // The test helper does not translate: the message is errors.configProblems with the problems.
  assert.match(r.error, /errors\.configProblems/);
  const problem = helper.getNode('dev').problems[0];
  assert.match(problem, /gateway/);
  assert.match(problem, /MQTT/);
  assert.match(lastStatus('out1').text, /status\.configError/);
  assert.equal(helper.getNode('dev').connection, undefined, 'nothing connects, nothing is sent');
  assert.equal((await out.send({ payload: { a: 1 } })).ok, false, 'the gateway\'s own data fails too');
});

test('Sub-device and Profile as typed inputs: msg, flow, global and env looked up per message; a place without a name fails the message', { timeout: 60000 }, async () => {
  process.env.TB_TEST_GW_PROFILE = 'valve';
  try {
    await helper.load(allModules(), flow({}, [
      ['bymsg', { deviceName: 'sensor.id', deviceNameType: 'msg', deviceType: 'TB_TEST_GW_PROFILE', deviceTypeType: 'env' }],
      ['byflow', { deviceName: 'gwName', deviceNameType: 'flow', deviceType: 'gwType', deviceTypeType: 'global' }],
    ]), creds);
    await connected('bymsg');
    const byMsg = probe('bymsg');
    const byFlow = probe('byflow');
    assert.equal((await byMsg.send({ sensor: { id: 'valve-3' }, payload: { open: 1 } })).ok, true);
    assert.equal(store.devices.get('valve-3').type, 'valve', 'profile from env');
    // msg.device still comes first.
    assert.equal((await byMsg.send({ device: 'valve-4', sensor: { id: 'valve-3' }, payload: { open: 0 } })).ok, true);
    const missing = await byMsg.send({ payload: { open: 1 } });
    assert.equal(missing.ok, false, 'no msg.sensor.id: never the gateway\'s own data');
    assert.match(missing.error, /the node's Sub-device \(msg\.sensor\.id\) could not be read/);
    const noId = await byMsg.send({ sensor: {}, payload: { open: 1 } });
    assert.match(noId.error, /the node's Sub-device \(msg\.sensor\.id\) is undefined/);

    const outNode = helper.getNode('byflow');
    outNode.context().flow.set('gwName', 'tank-1');
    outNode.context().global.set('gwType', 'tank');
    assert.equal((await byFlow.send({ payload: { level: 3 } })).ok, true);
    assert.equal(store.devices.get('tank-1').type, 'tank');
    outNode.context().flow.set('gwName', '');
    assert.match((await byFlow.send({ payload: { level: 4 } })).error, /the node's Sub-device \(flow\.gwName\) is empty text/);
    assert.deepEqual(on('v1/gateway/connect'), [{ device: 'valve-3', type: 'valve' }, { device: 'valve-4', type: 'valve' }, { device: 'tank-1', type: 'tank' }]);
    assert.deepEqual(on('v1/gateway/telemetry').map((b) => Object.keys(b)), [['valve-3'], ['valve-4'], ['tank-1']]);
  } finally {
    delete process.env.TB_TEST_GW_PROFILE;
  }
});
