'use strict';
// The emulator's CoAPS front (socat terminating DTLS in front of a CoAP emulator): the seed's own
// client, `coap-client-openssl -R ca.pem ... coaps://...`, stores a reading as 'coaps', a wrong
// token gets 4.01 and a rejection on the page, a client that does not trust the CA sends nothing.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { requirePeer } = require('../support/peers');
const { startEmulator } = require('../../emulator/index');
const { createCA, writePki } = require('../support/pki');

/** Runs the client asynchronously: the emulator answering it lives in this process. */
function coapClient(args) {
  return new Promise((resolve) => {
    execFile('coap-client-openssl', args, { encoding: 'utf8', timeout: 30000 }, (err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

test('CoAPS through the emulator: stored as coaps, 4.01 for a bad token, nothing without the right CA', { timeout: 90000 }, async (t) => {
  if (!requirePeer(t, 'socat') || !requirePeer(t, 'coap-client-openssl')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-coaps-emu-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const emu = await startEmulator({ dataDir: dir, ports: { mqtt: false, mqtts: false, coap: 0, coaps: 0, web: false } });
  t.after(() => emu.close());
  assert.ok(emu.ports.coaps > 0, emu.notes.join('; '));
  const base = `coaps://127.0.0.1:${emu.ports.coaps}/api/v1`;

  await coapClient(['-R', emu.caFile, '-m', 'post', '-t', 'json', '-e', '{"temperature":25}', `${base}/demo-token-4/telemetry`]);
  assert.equal(emu.store.latest('demo-device-4').temperature.value, 25);

  const denied = await coapClient(['-R', emu.caFile, '-m', 'post', '-t', 'json', '-e', '{"a":1}', `${base}/not-a-token/telemetry`]);
  assert.match(denied, /4\.01/);
  assert.deepEqual(emu.store.rejected.map((r) => [r.transport, r.status]), [['coaps', 'unauthorized']]);

  const other = await createCA({ name: 'Unrelated CA' });
  const { 'other.pem': otherCa } = writePki(dir, { 'other.pem': other.certPem });
  await coapClient(['-R', otherCa, '-m', 'post', '-t', 'json', '-e', '{"temperature":99}', `${base}/demo-token-4/telemetry`]);
  assert.equal(emu.store.latest('demo-device-4').temperature.value, 25);
  assert.equal(emu.store.devices.get('demo-device-4').messages, 1);
});
