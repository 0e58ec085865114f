'use strict';
// The emulator's page in a real browser: it shows what the devices received, updates live over
// Server-Sent Events (a reading sent over real MQTT and CoAP appears without a reload), lists
// rejected requests with their reason, and shows no token. Light and dark screenshots.
const test = require('node:test');
const assert = require('node:assert/strict');
const mqtt = require('mqtt');
const coap = require('coap');
const { startEmulator } = require('../../emulator/index');
const { launchBrowser, shot, tempDir, waitFor } = require('./support');

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
  const browser = await launchBrowser(t);
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
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
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
