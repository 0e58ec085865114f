'use strict';
// The emulator page at the window widths people use (1280 … 1920 px): every telemetry and
// attribute value of every card is readable — drawn whole, not cut to an ellipsis ("4..") nor
// broken inside a number. And a device port the emulator could not take is explained on the
// page, not only in the terminal: device nodes still on the old port reach another program.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { startEmulator } = require('../../emulator/index');
const { launchBrowser, shot, tempDir, waitFor } = require('./support');

const WIDTHS = [1280, 1366, 1440, 1480, 1536, 1600, 1680, 1920];

/** Every value cell on the page that does not show its whole text, with the reason. */
function unreadableValues(page) {
  return page.evaluate(() => {
    const bad = [];
    for (const span of document.querySelectorAll('article.device td.value span.v')) {
      const cell = span.closest('td');
      const where = `${span.closest('article').dataset.device} ${span.closest('tr').dataset.key}=${span.textContent} (cell ${cell.clientWidth} px)`;
      if (span.scrollWidth > span.clientWidth + 1) bad.push(`${where}: cut at the right`);
      else if (span.scrollHeight > span.clientHeight + 1) bad.push(`${where}: lines cut off`);
      else if (cell.scrollWidth > cell.clientWidth + 1) bad.push(`${where}: overflows its cell`);
      // A word (a number) drawn on more than one line is not readable either.
      const walker = document.createTreeWalker(span, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const re = /[^\s,]+/g;
        for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
          const range = document.createRange();
          range.setStart(node, m.index);
          range.setEnd(node, m.index + m[0].length);
          const tops = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
          if (tops.size > 1) bad.push(`${where}: "${m[0]}" broken over ${tops.size} lines`);
        }
      }
    }
    return bad;
  });
}

test('emulator page: every value is readable at widths 1280 to 1920 px', { timeout: 120000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const emu = await startEmulator({ ports: { mqtt: false, mqtts: false, coap: false, coaps: false, web: 0 } });
  t.after(() => emu.close());
  // What the demo and the examples send: four cards, so wide windows show three side by side.
  for (let d = 1; d <= 4; d++) {
    const token = `demo-token-${d}`;
    emu.store.accept(token, 'attributes', JSON.stringify({ model: 'Node-RED demo sensor', firmware: '1.4.2', interval: 5, led: true }), 'mqtt');
    for (let i = 0; i < 5; i++) {
      const values = { temperature: 22.531 + i, humidity: 48.1, batteryVoltage: 3.87, pressure: 1013.25, rssi: -67, uptime: 1234567 + i, co2: 415 };
      emu.store.accept(token, 'telemetry', JSON.stringify({ ts: Date.now() - (5 - i) * 1000, values }), 'mqtt');
    }
  }
  const context = await browser.newContext({ viewport: { width: WIDTHS[0], height: 900 } });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(emu.webUrl);
  await page.waitForSelector('#live.on');
  await waitFor('four cards', async () => (await page.locator('article.device').count()) >= 4);
  const problems = {};
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(100);
    const count = await page.locator('article.device td.value span.v').count();
    assert.equal(count, 4 * (7 + 4), `${width} px: every value is on the page`);
    const bad = await unreadableValues(page);
    if (bad.length) problems[width] = bad;
    await page.screenshot({ path: shot(`emulator-page-${width}`) });
  }
  assert.deepEqual(problems, {}, 'values not readable, by window width');
});

test('emulator page: a busy device port is explained (what moved, what still points at the old port, what to do)', { timeout: 60000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  // "Another broker on 1883": a port this test holds.
  const other = net.createServer((s) => s.destroy());
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => other.close());
  const busy = other.address().port;
  const emu = await startEmulator({ ports: { mqtt: busy, mqtts: false, coap: false, coaps: false, web: 0 } });
  t.after(() => emu.close());
  assert.notEqual(emu.ports.mqtt, busy);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(emu.webUrl);
  await page.waitForSelector('#live.on');
  const note = page.locator('#moved');
  assert.ok(await note.isVisible(), 'the note is shown');
  const text = await note.innerText();
  assert.match(text, new RegExp(`MQTT port ${busy} was taken by another program`));
  assert.match(text, new RegExp(`listens on ${emu.ports.mqtt}\\b`));
  assert.match(text, new RegExp(`still set to ${busy} .*imported examples`));
  assert.match(text, /nothing arrives here/);
  assert.match(text, new RegExp(`EMULATOR_MQTT_PORT=${emu.ports.mqtt} npm start`));
  await page.locator('header').screenshot({ path: shot('emulator-page-moved-port') });
});

test('emulator page: no busy-port note when every port was free', { timeout: 60000 }, async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const emu = await startEmulator({ ports: { mqtt: 0, mqtts: false, coap: false, coaps: false, web: 0 } });
  t.after(() => emu.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(emu.webUrl);
  await page.waitForSelector('#live.on');
  assert.equal(await page.locator('#moved').isVisible(), false);
});
