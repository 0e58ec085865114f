'use strict';
// Provisioning in a real embedded Node-RED (not the test helper): the kept credentials are
// encrypted with the runtime's credential secret; a second runtime on the same user directory
// connects with what was kept and sends no second provisioning request. With credentialSecret:
// false nothing could be kept encrypted: a configuration error before asking ThingsBoard at all.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNodeRed } = require('../../scripts/node-red-embedded');
const { startTbBroker } = require('../support/tb-broker');
const { waitFor } = require('../support/wait');

const KEY = 'rt-prov-key';
const SECRET = 'rt-prov-S3cret';
const OBTAINED = 'rt-obtained-T0ken-77';

function flow(port) {
  return [
    { id: 'tab1', type: 'tab', label: 'provision' },
    { id: 'dev', type: 'thingsboard-device', host: '127.0.0.1', port: String(port), transport: 'mqtt', credentialsType: 'provision', provisionDeviceName: 'rt-device', credentials: { provisionKey: KEY, provisionSecret: SECRET } },
    { id: 'inj', type: 'inject', z: 'tab1', x: 100, y: 100, once: true, onceDelay: 0.1, repeat: '', payload: '{"boot":1}', payloadType: 'json', topic: '', props: [{ p: 'payload' }], wires: [['out']] },
    { id: 'out', type: 'thingsboard-out', z: 'tab1', x: 300, y: 100, device: 'dev', kind: 'telemetry', qos: '1', key: '', wires: [] },
  ];
}

test('embedded Node-RED: provisions once, keeps it encrypted, a restarted runtime does not ask again', { timeout: 120000 }, async (t) => {
  const tokens = [];
  const tb = await startTbBroker({ tokens, provision: () => { tokens.push(OBTAINED); return { status: 'SUCCESS', credentialsType: 'ACCESS_TOKEN', credentialsValue: OBTAINED }; } });
  t.after(() => tb.close());
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-prov-rt-'));
  t.after(() => fs.rmSync(userDir, { recursive: true, force: true }));
  const settings = { credentialSecret: 'runtime-test-credential-secret', logging: { console: { level: 'off' } } };

  let nr = await startNodeRed({ userDir, port: 0, settings });
  await nr.deploy(flow(tb.port));
  await waitFor(() => tb.publishedOn('v1/devices/me/telemetry', OBTAINED).length === 1, 'the first telemetry with the obtained token');
  await nr.close();
  assert.equal(tb.state.provisionRequests.length, 1);
  const kept = fs.readdirSync(path.join(userDir, '.thingsboard-device'));
  assert.equal(kept.length, 1);
  const text = fs.readFileSync(path.join(userDir, '.thingsboard-device', kept[0]), 'utf8');
  assert.ok(!text.includes(OBTAINED));

  nr = await startNodeRed({ userDir, port: 0, settings });
  t.after(() => nr.close());
  await waitFor(() => tb.publishedOn('v1/devices/me/telemetry', OBTAINED).length === 2, 'telemetry after the restart');
  assert.equal(tb.state.provisionRequests.length, 1, 'no second provisioning request after a restart');
});

test('credentialSecret: false → nothing could be kept encrypted: a configuration error before any provisioning request, nothing written', { timeout: 120000 }, async (t) => {
  const tokens = [];
  const tb = await startTbBroker({ tokens, provision: () => { tokens.push(OBTAINED); return { status: 'SUCCESS', credentialsType: 'ACCESS_TOKEN', credentialsValue: OBTAINED }; } });
  t.after(() => tb.close());
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-prov-rt-'));
  t.after(() => fs.rmSync(userDir, { recursive: true, force: true }));
  const lines = [];
  const nr = await startNodeRed({ userDir, port: 0, credentialSecret: false, settings: { logging: { capture: { level: 'warn', handler: () => (msg) => lines.push(String(msg.msg)) } } } });
  t.after(() => nr.close());
  await nr.deploy(flow(tb.port));
  await waitFor(() => lines.some((l) => /encryption is off \(credentialSecret: false/.test(l)), 'the configuration error naming credentialSecret');
  assert.equal(tb.state.provisionRequests.length, 0, 'no device created in ThingsBoard for credentials that could not be kept');
  assert.equal(fs.existsSync(path.join(userDir, '.thingsboard-device')), false);
  assert.equal(tb.publishedOn('v1/devices/me/telemetry', OBTAINED).length, 0, 'nothing sent with credentials that would be lost');
  assert.ok(!lines.some((l) => l.includes(OBTAINED) || l.includes(SECRET)));
});
