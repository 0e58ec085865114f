'use strict';
// The gateway in the editor, in a real Chromium: the device dialog's "This device is a ThingsBoard
// gateway" box, the warning (and validation error) it shows with CoAP, and the out and in node
// dialogs showing their sub-device fields (Sub-device and Profile as typed inputs; Devices) only
// for a gateway device. Screenshots go to test-artifacts/browser/.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startNodeRed } = require('../../scripts/node-red-embedded');
const { launchBrowser, settled, shot, editorUserDir, editorPage } = require('./support');

test('gateway in the editor: the checkbox, the CoAP warning, the sub-device fields of out and in only on a gateway', { timeout: 180000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const nr = await startNodeRed({ userDir: editorUserDir(t, 'tb-gw-editor-'), port: 0 });
  t.after(() => nr.close());
  const { page, errors } = await editorPage(t, browser);
  await page.goto(nr.url);
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType && RED.nodes.getType('thingsboard-device') && RED.workspaces.active(), null, { timeout: 30000 });
  await page.evaluate(() => {
    const z = RED.workspaces.active();
    RED.view.importNodes([
      { id: 'gw-dev', type: 'thingsboard-device', name: 'gw', host: 'tb.example.com', port: '', transport: 'mqtt', gateway: false },
      { id: 'plain-dev', type: 'thingsboard-device', name: 'plain', host: 'tb.example.com', port: '', transport: 'mqtt', gateway: false },
      { id: 'gw-out', type: 'thingsboard-out', z, x: 200, y: 100, device: 'gw-dev', kind: 'telemetry', qos: 1, key: '', wires: [] },
      { id: 'gw-in', type: 'thingsboard-in', z, x: 200, y: 200, device: 'gw-dev', receive: 'rpc', keys: '', initial: true, methods: '', wires: [[]] },
    ], { generateIds: false, notify: false });
    RED.editor.editConfig('', 'thingsboard-device', 'gw-dev');
  });
  await page.waitForSelector('#node-config-input-gateway', { state: 'visible' });
  await settled(page, '#node-config-dialog-ok');
  const visible = (sel) => page.locator(sel).isVisible();
  assert.equal(await page.isChecked('#node-config-input-gateway'), false, 'off by default');
  await page.check('#node-config-input-gateway');
  assert.equal(await visible('#tb-gateway-coap'), false, 'MQTT: no warning');
  await page.selectOption('#node-config-input-transport', 'coap');
  assert.equal(await visible('#tb-gateway-coap'), true, 'CoAP: the warning shows');
  assert.match(await page.textContent('#tb-gateway-coap'), /gateway API works over MQTT and MQTTS only/);
  await page.locator('.red-ui-tray').last().screenshot({ path: shot('dialog-device-gateway-coap') });
  await page.selectOption('#node-config-input-transport', 'mqtt');
  assert.equal(await visible('#tb-gateway-coap'), false);
  await page.click('#node-config-dialog-ok');
  await page.waitForSelector('#node-config-dialog-ok', { state: 'detached' });
  assert.equal(await page.evaluate(() => RED.nodes.node('gw-dev').gateway), true, 'saved as a boolean');

  // The out node: Sub-device / Profile (typed inputs) only for a gateway device.
  await page.evaluate(() => RED.editor.edit(RED.nodes.node('gw-out')));
  await page.waitForSelector('#node-dialog-ok', { state: 'visible' });
  await settled(page, '#node-dialog-ok');
  // A typed input hides the original field and shows its own text box beside a kind selector.
  const typed = (i) => page.locator('.tb-row-gateway .red-ui-typedInput-container').nth(i);
  const nameBox = typed(0).locator('input[type="text"]');
  const typeBox = typed(1).locator('input[type="text"]');
  assert.equal(await nameBox.isVisible(), true);
  assert.equal(await typeBox.isVisible(), true);
  const cut = await page.evaluate(() => [...document.querySelectorAll('.red-ui-tray .form-row > label')]
    .filter((l) => l.offsetParent !== null && !l.closest('.tb-check-row') && l.scrollWidth > l.clientWidth + 1).map((l) => l.textContent.trim()));
  assert.deepEqual(cut, [], 'no label cut');
  const tooLong = await page.evaluate(() => [...document.querySelectorAll('.tb-row-gateway .red-ui-typedInput-container input[type="text"]')].filter((f) => {
    const c = document.createElement('canvas').getContext('2d');
    const cs = getComputedStyle(f);
    c.font = `${cs.fontSize} ${cs.fontFamily}`;
    return c.measureText(f.placeholder).width > f.clientWidth - 8;
  }).map((f) => f.placeholder));
  assert.deepEqual(tooLong, [], 'placeholders fit');
  await nameBox.fill('boiler-1');
  assert.equal(await page.evaluate(() => $('#node-input-deviceName').typedInput('type')), 'str', 'text by default');
  // The Profile from an environment variable: the kinds offered are text, msg, flow, global, env.
  await typed(1).locator('.red-ui-typedInput-type-select').click();
  const menu = page.locator('.red-ui-typedInput-options').filter({ visible: true });
  assert.deepEqual(await menu.locator('a[value]').evaluateAll((as) => as.map((a) => a.getAttribute('value'))), ['str', 'msg', 'flow', 'global', 'env']);
  await menu.locator('a[value="env"]').click();
  await typeBox.fill('PROFILE');
  await page.locator('.red-ui-tray').last().screenshot({ path: shot('dialog-out-gateway') });
  await page.selectOption('#node-input-device', 'plain-dev');
  assert.equal(await nameBox.isVisible(), false, 'hidden for a device that is no gateway');
  await page.selectOption('#node-input-device', 'gw-dev');
  await page.click('#node-dialog-ok');
  await page.waitForSelector('#node-dialog-ok', { state: 'detached' });
  assert.deepEqual(await page.evaluate(() => { const n = RED.nodes.node('gw-out'); return [n.deviceName, n.deviceNameType, n.deviceType, n.deviceTypeType]; }), ['boiler-1', 'str', 'PROFILE', 'env']);

  // The in node: Devices only for a gateway device.
  await page.evaluate(() => RED.editor.edit(RED.nodes.node('gw-in')));
  await page.waitForSelector('#node-dialog-ok', { state: 'visible' });
  await settled(page, '#node-dialog-ok');
  assert.equal(await visible('#node-input-devices'), true);
  await page.selectOption('#node-input-device', 'plain-dev');
  assert.equal(await visible('#node-input-devices'), false);
  await page.click('#node-dialog-cancel');
  assert.deepEqual(errors, []);
});
