'use strict';
// The editor as a user meets it, in a real Chromium: drag thingsboard-out from the palette, open
// its dialog, add a thingsboard-device through the config dialog (host, port, token), deploy,
// watch the status turn green against the in-process emulator, press the inject button and
// see the reading arrive at the emulator. Then: the token never comes back to the browser, and
// every examples/*.json imports with known node types. Screenshots go to test-artifacts/.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startEmulator } = require('../../emulator/index');
const { fileBrowser, settled, shot, waitFor, root, editorPage } = require('./support');
const { fileNodeRed } = require('./node-red');

const TOKEN = 'browser-secret-token-7f3a9c';
const pkgName = require(path.join(root, 'package.json')).name;
// One Chromium and one Node-RED for the tests of this file.
const browserFor = fileBrowser();
const nodeRed = fileNodeRed('tb-editor-');

async function openEditor(browser, t, url, colorScheme = 'light') {
  const { page, errors } = await editorPage(t, browser, { colorScheme });
  const bodies = [];
  page.on('response', async (res) => {
    try { bodies.push({ url: res.url(), text: await res.text() }); } catch { /* no body (websocket, redirect) */ }
  });
  await page.goto(url);
  await page.waitForFunction(() => window.RED && RED.nodes && RED.nodes.getType && RED.nodes.getType('thingsboard-out') && RED.workspaces.active(), null, { timeout: 30000 });
  await page.waitForSelector('.red-ui-palette-node[data-palette-type="thingsboard-out"]', { state: 'visible', timeout: 30000 });
  return { page, errors, bodies };
}

test('editor: add, configure and deploy through the dialogs; green status; reading arrives; token stays on the server', { timeout: 180000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const nr = await nodeRed();
  t.after(() => nr.deploy([])); // the next test finds an empty runtime
  const emu = await startEmulator({
    devices: [{ name: 'browser-device', token: TOKEN }],
    ports: { mqtt: 0, mqtts: false, coap: 0, coaps: false, web: false },
  });
  t.after(() => emu.close());

  const { page, errors } = await openEditor(browser, t, nr.url);

  // An inject node to press later (the part under test is the ThingsBoard nodes, so plain import).
  await page.evaluate(() => {
    RED.view.importNodes([{ id: 'tb-test-inject', type: 'inject', name: 'reading', props: [{ p: 'payload' }], repeat: '', once: false, topic: '', payload: '{"temperature":21.5,"humidity":40}', payloadType: 'json', x: 160, y: 120, wires: [[]] }], { generateIds: false, touchImport: true, notify: false });
  });

  // Find thingsboard-out with the palette's search box, then drag it onto the canvas.
  await page.locator('#red-ui-palette-search input').click();
  await page.keyboard.type('thingsboard');
  const paletteItem = page.locator('.red-ui-palette-node[data-palette-type="thingsboard-out"]');
  // The palette animates while it filters: wait until the item is near the top and still.
  let previous = null;
  const from = await waitFor('thingsboard-out at the top of the filtered palette', async () => {
    const box = await paletteItem.boundingBox();
    const still = box && previous && box.x === previous.x && box.y === previous.y;
    previous = box;
    return still && box.y > 0 && box.y + box.height < 850 ? box : null; // in view (node-red 5 puts the palette lower)
  }, 15000, 250);
  await page.screenshot({ path: shot('editor-palette') });
  const canvas = await page.locator('#red-ui-workspace-chart').boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 20, from.y + from.height / 2 + 5, { steps: 5 });
  await page.mouse.move(canvas.x + 420, canvas.y + 120, { steps: 12 });
  await page.mouse.move(canvas.x + 430, canvas.y + 122, { steps: 3 });
  await page.mouse.up();
  const outId = await waitFor('the dropped thingsboard-out node', () => page.evaluate(() => {
    const found = RED.nodes.filterNodes({ type: 'thingsboard-out' });
    return found.length === 1 ? found[0].id : null;
  }));

  // Wire inject → out, as a drag between ports would.
  await page.evaluate((id) => {
    RED.nodes.addLink({ source: RED.nodes.node('tb-test-inject'), sourcePort: 0, target: RED.nodes.node(id) });
    RED.view.redraw(true);
  }, outId);

  // Open the out node's dialog with a double click, then add a config node through its dialog.
  await page.locator(`[id="${outId}"] .red-ui-flow-node`).dblclick();
  await page.waitForSelector('#node-input-device', { state: 'attached' });
  await page.waitForSelector('#node-dialog-ok', { state: 'visible' });
  await settled(page, '#node-dialog-ok');
  await page.screenshot({ path: shot('editor-out-dialog-new') });
  // node-red 4+: a "+" button beside the config select adds a new config node (the pencil
  // edits the selected one). Older editors only had the pencil with "Add new ..." selected.
  const addButton = page.locator('#node-input-btn-device-add');
  await (await addButton.count() ? addButton : page.locator('#node-input-btn-device-edit')).click();
  await page.waitForSelector('#node-config-input-host', { state: 'visible' });
  await page.selectOption('#node-config-input-transport', 'mqtt');
  await page.fill('#node-config-input-name', 'browser device');
  await page.fill('#node-config-input-host', '127.0.0.1');
  await page.fill('#node-config-input-port', String(emu.ports.mqtt));
  await page.fill('#node-config-input-accessToken', TOKEN);
  assert.equal(await page.getAttribute('#node-config-input-accessToken', 'type'), 'password');
  await settled(page, '#node-config-dialog-ok');
  await page.screenshot({ path: shot('editor-config-dialog') });
  await page.locator('#node-config-dialog-ok').click();
  await page.waitForSelector('#node-config-input-host', { state: 'detached' });
  await settled(page, '#node-dialog-ok');
  await page.screenshot({ path: shot('editor-out-dialog') });
  await page.locator('#node-dialog-ok').click();
  await page.waitForSelector('#node-dialog-ok', { state: 'detached' });

  const configId = await page.evaluate((id) => RED.nodes.node(id).device, outId);
  assert.ok(configId, 'the out node points at the new config node');

  await page.locator('#red-ui-header-button-deploy').click();
  await waitFor('a green status on the out node', () => page.evaluate((id) => {
    const s = RED.nodes.node(id).status;
    return s && s.fill === 'green' ? s : null;
  }, outId), 30000);
  await page.screenshot({ path: shot('editor-deployed-green') });

  // Press the inject node's button: the reading must reach the emulator's store.
  await page.locator('[id="tb-test-inject"] .red-ui-flow-node-button-button').click();
  await waitFor('the reading at the emulator', () => emu.store.latest('browser-device').temperature);
  assert.equal(emu.store.latest('browser-device').temperature.value, 21.5);
  assert.equal(emu.store.latest('browser-device').humidity.value, 40);

  // The runtime hands the editor only has_accessToken for a password credential.
  const creds = (await nr.get(`credentials/thingsboard-device/${configId}`)).body;
  assert.equal(creds.has_accessToken, true);
  assert.equal('accessToken' in creds, false);
  assert.ok(!JSON.stringify((await nr.get('flows')).body).includes(TOKEN));

  // A fresh editor (as after a reload) receives the token in no response at all. The browser
  // prefers a dark scheme here (node-red 4.1 and 5.0.7 both still render their light theme).
  const fresh = await openEditor(browser, t, nr.url, 'dark');
  await fresh.page.evaluate((id) => RED.editor.editConfig('', 'thingsboard-device', id), configId);
  await fresh.page.waitForSelector('#node-config-input-accessToken', { state: 'visible' });
  await waitFor('the credentials request', () => fresh.bodies.some((b) => b.url.includes('/credentials/thingsboard-device/')));
  const leaked = fresh.bodies.filter((b) => b.text.includes(TOKEN)).map((b) => b.url);
  assert.deepEqual(leaked, [], 'responses that carried the token');
  assert.notEqual(await fresh.page.inputValue('#node-config-input-accessToken'), TOKEN);
  await settled(fresh.page, '#node-config-dialog-ok');
  await fresh.page.screenshot({ path: shot('editor-config-reopened') });

  assert.deepEqual([...errors, ...fresh.errors], []);
});

test('editor: every examples/*.json is listed under Import → Examples and imports with known node types', { timeout: 180000 }, async (t) => {
  const exampleDir = path.join(root, 'examples');
  const files = fs.existsSync(exampleDir) ? fs.readdirSync(exampleDir).filter((f) => f.endsWith('.json')).sort() : [];
  // The package ships example flows: none found is a broken package, not a reason to skip.
  assert.ok(files.length > 0, 'no examples/*.json: the package ships example flows');
  const browser = await browserFor(t);
  if (!browser) return;
  const nr = await nodeRed();
  const { page, errors } = await openEditor(browser, t, nr.url);

  for (const file of files) {
    const name = file.replace(/\.json$/, '');
    const flow = JSON.parse(fs.readFileSync(path.join(exampleDir, file), 'utf8'));
    assert.ok(Array.isArray(flow), `${file} is a JSON array of nodes`);
    // Listed by the runtime where Import → Examples looks.
    const listed = (await nr.get(`library/examples/flows/${pkgName}/${encodeURIComponent(name)}`)).body;
    assert.deepEqual(listed, flow, `${file} is served as an example`);

    const result = await page.evaluate((nodes) => {
      try {
        const all = () => {
          const list = [];
          RED.nodes.eachNode((n) => { list.push(n); });
          RED.nodes.eachConfig((n) => { list.push(n); });
          return list;
        };
        const before = new Set(all().map((n) => n.id));
        const tabsBefore = new Set();
        RED.nodes.eachWorkspace((w) => { tabsBefore.add(w.id); });
        // As Import → Examples does it (into the current flow unless the JSON brings its own tab).
        RED.view.importNodes(nodes, { generateIds: true, addFlow: false, touchImport: true });
        const added = all().filter((n) => !before.has(n.id));
        const tabs = [];
        RED.nodes.eachWorkspace((w) => { if (!tabsBefore.has(w.id)) tabs.push({ id: w.id, label: w.label }); });
        const onTab = added.filter((n) => n.type !== 'thingsboard-device' && (!tabs[0] || n.z !== tabs[0].id)).map((n) => `${n.type} "${n.name || n.id}"`);
        const invalid = added.filter((n) => n.valid === false).map((n) => `${n.type} "${n.name || n.id}": ${(n.validationErrors || []).join('; ')}`);
        const unknown = nodes.filter((n) => n.type !== 'tab' && n.type !== 'group' && !/^subflow/.test(n.type) && !RED.nodes.getType(n.type)).map((n) => n.type);
        return { added: added.length, unknown, invalid, tabs: tabs.map((w) => w.label), offTab: onTab };
      } catch (err) {
        return { error: String(err && err.stack || err) };
      }
    }, flow);
    assert.equal(result.error, undefined, `${file}: ${result.error}`);
    assert.deepEqual(result.unknown, [], `${file} uses unknown node types`);
    assert.ok(result.added > 0, `${file} added nodes`);
    assert.deepEqual(result.invalid, [], `${file}: nodes the editor marks invalid`);
    assert.deepEqual(result.tabs, [name], `${file} imports into a new tab named after it (not into "Flow 1")`);
    assert.deepEqual(result.offTab, [], `${file}: nodes outside the example's tab`);
    await page.screenshot({ path: shot(`example-${name}`) });
  }
  assert.deepEqual(errors, []);
});

test('editor: hand-written or older flow JSON without the optional settings is valid (the runtime uses the defaults); a bad value still is not', { timeout: 180000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const nr = await nodeRed();
  const { page, errors } = await openEditor(browser, t, nr.url);
  const result = await page.evaluate(() => {
    const flow = [
      { id: 'hw-tab', type: 'tab', label: 'hand-written' },
      // No keepalive, protocolVersion, maxPayloadBytes, queueSize, maxInFlight, verifyServer, ...
      { id: 'hw-mqtt', type: 'thingsboard-device', name: 'older MQTT device', host: 'tb.example.com', port: '1883', transport: 'mqtt' },
      { id: 'hw-coap', type: 'thingsboard-device', name: 'older CoAP device', host: 'tb.example.com', transport: 'coap' },
      // No kind, qos (out), receive (in), request (request).
      { id: 'hw-out', type: 'thingsboard-out', z: 'hw-tab', device: 'hw-mqtt', x: 200, y: 80, wires: [] },
      { id: 'hw-in', type: 'thingsboard-in', z: 'hw-tab', device: 'hw-mqtt', x: 200, y: 140, wires: [[]] },
      { id: 'hw-req', type: 'thingsboard-request', z: 'hw-tab', device: 'hw-coap', x: 200, y: 200, wires: [[]] },
      // Control: a value that is there and wrong is still flagged.
      { id: 'hw-bad', type: 'thingsboard-device', name: 'bad keepalive', host: 'tb.example.com', transport: 'mqtt', keepalive: 'soon', maxInFlight: 0 },
    ];
    RED.view.importNodes(flow, { generateIds: false, addFlow: false, touchImport: true, notify: false });
    const report = {};
    for (const id of ['hw-mqtt', 'hw-coap', 'hw-out', 'hw-in', 'hw-req', 'hw-bad']) {
      const n = RED.nodes.node(id);
      RED.editor.validateNode(n);
      report[id] = n.valid === false ? (n.validationErrors || ['invalid']).join('; ') : 'valid';
    }
    return report;
  });
  const { 'hw-bad': bad, ...rest } = result;
  assert.deepEqual(rest, { 'hw-mqtt': 'valid', 'hw-coap': 'valid', 'hw-out': 'valid', 'hw-in': 'valid', 'hw-req': 'valid' });
  assert.match(bad, /Keepalive: whole seconds.*Max in flight: a whole number/);
  assert.deepEqual(errors, []);
});
