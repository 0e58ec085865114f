'use strict';
// The emulator's provisioning and MQTT basic devices, through the nodes: a device provisions
// itself over MQTT and over CoAP (POST /api/v1/provision, answered as a separate response as
// ThingsBoard does), appears in the emulator's state as provisioned, publishes with what it
// obtained, and a restart does not ask again (the emulator counts provision requests). MQTT basic
// credentials: the demo basic device's combination connects; a wrong password is refused.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, allModules, deviceConfig, outsWithProbes, probe, scanForTokens } = require('../nodes/common');
const { DeviceStore } = require('../../emulator/store');
const { startMqttEmulator } = require('../../emulator/mqtt');
const { startCoapEmulator } = require('../../emulator/coap');

const PROFILE = { key: 'emu-prov-key', secret: 'emu-prov-S3cret' };
const BASIC = { clientId: 'basic-client-1', username: 'basic-user-1', password: 'basic-Pa55-1' };
let userDir;
const caught = [];

function flow(overrides) {
  return [{ id: 'tab', type: 'tab' }, deviceConfig(overrides), ...outsWithProbes([['out1', {}]])];
}

test.beforeEach(() => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-emu-prov-'));
  helper.settings({ userDir, credentialSecret: 'emulator-test-secret' });
});
test.afterEach(async () => {
  scanForTokens(caught.splice(0), [PROFILE.secret, BASIC.password]);
  await helper.unload();
  helper.settings({});
  fs.rmSync(userDir, { recursive: true, force: true });
});

for (const transport of ['mqtt', 'coap']) {
  test(`emulator ${transport}: provisioning creates the device once; telemetry arrives; a restart does not provision again`, { timeout: 60000 }, async (t) => {
    const store = new DeviceStore({ devices: [], provisionProfiles: [PROFILE] });
    const emu = transport === 'mqtt' ? await startMqttEmulator({ store }) : await startCoapEmulator({ store, separateResponses: true });
    t.after(() => emu.close());
    const config = { transport, port: String(emu.port), credentialsType: 'provision', provisionDeviceName: `kitchen-${transport}` };
    const creds = { dev: { provisionKey: PROFILE.key, provisionSecret: PROFILE.secret } };
    await helper.load(allModules(), flow(config), creds);
    assert.equal((await probe('out1').send({ payload: { t: 1 } })).ok, true);
    assert.equal(store.provisionRequests, 1);
    const snap = store.snapshot().devices.find((d) => d.name === `kitchen-${transport}`);
    assert.ok(snap, 'the device was created');
    assert.equal(snap.provisioned, true);
    assert.equal(snap.credentialsType, 'ACCESS_TOKEN');
    assert.deepEqual(Object.keys(store.latest(`kitchen-${transport}`)), ['t']);
    await helper.unload();
    await helper.load(allModules(), flow(config), creds);
    assert.equal((await probe('out1').send({ payload: { t: 2 } })).ok, true);
    assert.equal(store.provisionRequests, 1, 'no second provisioning request after a restart');
    assert.equal(store.latest(`kitchen-${transport}`).t.value, 2);
  });
}

test('emulator mqtts: provisioning over TLS asking for X.509 registers this client certificate; the device then connects with it', { timeout: 60000 }, async (t) => {
  const { testPki } = require('../mqtt/common');
  const { createLeaf } = require('../support/pki');
  const pki = await testPki();
  const device = await createLeaf({ keyType: 'ec-p256', commonName: 'x509-prov', dnsNames: [], ips: [] });
  const store = new DeviceStore({ devices: [], provisionProfiles: [PROFILE] });
  const emu = await startMqttEmulator({ store, tls: pki.server });
  t.after(() => emu.close());
  const config = { transport: 'mqtts', host: 'localhost', port: String(emu.port), credentialsType: 'provision', provisionDeviceName: 'x509-prov', provisionCredentials: 'x509' };
  const creds = { dev: { caCert: pki.caPem, provisionKey: PROFILE.key, provisionSecret: PROFILE.secret, clientCert: device.certPem, clientKey: device.keyPem } };
  await helper.load(allModules(), flow(config), creds);
  assert.equal((await probe('out1').send({ payload: { x: 1 } })).ok, true);
  const snap = store.snapshot().devices.find((d) => d.name === 'x509-prov');
  assert.equal(snap.credentialsType, 'X509_CERTIFICATE');
  assert.equal(store.latest('x509-prov').x.value, 1);
  await helper.unload();
  await helper.load(allModules(), flow(config), creds);
  assert.equal((await probe('out1').send({ payload: { x: 2 } })).ok, true);
  assert.equal(store.provisionRequests, 1);
  assert.equal(store.latest('x509-prov').x.value, 2);
});

test('emulator mqtt: provisioning MQTT basic credentials; the device then connects with them', { timeout: 60000 }, async (t) => {
  const store = new DeviceStore({ devices: [], provisionProfiles: [PROFILE] });
  const emu = await startMqttEmulator({ store });
  t.after(() => emu.close());
  await helper.load(allModules(), flow({ port: String(emu.port), credentialsType: 'provision', provisionDeviceName: 'basic-prov', provisionCredentials: 'mqttBasic' }), { dev: { provisionKey: PROFILE.key, provisionSecret: PROFILE.secret } });
  assert.equal((await probe('out1').send({ payload: { b: 1 } })).ok, true);
  assert.equal(store.snapshot().devices.find((d) => d.name === 'basic-prov').credentialsType, 'MQTT_BASIC');
  assert.equal(store.latest('basic-prov').b.value, 1);
});

test('emulator mqtt: an MQTT basic device connects with its client id, user name and password; a wrong password → CONNACK 5', { timeout: 60000 }, async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'basic-dev', basic: BASIC }, { name: 'client-only', basic: { clientId: 'only-this-client' } }] });
  const emu = await startMqttEmulator({ store });
  t.after(() => emu.close());
  await helper.load(allModules(), flow({ port: String(emu.port), credentialsType: 'mqttBasic', clientId: BASIC.clientId }), { dev: { username: BASIC.username, password: BASIC.password } });
  assert.equal((await probe('out1').send({ payload: { basic: 1 } })).ok, true);
  assert.equal(store.latest('basic-dev').basic.value, 1);
  await helper.unload();
  await helper.load(allModules(), flow({ port: String(emu.port), credentialsType: 'mqttBasic', clientId: 'only-this-client' }), { dev: {} });
  assert.equal((await probe('out1').send({ payload: { c: 1 } })).ok, true);
  assert.equal(store.latest('client-only').c.value, 1);
  await helper.unload();
  await helper.load(allModules(), flow({ port: String(emu.port), credentialsType: 'mqttBasic', clientId: BASIC.clientId }), { dev: { username: BASIC.username, password: 'wrong-one-x' } });
  const r = await probe('out1').send({ payload: { basic: 2 } });
  assert.equal(r.ok, false);
  caught.push(r.error);
  assert.match(r.error, /user name or password refused/);
});

test('emulator coaps (socat DTLS in front): provisioning over CoAPS, then telemetry with the obtained token; a restart does not ask again', { timeout: 90000 }, async (t) => {
  const { requirePeer } = require('../support/peers');
  if (!requirePeer(t, 'socat')) return;
  const { startEmulator } = require('../../emulator/index');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-coaps-prov-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const emu = await startEmulator({ dataDir, ports: { mqtt: false, mqtts: false, coap: 0, coaps: 0, web: false }, provisionProfiles: [PROFILE], demoBasicDevice: false, devices: [] });
  t.after(() => emu.close());
  assert.ok(emu.ports.coaps > 0, emu.notes.join('; '));
  const config = { transport: 'coaps', port: String(emu.ports.coaps), credentialsType: 'provision', provisionDeviceName: 'coaps-prov' };
  const creds = { dev: { caCert: fs.readFileSync(emu.caFile, 'utf8'), provisionKey: PROFILE.key, provisionSecret: PROFILE.secret } };
  await helper.load(allModules(), flow(config), creds);
  assert.equal((await probe('out1').send({ payload: { s: 1 } })).ok, true);
  assert.equal(emu.store.provisionRequests, 1);
  assert.equal(emu.store.latest('coaps-prov').s.value, 1);
  await helper.unload();
  await helper.load(allModules(), flow(config), creds);
  assert.equal((await probe('out1').send({ payload: { s: 2 } })).ok, true);
  assert.equal(emu.store.provisionRequests, 1);
});
