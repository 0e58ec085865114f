'use strict';
// `npm start` seen as a newcomer sees it: the editor shows the ready demo tab with every
// thingsboard-out node green, and the emulator page fills with the readings; an RPC clicked on
// the page is answered by the flow, and a shared attribute set there reaches it. Screenshots.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startScript, ZERO_PORTS } = require('../emulator/start-script');
const { launchBrowser, shot, waitFor } = require('./support');

test('npm start: the demo tab is green in the editor and the emulator page shows the readings', { timeout: 180000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-demo-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const run = startScript(t, { ...ZERO_PORTS, EMULATOR_DATA_DIR: dataDir, TB_HOST: '' });
  const out = await run.waitFor(/Ctrl-C stops everything/);
  const editorUrl = /Node-RED editor\s+(http:\S+)/.exec(out)[1];
  const pageUrl = /Emulator page\s+(http:\S+)/.exec(out)[1];

  const context = await browser.newContext({ viewport: { width: 1400, height: 800 } });
  t.after(() => context.close());
  const editor = await context.newPage();
  await editor.goto(editorUrl);
  await editor.waitForFunction(() => window.RED && RED.nodes && RED.nodes.workspace('tb-demo-tab'), null, { timeout: 30000 });
  await editor.evaluate(() => RED.workspaces.show('tb-demo-tab'));
  const statuses = await waitFor('every thingsboard-out node green', () => editor.evaluate(() => {
    const outs = RED.nodes.filterNodes({ type: 'thingsboard-out' });
    const all = outs.map((n) => ({ name: n.name, fill: n.status && n.status.fill, text: n.status && n.status.text }));
    return outs.length >= 4 && all.every((s) => s.fill === 'green') ? all : null;
  }), 60000);
  assert.ok(statuses.some((s) => /MQTTS/.test(s.name)) && statuses.some((s) => /CoAP/.test(s.name)));
  // No red triangles: the editor finds every node of the ready flow valid.
  const invalid = await editor.evaluate(() => {
    const bad = [];
    const check = (n) => { if (n.valid === false) bad.push(`${n.type} ${n.id}: ${(n.validationErrors || []).join('; ')}`); };
    RED.nodes.eachNode(check);
    RED.nodes.eachConfig(check);
    return bad;
  });
  assert.deepEqual(invalid, []);
  await editor.screenshot({ path: shot('npm-start-editor') });

  const page = await context.newPage();
  await page.goto(pageUrl);
  await page.waitForSelector('#live.on');
  for (const device of ['demo-device-1', 'demo-device-2', 'demo-device-3']) {
    await waitFor(`${device} with a chart`, async () => (await page.locator(`article[data-device="${device}"] tr[data-key="temperature"] svg.spark polyline`).count()) === 1);
  }
  // A few more ticks so the charts have a line to show.
  await waitFor('several readings on the page', async () => Number((await page.locator('article[data-device="demo-device-1"] .count').textContent()).split(' ')[0]) >= 4, 30000, 500);
  await page.screenshot({ path: shot('npm-start-emulator-page'), fullPage: true });

  // The control loop as a new user tries it: click RPC on the page, the flow answers.
  const card = page.locator('article.device[data-device="demo-device-1"]');
  await card.locator('form.rpc-form input[name="method"]').fill('setLed');
  await card.locator('form.rpc-form input[name="params"]').fill('true');
  await card.locator('form.rpc-form button[type="submit"]').click();
  await waitFor('the flow\'s reply on the page', async () => /setLed → \{"led":true\}/.test(await card.locator('.rpc-result.ok').textContent({ timeout: 500 })), 20000);
  assert.equal(await card.locator('table.rpc tbody tr').first().locator('td.state').textContent(), 'SUCCESSFUL');
  // The new state comes back as a client attribute; a shared attribute set on the page reaches
  // the flow (the target function's status says so in the editor).
  await waitFor('led as a client attribute', async () => (await card.locator('table.attributes tr[data-key="led"] td.value').textContent({ timeout: 500 })) === 'true');
  await card.locator('form.shared-form input[name="key"]').fill('targetTemperature');
  await card.locator('form.shared-form input[name="value"]').fill('30');
  await card.locator('form.shared-form button[type="submit"]').click();
  await waitFor('the target in the flow', () => editor.evaluate(() => {
    const n = RED.nodes.node('tb-demo-target');
    return n && n.status && n.status.text === 'target 30';
  }), 20000);
  await card.screenshot({ path: shot('npm-start-rpc-reply') });

  await run.stop('SIGINT');
});
