'use strict';
// The emulator's CoAP downlink as ThingsBoard's CoapTransportResource answers it, with the
// `coap` package's client as the device: Observe on /attributes (first response = the shared
// attributes now, then a notification per change) and /rpc (2.03, then one notification per
// command), the reply POSTed to /rpc/{id}, attribute GET with clientKeys/sharedKeys (4.04 when
// empty), client-side RPC POST /rpc answered by the rules, Observe 1 deregisters. CoAPS: the
// same through the socat DTLS front, with libcoap's coap-client-openssl as the device.
const test = require('node:test');
const assert = require('node:assert/strict');
const coap = require('coap');
const { spawn } = require('node:child_process');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { startEmulator } = require('../../emulator/index');
const { requirePeer } = require('../support/peers');
const { waitFor } = require('../support/wait');

const TOKEN = 'dl-coap-token-7';
// coap.request() uses the library's global Agent, whose UDP socket stays open (and keeps the test
// process alive) until the Agent is closed.
test.after(() => new Promise((resolve) => coap.globalAgent.close(() => resolve())));

function request(port, opts, body) {
  return new Promise((resolve, reject) => {
    const req = coap.request({ hostname: '127.0.0.1', port, confirmable: true, ...opts });
    req.on('response', resolve);
    req.on('error', reject);
    req.end(body);
  });
}

/** An observation: the first response, then every later notification's parsed body. */
async function observe(t, port, resource) {
  const res = await request(port, { method: 'GET', pathname: `/api/v1/${TOKEN}/${resource}`, observe: true });
  const first = { code: res.code, body: res.payload.toString() };
  const notes = [];
  let skippedFirst = false;
  // The client's stream repeats the first response as its first 'data'.
  res.on('data', (d) => {
    if (!skippedFirst) { skippedFirst = true; return; }
    notes.push(JSON.parse(d.toString()));
  });
  t.after(() => res.close());
  return { first, notes, res };
}

async function setup(t) {
  const store = new DeviceStore({ devices: [{ name: 'valve', token: TOKEN }] });
  const emu = await startCoapEmulator({ store });
  t.after(() => emu.close());
  t.after(() => store.closeDownlink());
  return { store, emu };
}

test('CoAP: observe attributes — the current shared attributes first, then each change and deletion', async (t) => {
  const { store, emu } = await setup(t);
  store.setShared('valve', { opening: 40 });
  const obs = await observe(t, emu.port, 'attributes');
  assert.equal(obs.first.code, '2.05');
  assert.deepEqual(JSON.parse(obs.first.body), { opening: 40 });
  store.setShared('valve', { opening: 55, mode: 'auto' });
  store.deleteShared('valve', 'mode');
  await waitFor(() => obs.notes.length === 2, 'two notifications');
  assert.deepEqual(obs.notes, [{ opening: 55, mode: 'auto' }, { deleted: ['mode'] }]);
  assert.equal(store.devices.get('valve').sessions.size, 1);
});

test('CoAP: observe rpc — 2.03, a command per notification, the reply POSTed to rpc/{id}', async (t) => {
  const { store, emu } = await setup(t);
  const obs = await observe(t, emu.port, 'rpc');
  assert.equal(obs.first.code, '2.03');
  assert.equal(obs.first.body, '');
  const { done } = store.sendRpc('valve', { method: 'setOpening', params: { value: 70 }, timeout: 3000 });
  await waitFor(() => obs.notes.length === 1, 'the RPC notification');
  assert.deepEqual(obs.notes[0], { id: 1, method: 'setOpening', params: { value: 70 } });
  // ThingsBoard's CoAP transport reports DELIVERED as soon as the notification went out.
  assert.equal(store.devices.get('valve').rpc[0].state, 'DELIVERED');
  const reply = await request(emu.port, { method: 'POST', pathname: `/api/v1/${TOKEN}/rpc/1` }, '{"opening":70}');
  assert.equal(reply.code, '2.01');
  const final = await done;
  assert.equal(final.state, 'SUCCESSFUL');
  assert.deepEqual(final.reply, { opening: 70 });
  // A second command is a second notification on the same observation; unanswered → TIMEOUT.
  const second = store.sendRpc('valve', { method: 'noop', timeout: 300 });
  await waitFor(() => obs.notes.length === 2, 'the second RPC notification');
  assert.equal((await second.done).state, 'TIMEOUT');
});

test('CoAP: Observe 1 deregisters; a shared change then reaches no observer', async (t) => {
  const { store, emu } = await setup(t);
  const obs = await observe(t, emu.port, 'attributes');
  const token = obs.res._packet ? obs.res._packet.token : null;
  assert.equal(store.devices.get('valve').sessions.size, 1);
  // Deregistration: the same CoAP token with Observe 1 (RFC 7641 3.6).
  const dereg = await new Promise((resolve, reject) => {
    const req = coap.request({ hostname: '127.0.0.1', port: emu.port, method: 'GET', pathname: `/api/v1/${TOKEN}/attributes`, confirmable: true, token: token || undefined, agent: obs.res._agent || undefined });
    req.setOption('Observe', 1);
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
  assert.equal(dereg.code, '2.02');
  await waitFor(() => store.devices.get('valve').sessions.size === 0, 'the observation to end');
  store.setShared('valve', { after: true });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(obs.notes, []);
});

test('CoAP: attribute GET with clientKeys/sharedKeys; 4.04 when nothing matches; 4.01 for a bad token', async (t) => {
  const { store, emu } = await setup(t);
  store.accept(TOKEN, 'attributes', '{"firmware":"3.1","serial":"A-77"}', 'coap');
  store.setShared('valve', { interval: 10 });
  const get = (query) => request(emu.port, { method: 'GET', pathname: `/api/v1/${TOKEN}/attributes`, query });
  let res = await get('clientKeys=firmware,nope&sharedKeys=interval');
  assert.equal(res.code, '2.05');
  assert.deepEqual(JSON.parse(res.payload), { client: { firmware: '3.1' }, shared: { interval: 10 } });
  res = await get('sharedKeys=interval');
  assert.deepEqual(JSON.parse(res.payload), { shared: { interval: 10 } });
  res = await get('');
  assert.deepEqual(JSON.parse(res.payload), { client: { firmware: '3.1', serial: 'A-77' }, shared: { interval: 10 } });
  assert.equal((await get('clientKeys=nothing')).code, '4.04');
  assert.equal((await request(emu.port, { method: 'GET', pathname: '/api/v1/not-a-token/attributes' })).code, '4.01');
  assert.equal((await request(emu.port, { method: 'GET', pathname: '/api/v1/not-a-token/rpc', observe: true })).code, '4.01');
});

test('CoAP: client-side RPC POST /rpc answered by the rules; bad JSON → 4.00', async (t) => {
  const { store, emu } = await setup(t);
  const call = async (body) => request(emu.port, { method: 'POST', pathname: `/api/v1/${TOKEN}/rpc` }, body);
  const before = Date.now();
  let res = await call('{"method":"getCurrentTime","params":{}}');
  assert.equal(res.code, '2.05');
  const { time } = JSON.parse(res.payload);
  assert.ok(time >= before && time <= Date.now());
  res = await call('{"method":"whatever","params":{"a":[1,2]}}');
  assert.deepEqual(JSON.parse(res.payload), { a: [1, 2] });
  assert.equal((await call('{"method":')).code, '4.00');
  assert.deepEqual(store.devices.get('valve').clientRpc.map((c) => c.rule), ['getCurrentTime', 'echo']);
});

/** coap-client-openssl, asynchronously (the emulator answering it runs in this process). */
function coapClient(args, { waitMs } = {}) {
  return new Promise((resolve) => {
    const child = spawn('coap-client-openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { out += c; });
    const timer = setTimeout(() => child.kill('SIGTERM'), waitMs || 20000);
    child.on('exit', () => { clearTimeout(timer); resolve(out); });
    resolve.child = child;
  });
}

test('CoAPS (socat front, coap-client-openssl): observe notifications, attribute GET and client-side RPC', { timeout: 90000 }, async (t) => {
  if (!requirePeer(t, 'socat') || !requirePeer(t, 'coap-client-openssl')) return;
  const dir = require('node:fs').mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'tb-coaps-dl-'));
  t.after(() => require('node:fs').rmSync(dir, { recursive: true, force: true }));
  const emu = await startEmulator({ dataDir: dir, ports: { mqtt: false, mqtts: false, coap: false, coaps: 0, web: false } });
  t.after(() => emu.close());
  assert.ok(emu.ports.coaps > 0, emu.notes.join('; '));
  const base = `coaps://127.0.0.1:${emu.ports.coaps}/api/v1/demo-token-2`;
  emu.store.setShared('demo-device-2', { interval: 7 });

  // -s 6: observe for 6 s; the client prints the first response and every notification.
  const observing = coapClient(['-R', emu.caFile, '-s', '6', '-m', 'get', `${base}/attributes`], { waitMs: 15000 });
  await waitFor(() => emu.store.devices.get('demo-device-2').sessions.size === 1, 'the CoAPS observation', 10000);
  assert.deepEqual([...emu.store.devices.get('demo-device-2').sessions].map((s) => s.transport), ['coaps']);
  emu.store.setShared('demo-device-2', { interval: 9 });
  const printed = await observing;
  assert.match(printed, /\{"interval":7\}/);
  assert.match(printed, /\{"interval":9\}/);

  const answer = await coapClient(['-R', emu.caFile, '-m', 'get', `${base}/attributes?sharedKeys=interval`]);
  assert.match(answer, /\{"shared":\{"interval":9\}\}/);
  const echoed = await coapClient(['-R', emu.caFile, '-m', 'post', '-t', 'json', '-e', '{"method":"echoMe","params":{"x":5}}', `${base}/rpc`]);
  assert.match(echoed, /\{"x":5\}/);
  assert.equal(emu.store.devices.get('demo-device-2').clientRpc[0].transport, 'coaps');
});
