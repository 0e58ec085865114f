'use strict';
// `npm start` seen as a newcomer sees it: the editor shows the ready demo tab with every
// thingsboard-out node green, and the emulator page fills with the readings. Screenshots of both.
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

  run.child.kill('SIGINT');
  assert.equal((await run.exited).code, 0, run.output());
});
