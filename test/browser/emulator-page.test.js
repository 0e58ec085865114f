'use strict';
// The emulator's page in a real browser: it shows what the devices received, updates live over
// Server-Sent Events (a reading sent over real MQTT and CoAP appears without a reload), lists
// rejected requests with their reason, and shows no token. Light and dark screenshots.
const test = require('node:test');
const assert = require('node:assert/strict');
const mqtt = require('mqtt');
const coap = require('coap');
const { startEmulator } = require('../../emulator/index');
const { fileBrowser, shot, tempDir, waitFor, pageErrors } = require('./support');

// One Chromium for the tests of this file; each test starts its own emulator.
const browserFor = fileBrowser();

function coapPost(port, url, body) {
  return new Promise((resolve, reject) => {
    const req = coap.request({ hostname: '127.0.0.1', port, method: 'POST', pathname: url, confirmable: true });
    req.setOption('Content-Format', 'application/json');
    req.on('response', (res) => { res.resume(); resolve(res.code); });
    req.on('error', reject);
    req.end(body);
  });
}

test('the emulator page shows devices, live readings, attributes and rejections', { timeout: 120000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const emu = await startEmulator({ dataDir: tempDir(t, 'tb-emu-page-'), ports: { mqtt: 0, mqtts: 0, coap: 0, coaps: false, web: 0 } });
  t.after(() => emu.close());
  const { store } = emu;
  store.accept('demo-token-1', 'attributes', '{"firmware":"0.1.0","model":"test rig"}', 'mqtt');
  for (let i = 0; i < 12; i++) {
    store.accept('demo-token-1', 'telemetry', JSON.stringify({ ts: Date.now() - (12 - i) * 1000, values: { temperature: 20 + Math.sin(i / 2) * 2, humidity: 40 + i } }), 'mqtt');
  }

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  t.after(() => context.close());
  const page = await context.newPage();
  const bodies = [];
  page.on('response', async (res) => {
    try { bodies.push(await res.text()); } catch { /* the event stream has no final body */ }
  });
  const errors = pageErrors(page);
  await page.goto(emu.webUrl);
  await page.waitForSelector('#live.on');

  const card = page.locator('article.device[data-device="demo-device-1"]');
  assert.equal(await card.locator('tr[data-key="humidity"] td.value').textContent(), '51');
  assert.equal(await card.locator('table.attributes tr[data-key="model"] td.value').textContent(), 'test rig');
  assert.equal(await card.locator('tr[data-key="temperature"] svg.spark polyline').count(), 1);

  // Live: real protocol traffic, no reload.
  const client = mqtt.connect(`mqtt://127.0.0.1:${emu.ports.mqtt}`, { username: 'demo-token-2', reconnectPeriod: 0 });
  t.after(() => client.end(true));
  await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
  await client.publishAsync('v1/devices/me/telemetry', JSON.stringify({ pressure: 1.25 }), { qos: 1 });
  assert.equal(await coapPost(emu.ports.coap, '/api/v1/demo-token-3/telemetry', '{"co2": 415}'), '2.01');
  assert.equal(await coapPost(emu.ports.coap, '/api/v1/demo-token-3/telemetry', '{"co2": '), '4.00');
  assert.equal(await coapPost(emu.ports.coap, '/api/v1/wrong-token-xyz/telemetry', '{"co2": 1}'), '4.01');

  await waitFor('the MQTT reading on the page', async () => (await page.locator('article[data-device="demo-device-2"] tr[data-key="pressure"] td.value').textContent({ timeout: 500 })) === '1.25');
  await waitFor('the CoAP reading on the page', async () => (await page.locator('article[data-device="demo-device-3"] tr[data-key="co2"] td.value').textContent({ timeout: 500 })) === '415');
  await waitFor('two rejections listed', async () => (await page.locator('#rejected tr').count()) === 2);
  const rejected = await page.locator('#rejected').innerText();
  assert.match(rejected, /bad-request/);
  assert.match(rejected, /not valid JSON/);
  assert.match(rejected, /unauthorized/);
  assert.match(await page.locator('#endpoints').innerText(), new RegExp(`MQTT\\s+127\\.0\\.0\\.1:${emu.ports.mqtt}`));
  assert.match(await page.locator('#ca').innerText(), /ca\.pem/);

  await page.screenshot({ path: shot('emulator-page-light'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: shot('emulator-page-dark'), fullPage: true });

  const html = await page.content();
  for (const text of [html, ...bodies]) {
    assert.ok(!/demo-token-\d|wrong-token-xyz/.test(text), 'a token reached the browser');
  }
  assert.deepEqual(errors, []);
});

/** Per word of a value cell: on how many lines it is drawn (must be 1), and how many lines the cell has. */
function wrapReport(page, selector) {
  return page.evaluate((sel) => {
    const cell = document.querySelector(sel);
    if (!cell) return null;
    const tops = (rects) => new Set([...rects].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
    const words = [];
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /[^\s,]+/g;
      for (let m = re.exec(node.data); m; m = re.exec(node.data)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        words.push({ word: m[0], lines: tops(range.getClientRects()).size });
      }
    }
    const all = document.createRange();
    all.selectNodeContents(cell);
    return { words, lines: tops(all.getClientRects()).size, overflowing: cell.scrollWidth > cell.clientWidth };
  }, selector);
}

test('the emulator page sends shared attributes and RPC to a device and shows its reply or the timeout; long values never break inside a number', { timeout: 120000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const emu = await startEmulator({ ports: { mqtt: 0, mqtts: false, coap: false, coaps: false, web: 0 } });
  t.after(() => emu.close());

  // The device: an MQTT client that takes RPC and shared attributes like a ThingsBoard device.
  const device = mqtt.connect(`mqtt://127.0.0.1:${emu.ports.mqtt}`, { username: 'demo-token-1', reconnectPeriod: 0 });
  t.after(() => device.end(true));
  await new Promise((resolve, reject) => { device.once('connect', resolve); device.once('error', reject); });
  const shared = [];
  device.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString());
    const m = /^v1\/devices\/me\/rpc\/request\/(\d+)$/.exec(topic);
    if (m) device.publish(`v1/devices/me/rpc/response/${m[1]}`, JSON.stringify({ led: body.params, method: body.method }), { qos: 1 });
    else shared.push(body);
  });
  await device.subscribeAsync(['v1/devices/me/rpc/request/+', 'v1/devices/me/attributes'], { qos: 1 });
  const samples = Array.from({ length: 40 }, (_, i) => Math.round((20 + Math.sin(i) * 3) * 1000) / 1000);
  await device.publishAsync('v1/devices/me/telemetry', JSON.stringify({ samples }), { qos: 1 });
  await device.publishAsync('v1/devices/me/attributes', JSON.stringify({ serial: '4278139512345678901234567890123456789012345678901234567890', note: 'a note with several ordinary words that has to wrap over more than one line in the card' }), { qos: 1 });

  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors = pageErrors(page);
  await page.goto(emu.webUrl);
  await page.waitForSelector('#live.on');
  const card = page.locator('article.device[data-device="demo-device-1"]');
  await waitFor('the samples on the page', async () => (await card.locator('tr[data-key="samples"]').count()) === 1);

  // Server-side RPC from the form, answered by the device.
  await card.locator('form.rpc-form input[name="method"]').fill('setLed');
  await card.locator('form.rpc-form input[name="params"]').fill('true');
  await card.locator('form.rpc-form button[type="submit"]').click();
  await waitFor('the reply on the page', async () => /setLed → \{"led":true,"method":"setLed"\}/.test(await card.locator('.rpc-result.ok').textContent({ timeout: 500 })));
  await waitFor('the call listed as SUCCESSFUL', async () => (await card.locator('table.rpc tr[data-rpc="1"] td.state').textContent({ timeout: 500 })) === 'SUCCESSFUL');

  // No device takes RPC on demo-device-2: the page shows the timeout.
  const other = page.locator('article.device[data-device="demo-device-2"]');
  await other.locator('form.rpc-form input[name="method"]').fill('reboot');
  await other.locator('form.rpc-form input[name="timeout"]').fill('1');
  await other.locator('form.rpc-form button[type="submit"]').click();
  await waitFor('the timeout on the page', async () => /reboot: timeout, no reply from the device within 1000 ms/.test(await other.locator('.rpc-result.bad').textContent({ timeout: 500 })), 10000);
  assert.equal(await other.locator('table.rpc tr[data-rpc="1"] td.state').textContent(), 'TIMEOUT');

  // A shared attribute from the form reaches the device; delete sends {"deleted": [...]}.
  await card.locator('form.shared-form input[name="key"]').fill('targetTemperature');
  await card.locator('form.shared-form input[name="value"]').fill('22.5');
  await card.locator('form.shared-form button[type="submit"]').click();
  await waitFor('the shared attribute at the device', () => shared.length === 1);
  assert.deepEqual(shared[0], { targetTemperature: 22.5 });
  await waitFor('the shared attribute listed', async () => (await card.locator('table.shared tr[data-key="targetTemperature"] td.value').textContent({ timeout: 500 })) === '22.5');
  await card.locator('table.shared tr[data-key="targetTemperature"] button').click();
  await waitFor('the deletion at the device', () => shared.length === 2);
  assert.deepEqual(shared[1], { deleted: ['targetTemperature'] });

  // Client-side RPC from the device shows in the log.
  await device.publishAsync('v1/devices/me/rpc/request/1', JSON.stringify({ method: 'getCurrentTime', params: {} }), { qos: 1 });
  await waitFor('the client-side RPC listed', async () => (await card.locator('table.client-rpc tbody tr td.key').first().textContent({ timeout: 500 })) === 'getCurrentTime');

  // Item 10: values wrap at spaces and after commas only — never inside a number or a word.
  for (const [what, selector] of [['samples (a JSON array)', 'tr[data-key="samples"] td.value'], ['a 58-digit serial', 'table.attributes tr[data-key="serial"] td.value'], ['a sentence', 'table.attributes tr[data-key="note"] td.value']]) {
    const report = await wrapReport(page, `article.device[data-device="demo-device-1"] ${selector}`);
    const broken = report.words.filter((w) => w.lines !== 1);
    assert.deepEqual(broken, [], `${what}: words broken across lines`);
    if (what !== 'a 58-digit serial') assert.ok(report.lines > 1, `${what} wraps (${report.lines} lines): the check above is not vacuous`);
  }
  await card.screenshot({ path: shot('emulator-page-downlink') });
  assert.deepEqual(errors, []);
});

test('the emulator page shows the demo gateway with its sub-devices; a sub-device card\'s RPC form reaches the gateway as v1/gateway/rpc and shows the reply', { timeout: 120000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const emu = await startEmulator({ dataDir: tempDir(t, 'tb-emu-page-gw-'), ports: { mqtt: 0, mqtts: false, coap: false, coaps: false, web: 0 } });
  t.after(() => emu.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  t.after(() => context.close());
  const page = await context.newPage();
  const errors = pageErrors(page);
  await page.goto(emu.webUrl);
  await page.waitForSelector('#live.on');
  const gatewayCard = page.locator('article.device[data-device="demo-gateway"]');
  assert.match(await gatewayCard.locator('[data-role="sub-devices"]').textContent(), /gateway · 0 devices/);

  // A gateway client as Node-RED would be: connect a sub-device, take its RPC, reply.
  const client = mqtt.connect(`mqtt://127.0.0.1:${emu.ports.mqtt}`, { username: 'demo-gateway-token', reconnectPeriod: 0 });
  t.after(() => client.end(true));
  await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
  await client.subscribeAsync('v1/gateway/rpc', { qos: 1 });
  client.on('message', (topic, payload) => {
    const body = JSON.parse(payload.toString());
    if (topic === 'v1/gateway/rpc' && body.data) client.publish('v1/gateway/rpc', JSON.stringify({ device: body.device, id: body.data.id, data: { device: body.device, set: body.data.params } }), { qos: 1 });
  });
  await client.publishAsync('v1/gateway/connect', JSON.stringify({ device: 'pump-9', type: 'pump' }), { qos: 1 });
  await client.publishAsync('v1/gateway/telemetry', JSON.stringify({ 'pump-9': [{ ts: Date.now(), values: { rpm: 1450 } }] }), { qos: 1 });

  await waitFor('the gateway lists its sub-device', async () => /gateway · 1 devices: pump-9/.test(await gatewayCard.locator('[data-role="sub-devices"]').textContent({ timeout: 500 })));
  const sub = page.locator('article.device[data-device="pump-9"]');
  await waitFor('the sub-device reading', async () => (await sub.locator('tr[data-key="rpm"] td.value').textContent({ timeout: 500 })) === '1450');
  assert.match(await sub.locator('[data-role="gateway"]').textContent(), /sub-device of demo-gateway · profile pump/);
  await sub.locator('form.rpc-form input[name="method"]').fill('setSpeed');
  await sub.locator('form.rpc-form input[name="params"]').fill('1200');
  await sub.locator('form.rpc-form button[type="submit"]').click();
  await waitFor('the reply on the page', async () => /setSpeed → \{"device":"pump-9","set":1200\}/.test(await sub.locator('.rpc-result.ok').textContent({ timeout: 500 })));
  await page.screenshot({ path: shot('emulator-page-gateway'), fullPage: true });
  assert.ok(!(await page.content()).includes('demo-gateway-token'), 'no token on the page');
  assert.deepEqual(errors, []);
});

test('the emulator page sets the per-device rate limits it enforces; bad text is refused with the reason', { timeout: 120000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const emu = await startEmulator({ dataDir: tempDir(t, 'tb-emu-limits-'), ports: { mqtt: false, mqtts: false, coap: false, coaps: false, web: 0 } });
  t.after(() => emu.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  const page = await context.newPage();
  await page.goto(emu.webUrl);
  await page.waitForSelector('#live.on');
  assert.match(await page.locator('#limits-now').textContent(), /none in force/);

  await page.fill('#limits-text', '10:1,300:60');
  await page.click('#limits button[type=submit]');
  await waitFor('the limits in force', async () => /in force: .*10:1,300:60/.test(await page.locator('#limits-now').textContent()));
  assert.match(emu.store.rateLimitsText(), /10:1,300:60/);
  assert.deepEqual(emu.store.sessionLimitsAnswer().rateLimits.messages, '10:1,300:60');

  await page.fill('#limits-text', 'ten per second');
  await page.click('#limits button[type=submit]');
  await waitFor('the refusal', async () => page.locator('#limits-error').isVisible());
  assert.ok((await page.locator('#limits-error').textContent()).length > 10);
  assert.match(emu.store.rateLimitsText(), /10:1,300:60/, 'bad text changes nothing');
});
