'use strict';
// Provisioning through the nodes, against an in-process broker in ThingsBoard's role
// (test/support/tb-broker.js): the first start asks for a device (user name `provision`,
// /provision/request → /provision/response), keeps the answer encrypted in the user directory
// and publishes with the obtained token; a restart (new runtime, same user directory) and a
// redeploy connect with the kept token and send NO second request. NOT_FOUND and FAILURE answers
// are permanent errors carrying ThingsBoard's errorMsg; the provisioning session is closed as
// soon as the answer arrived. No secret (provision secret, obtained token) in any text or file.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, allModules, deviceConfig, outsWithProbes, probe, waitFor, scanForTokens, lastStatus } = require('./common');
const { startTbBroker } = require('../support/tb-broker');

const KEY = 'prov-key-abc';
const SECRET = 'prov-S3cret-xyz-987';
const OBTAINED = 'obtained-T0ken-from-tb-55';
const caught = [];
let userDir;

function flow(overrides = {}) {
  return [{ id: 'tab', type: 'tab' }, deviceConfig({ credentialsType: 'provision', provisionDeviceName: 'pi-kitchen', ...overrides }), ...outsWithProbes([['out1', {}]])];
}
const creds = () => ({ dev: { provisionKey: KEY, provisionSecret: SECRET } });

test.beforeEach(() => {
  userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-provision-'));
  helper.settings({ userDir, credentialSecret: 'node-red-credential-secret-for-tests' });
});

test.afterEach(async () => {
  scanForTokens(caught.splice(0), [SECRET, OBTAINED]);
  await helper.unload();
  helper.settings({});
  fs.rmSync(userDir, { recursive: true, force: true });
});

function filesUnder(dir) {
  return fs.readdirSync(dir, { recursive: true }).map((f) => path.join(dir, String(f))).filter((f) => fs.statSync(f).isFile());
}

test('provision over MQTT: one request, the answer kept encrypted, telemetry with the obtained token; restart and redeploy never provision again', { timeout: 60000 }, async (t) => {
  const tokens = [];
  const tb = await startTbBroker({
    tokens,
    provision: (req) => {
      if (req.provisionDeviceKey !== KEY || req.provisionDeviceSecret !== SECRET) return { status: 'NOT_FOUND', errorMsg: 'Failed to find provision profile' };
      tokens.push(OBTAINED);
      return { status: 'SUCCESS', credentialsType: 'ACCESS_TOKEN', credentialsValue: OBTAINED };
    },
  });
  t.after(() => tb.close());
  await helper.load(allModules(), flow({ port: String(tb.port) }), creds());
  assert.equal((await probe('out1').send({ payload: { first: 1 } })).ok, true);
  assert.equal(tb.state.provisionRequests.length, 1);
  assert.deepEqual(tb.state.provisionRequests[0], { deviceName: 'pi-kitchen', provisionDeviceKey: KEY, provisionDeviceSecret: SECRET });
  assert.equal(tb.publishedOn('v1/devices/me/telemetry', OBTAINED).length, 1, 'telemetry went out with the obtained token');
  await waitFor(() => tb.state.provisionSessionsOpen === 0, 'the provisioning session to be closed');
  // Kept, encrypted: the file holds neither the token nor the secret.
  const files = filesUnder(userDir);
  assert.equal(files.length, 1);
  const text = fs.readFileSync(files[0], 'utf8');
  assert.ok(!text.includes(OBTAINED) && !text.includes(SECRET) && !text.includes(Buffer.from(OBTAINED).toString('base64')));
  await helper.unload();

  // Restart: a new runtime on the same user directory.
  await helper.load(allModules(), flow({ port: String(tb.port) }), creds());
  assert.equal((await probe('out1').send({ payload: { second: 2 } })).ok, true);
  // Redeploy (full): the config node is made again.
  await helper.setFlows(flow({ port: String(tb.port), name: 'renamed' }), 'full', creds());
  assert.equal((await probe('out1').send({ payload: { third: 3 } })).ok, true);
  assert.equal(tb.state.provisionRequests.length, 1, 'no second provisioning request');
  assert.equal(tb.publishedOn('v1/devices/me/telemetry', OBTAINED).length, 3);

  // Forgotten (the device was deleted in ThingsBoard): the next start provisions again.
  const res = await helper.request().post('/thingsboard-device/dev/provisioned/forget').expect(200);
  assert.deepEqual(res.body, { forgotten: true });
  assert.equal(filesUnder(userDir).length, 0);
});

test('provision over MQTT: NOT_FOUND and FAILURE are permanent errors with ThingsBoard\'s errorMsg; nothing kept', { timeout: 60000 }, async (t) => {
  let answer = { status: 'NOT_FOUND', errorMsg: 'Failed to find provision profile' };
  const tb = await startTbBroker({ tokens: [], provision: () => answer });
  t.after(() => tb.close());
  await helper.load(allModules(), flow({ port: String(tb.port) }), creds());
  const r = await probe('out1').send({ payload: { a: 1 } });
  assert.equal(r.ok, false);
  caught.push(r.error);
  assert.match(r.error, /provisioning refused by ThingsBoard \(NOT_FOUND\): Failed to find provision profile/);
  assert.match(r.error, /provision key and secret/);
  await waitFor(() => /status\.provisionRefused/.test((lastStatus('out1') || {}).text || ''), 'the provisioning status');
  const again = await probe('out1').send({ payload: { a: 2 } });
  assert.equal(again.ok, false, 'permanent: fails at once');
  assert.equal(tb.state.provisionRequests.length, 1);
  await helper.unload();
  answer = { status: 'FAILURE', errorMsg: 'Device with name pi-kitchen already exists' };
  await helper.load(allModules(), flow({ port: String(tb.port) }), creds());
  const r2 = await probe('out1').send({ payload: { a: 3 } });
  caught.push(r2.error);
  assert.match(r2.error, /\(FAILURE\): Device with name pi-kitchen already exists/);
  await waitFor(() => tb.state.provisionSessionsOpen === 0, 'the provisioning sessions closed');
  assert.equal(fs.existsSync(path.join(userDir, '.thingsboard-device')), false, 'nothing kept');
});

test('provision: the device name defaults to the host name; MQTT basic credentials asked for are generated and used', { timeout: 60000 }, async (t) => {
  const { parseDeviceConfig } = require('../../nodes/lib/device/settings');
  const p = parseDeviceConfig({ host: 'h', credentialsType: 'provision', provisionCredentials: 'mqttBasic' }, { provisionKey: 'k', provisionSecret: 's' });
  assert.deepEqual(p.problems, []);
  assert.equal(p.provision.request.deviceName, os.hostname());
  assert.ok(p.provision.request.basic.password.length >= 20);
  const missing = parseDeviceConfig({ host: 'h', credentialsType: 'provision' }, {});
  assert.ok(missing.problems.some((x) => /provision key and secret/.test(x)));
  const coapBasic = parseDeviceConfig({ host: 'h', transport: 'coap', credentialsType: 'provision', provisionCredentials: 'mqttBasic' }, { provisionKey: 'k', provisionSecret: 's' });
  assert.ok(coapBasic.problems.some((x) => /CoAP cannot use them/.test(x)));
});

test('provision store: the configured secret, else the runtime-generated one, none when encryption is off; another secret cannot read it', () => {
  const { credentialSecret, provisionStore } = require('../../nodes/lib/nodes/provision-store');
  const get = (k) => (k === '_credentialSecret' ? 'generated-by-runtime' : undefined);
  assert.equal(credentialSecret({ settings: { credentialSecret: 'mine', get } }), 'mine');
  assert.equal(credentialSecret({ settings: { get } }), 'generated-by-runtime');
  assert.equal(credentialSecret({ settings: { credentialSecret: false, get } }), undefined);
  const store = provisionStore(userDir, 'node/1', 'secret-one');
  store.save({ type: 'accessToken', token: OBTAINED });
  assert.deepEqual(store.load(), { type: 'accessToken', token: OBTAINED });
  assert.throws(() => provisionStore(userDir, 'node/1', 'secret-two').load(), /cannot be decrypted with Node-RED's credential secret/);
  assert.equal(store.forget(), true);
  assert.equal(store.load(), undefined);
});
