'use strict';
// The emulator's page and its event stream serve what the store holds, live, and never a token.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { DeviceStore } = require('../../emulator/store');
const { startWebServer } = require('../../emulator/web/server');
const { startEmulator } = require('../../emulator/index');

const TOKENS = ['web-test-token-A1', 'web-test-token-B2'];

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
    }).on('error', reject);
  });
}

/** Reads SSE events from /events until `until(events)` is true; returns them and the raw text. */
function readEvents(url, until) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      let raw = '';
      const events = [];
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        raw += chunk;
        events.length = 0;
        for (const block of raw.split('\n\n')) {
          const event = /^event: (.*)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (event && data) events.push({ event: event[1], data: JSON.parse(data[1]) });
        }
        if (until(events)) {
          req.destroy();
          resolve({ events: [...events], raw, headers: res.headers });
        }
      });
    });
    req.on('error', (err) => { if (err.code !== 'ECONNRESET') reject(err); });
  });
}

test('the page, /api/state and /events show the store, live, without tokens', { timeout: 60000 }, async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'boiler', token: TOKENS[0] }, { name: 'pump', token: TOKENS[1] }] });
  const web = await startWebServer({ store, info: () => ({ endpoints: [{ name: 'mqtt', label: 'MQTT', host: '127.0.0.1', port: 1883 }], caFile: '/x/ca.pem' }) });
  t.after(() => web.close());

  store.accept(TOKENS[0], 'telemetry', '{"temperature": 21.5, "on": true}', 'mqtt');
  store.accept(TOKENS[0], 'telemetry', '[{"ts": 1700000000000, "values": {"temperature": 22}}]', 'coap');
  store.accept(TOKENS[1], 'attributes', '{"firmware": "1.2.3"}', 'mqtt');
  store.accept(TOKENS[1], 'telemetry', '{"broken', 'coap');
  store.accept('not-a-known-token', 'telemetry', '{"a":1}', 'coap');
  // A front end that carelessly puts a token into a reason must still not leak it.
  store.reject('mqtt', 'bad-request', `something about ${TOKENS[1]}`);

  const page = await get(web.url);
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.body, /<script src="app.js">/);
  for (const file of ['app.js', 'style.css']) {
    const res = await get(web.url + file);
    assert.equal(res.status, 200, file);
  }
  assert.equal((await get(web.url + 'nope')).status, 404);

  const state = await get(web.url + 'api/state');
  const s = JSON.parse(state.body);
  const boiler = s.devices.find((d) => d.name === 'boiler');
  assert.deepEqual(boiler.telemetry.temperature.map((p) => p.value), [21.5, 22]);
  assert.equal(boiler.telemetry.temperature[1].ts, 1700000000000);
  assert.equal(boiler.telemetry.on[0].value, true);
  assert.deepEqual(s.devices.find((d) => d.name === 'pump').attributes, { firmware: '1.2.3' });
  assert.equal(s.info.caFile, '/x/ca.pem');
  const reasons = s.rejected.map((r) => `${r.transport} ${r.status} ${r.reason}`);
  assert.equal(reasons.length, 3);
  assert.match(reasons[0], /^coap bad-request pump: telemetry is not valid JSON/);
  assert.match(reasons[1], /^coap unauthorized unknown access token/);
  assert.equal(reasons[2], 'mqtt bad-request something about ***');

  // The stream starts with the whole state, then forwards each new reading as it is stored.
  const stream = readEvents(web.url + 'events', (events) => events.some((e) => e.event === 'telemetry'));
  await new Promise((r) => setTimeout(r, 100));
  store.accept(TOKENS[1], 'telemetry', '{"pressure": 1.8}', 'mqtts');
  const { events, raw, headers } = await stream;
  assert.match(headers['content-type'], /text\/event-stream/);
  assert.equal(events[0].event, 'state');
  assert.equal(events[0].data.devices.length, 2);
  const live = events.find((e) => e.event === 'telemetry').data;
  assert.equal(live.device, 'pump');
  assert.equal(live.transport, 'mqtts');
  assert.deepEqual(live.entries[0].values, { pressure: 1.8 });

  for (const text of [page.body, state.body, raw]) {
    for (const token of TOKENS) assert.ok(!text.includes(token), 'a token reached the page');
  }
});

test('close() ends open event streams and frees the port', { timeout: 60000 }, async () => {
  const store = new DeviceStore({ devices: [{ name: 'd', token: TOKENS[0] }] });
  const web = await startWebServer({ store });
  const ended = new Promise((resolve) => {
    http.get(web.url + 'events', (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('close', resolve);
    });
  });
  await new Promise((r) => setTimeout(r, 100));
  await web.close();
  await ended;
  assert.equal(store.listenerCount('telemetry'), 0);
  await new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject).listen(web.port, '127.0.0.1', () => srv.close(resolve));
  });
});

test('startEmulator moves off a busy port, says so, and the page lists the endpoints', { timeout: 60000 }, async (t) => {
  const blocker = net.createServer();
  await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
  const busy = blocker.address().port;
  t.after(() => new Promise((r) => blocker.close(r)));

  const emu = await startEmulator({ ports: { mqtt: busy, mqtts: false, coap: 0, coaps: false, web: 0 } });
  t.after(() => emu.close());
  assert.notEqual(emu.ports.mqtt, busy);
  assert.ok(emu.ports.mqtt > 0 && emu.ports.coap > 0 && emu.ports.web > 0);
  assert.ok(emu.notes.some((n) => n.includes(`MQTT port ${busy} is busy: using ${emu.ports.mqtt}`)), emu.notes.join('; '));
  const s = JSON.parse((await get(emu.webUrl + 'api/state')).body);
  assert.deepEqual(s.info.endpoints.filter((e) => e.port).map((e) => [e.name, e.port]), [['mqtt', emu.ports.mqtt], ['coap', emu.ports.coap]]);
  assert.deepEqual(s.devices.map((d) => d.name), ['demo-device-1', 'demo-device-2', 'demo-device-3', 'demo-device-4', 'demo-basic-device', 'demo-gateway']);
  assert.deepEqual(s.devices.map((d) => d.credentialsType), ['ACCESS_TOKEN', 'ACCESS_TOKEN', 'ACCESS_TOKEN', 'ACCESS_TOKEN', 'MQTT_BASIC', 'ACCESS_TOKEN']);
  assert.equal(s.devices[5].gateway, true, 'the demo gateway is marked as one');
  assert.ok(!JSON.stringify(s).includes('demo-token'));
  assert.ok(!JSON.stringify(s).includes('demo-basic-password'));
});
