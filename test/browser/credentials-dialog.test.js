'use strict';
// The device dialog's Credentials choice in a real Chromium: each type shows only its fields
// (the client id joins MQTT basic), a type the transport cannot carry is named, and for X.509 the
// pasted certificate's subject and expiry are shown with the runtime's verdict on the key
// ("the private key matches" / "does not belong"). The key never comes back from the runtime.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startNodeRed } = require('../../scripts/node-red-embedded');
const { launchBrowser, settled, shot, waitFor, editorUserDir, editorPage } = require('./support');
const { createLeaf } = require('../support/pki');

test('device dialog: only the chosen credentials fields; X.509 subject, expiry and key check', { timeout: 180000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const nr = await startNodeRed({ userDir: editorUserDir(t, 'tb-cred-dialog-'), port: 0 });
  t.after(() => nr.close());
  const leaf = await createLeaf({ keyType: 'ec-p256', commonName: 'device-in-dialog', dnsNames: [], ips: [] });
  const other = await createLeaf({ keyType: 'ec-p256', commonName: 'other', dnsNames: [], ips: [] });
  const { page, errors } = await editorPage(t, browser);
  const keyRequests = [];
  page.on('request', (req) => { if (req.url().includes('client-certificate/check')) keyRequests.push(req.postData() || ''); });
  await page.goto(nr.url);
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType && RED.nodes.getType('thingsboard-device') && RED.workspaces.active(), null, { timeout: 30000 });
  await page.evaluate(() => {
    RED.view.importNodes([{ id: 'tb-cred-dev', type: 'thingsboard-device', name: '', host: 'tb.example.com', port: '', transport: 'mqtts', credentialsType: 'accessToken' }], { generateIds: false, notify: false });
    RED.editor.editConfig('', 'thingsboard-device', 'tb-cred-dev');
  });
  await page.waitForSelector('#node-config-input-credentialsType', { state: 'visible' });
  await settled(page, '#node-config-dialog-ok');
  const visible = (sel) => page.locator(sel).isVisible();
  const choose = async (type) => { await page.selectOption('#node-config-input-credentialsType', type); };

  assert.equal(await visible('#node-config-input-accessToken'), true);
  assert.equal(await visible('#node-config-input-password'), false);
  assert.equal(await visible('#node-config-input-clientCert'), false);

  await choose('mqttBasic');
  assert.equal(await visible('#node-config-input-accessToken'), false);
  assert.equal(await visible('#node-config-input-username'), true);
  assert.equal(await visible('#node-config-input-password'), true);
  assert.equal(await visible('#node-config-input-clientId'), true, 'the client id sits with the MQTT basic fields');
  assert.equal(await page.evaluate(() => $('#node-config-input-clientId').closest('#tb-basic-clientid-slot').length), 1);

  await choose('provision');
  assert.equal(await visible('#node-config-input-provisionKey'), true);
  assert.equal(await visible('#node-config-input-provisionSecret'), true);
  assert.equal(await visible('#node-config-input-username'), false);
  assert.equal(await visible('#node-config-input-clientCert'), false);
  await page.selectOption('#node-config-input-provisionCredentials', 'x509');
  assert.equal(await visible('#node-config-input-clientCert'), true, 'asking for X.509 needs the certificate');

  await choose('x509');
  assert.equal(await visible('#node-config-input-provisionKey'), false);
  await page.fill('#node-config-input-clientCert', leaf.certPem);
  await page.fill('#node-config-input-clientKey', leaf.keyPem);
  await page.locator('#node-config-input-clientKey').dispatchEvent('change');
  await waitFor('the key verdict', async () => /private key matches/.test(await page.textContent('#tb-client-cert-check')));
  const shown = await page.textContent('#tb-client-cert-check');
  assert.match(shown, /device-in-dialog/);
  assert.match(shown, /valid until \d{4}-\d\d-\d\d/);
  await page.fill('#node-config-input-clientKey', other.keyPem);
  await page.locator('#node-config-input-clientKey').dispatchEvent('change');
  await waitFor('the mismatch', async () => /does not belong/.test(await page.textContent('#tb-client-cert-check')));
  await page.locator('.red-ui-tray').last().screenshot({ path: shot('dialog-device-x509') });

  // CoAP cannot carry X.509: the dialog says so.
  await page.selectOption('#node-config-input-transport', 'coap');
  assert.equal(await visible('#tb-cred-transport-problem'), true);
  assert.deepEqual(errors, []);
  assert.ok(keyRequests.length > 0);
});
