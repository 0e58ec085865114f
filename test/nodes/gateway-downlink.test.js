'use strict';
// The downlink of a gateway's sub-devices through Node-RED against the emulator (ThingsBoard's
// behaviour on v1/gateway/*): server-side RPC with msg.device answered by thingsboard-rpc-response
// on v1/gateway/rpc, shared-attribute updates per sub-device with a device-name filter, initial
// values per sub-device, attribute requests with msg.device answered {client, shared}, and
// client-side RPC for a sub-device refused with a clear error.
const test = require('node:test');
const assert = require('node:assert/strict');
const { waitFor, scanForTokens } = require('./common');
const { helper, modules, dev, inNode, sink, probes, collect, takeSeenTexts, at } = require('./downlink-common');
const { emulator } = require('../mqtt/common');
const { DeviceStore } = require('../../emulator/store');

const GW_TOKEN = 'GW_DOWN_TOKEN_s3cr3t';
let store;
let emu;

test.before(async () => {
  store = new DeviceStore({ devices: [{ name: 'gw', token: GW_TOKEN, gateway: true }] });
  ({ emu } = await emulator({ store }));
});
test.after(() => emu.close());
test.afterEach(async () => {
  scanForTokens(takeSeenTexts(), [GW_TOKEN]);
  await helper.unload();
});

const creds = { gw: { accessToken: GW_TOKEN } };
const out = (id, wires = []) => ({ id, type: 'thingsboard-out', z: 'tab', ...at, device: 'gw', kind: 'telemetry', qos: '1', key: '', wires });

test('sub-device RPC: msg.device and msg.rpc in, the reply on v1/gateway/rpc; shared updates filtered by device name; initial values per sub-device', { timeout: 60000 }, async () => {
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('gw', emu.port, { gateway: true }),
    out('out1'),
    inNode('rpc', 'gw', { receive: 'rpc', methods: 'setValve' }, [['fn']]),
    { id: 'fn', type: 'function', z: 'tab', ...at, func: 'msg.payload = { valve: msg.payload.open, who: msg.device }; return msg;', outputs: 1, wires: [['resp', 'rpc-sink']] },
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    sink('rpc-sink'),
    inNode('attr', 'gw', { keys: 'setpoint', devices: 'valve-1' }),
    sink('attr-sink'),
    inNode('all', 'gw', { keys: '', initial: false }),
    sink('all-sink'),
    ...probes(['resp']),
  ], creds);
  const rpcs = collect('rpc-sink');
  const attrs = collect('attr-sink');
  const all = collect('all-sink');
  const ok = collect('done-ok');
  store.subDevice(store.devices.get('gw'), 'valve-1', 'valve').shared.setpoint = 40;
  await waitFor(() => helper.getNode('gw').connection.status().state === 'connected', 'connected');
  // The first data connects valve-1; its initial values follow (the node names its keys).
  helper.getNode('out1').receive({ device: 'valve-1', payload: { flow: 3 } });
  helper.getNode('out1').receive({ device: 'valve-2', payload: { flow: 4 } });
  await waitFor(() => attrs.length === 1, 'initial values of valve-1');
  assert.deepEqual([attrs[0].device, attrs[0].payload, attrs[0].initial], ['valve-1', { setpoint: 40 }, true]);

  const { done } = store.sendRpc('valve-2', { method: 'setValve', params: { open: true }, timeout: 5000 });
  const record = await done;
  assert.equal(record.state, 'SUCCESSFUL');
  assert.deepEqual(record.reply, { valve: true, who: 'valve-2' });
  assert.equal(rpcs[0].device, 'valve-2');
  assert.equal(rpcs[0].rpc.method, 'setValve');
  await waitFor(() => ok.length === 1, 'the reply done');

  store.setShared('valve-2', { setpoint: 7 });
  store.setShared('valve-1', { setpoint: 41 });
  await waitFor(() => attrs.length === 2 && all.length === 2, 'the updates');
  assert.deepEqual([attrs[1].device, attrs[1].payload, attrs[1].initial], ['valve-1', { setpoint: 41 }, undefined], 'only valve-1 through the filter');
  assert.deepEqual(all.map((m) => [m.device, m.payload]), [['valve-2', { setpoint: 7 }], ['valve-1', { setpoint: 41 }]]);
  // The gateway's own shared attributes reach the unfiltered node without msg.device.
  store.setShared('gw', { own: 1 });
  await waitFor(() => all.length === 3, 'the gateway\'s own update');
  assert.equal(all[2].device, undefined);
  assert.deepEqual(all[2].payload, { own: 1 });
});

test('thingsboard-request with msg.device: attributes {client, shared} per scope; client-side RPC for a sub-device is a clear error', { timeout: 60000 }, async () => {
  const sub = store.subDevice(store.devices.get('gw'), 'meter-9', 'meter');
  sub.shared.interval = 30;
  sub.attributes.serial = 'S9';
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('gw', emu.port, { gateway: true }),
    { id: 'req', type: 'thingsboard-request', z: 'tab', ...at, device: 'gw', request: 'attributes', clientKeys: 'serial', sharedKeys: 'interval', timeout: '5', wires: [['req-sink']] },
    { id: 'rpcreq', type: 'thingsboard-request', z: 'tab', ...at, device: 'gw', request: 'rpc', method: 'getTime', timeout: '5', wires: [['req-sink']] },
    sink('req-sink'),
    ...probes(['req', 'rpcreq']),
  ], creds);
  const answers = collect('req-sink');
  const errors = collect('done-err');
  helper.getNode('req').receive({ device: 'meter-9', payload: null });
  await waitFor(() => answers.length === 1, 'the answer');
  assert.deepEqual(answers[0].payload, { client: { serial: 'S9' }, shared: { interval: 30 } });
  helper.getNode('req').receive({ device: 'meter-9', payload: { sharedKeys: 'interval,missing', clientKeys: [] } });
  await waitFor(() => answers.length === 2, 'the second answer');
  assert.deepEqual(answers[1].payload, { client: {}, shared: { interval: 30 } });
  helper.getNode('rpcreq').receive({ device: 'meter-9', payload: {} });
  helper.getNode('req').receive({ device: '', payload: null });
  await waitFor(() => errors.length === 2, 'two errors');
  assert.match(errors[0].error.message, /no client-side RPC for a gateway's sub-device/);
  assert.match(errors[1].error.message, /msg\.device is empty/);
});

test('a reply for an RPC the sub-device never had fails clearly', { timeout: 60000 }, async () => {
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('gw', emu.port, { gateway: true }),
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    ...probes(['resp']),
  ], creds);
  const errors = collect('done-err');
  helper.getNode('resp').receive({ device: 'nobody', rpc: { id: 3, device: 'gw' }, payload: 1 });
  await waitFor(() => errors.length === 1, 'the error');
  assert.match(errors[0].error.message, /sub-device "nobody" has no open RPC request 3/);
});
