'use strict';
// thingsboard-out over a CoAP thingsboard-device config node in Node-RED (node-red-node-test-
// helper): delivery to libcoap's coap-server-notls (proved by a GET), done() → Complete,
// done(err) → Catch for 4.01 / 4.00 / no server, the status texts, and no token in any text.
const test = require('node:test');
const assert = require('node:assert/strict');
const { requirePeer, havePeer } = require('../support/peers');
const { distinctText, assertSameText } = require('../support/bodies');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { freeUdpPort } = require('../support/ports');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { lastStatus } = require('../nodes/common');
const { waitFor } = require('../support/wait');
const { helper, nodeModules } = require('../support/node-red');
const { fastTiming } = require('./common');

fastTiming(0.5); // RFC 7252 timing scaled down 4× (a lost message would give up after ~23 s); nothing here waits for one
const TOKEN = 'NrCoapTok3n9x';
const caught = [];
let server;
let emu;
let store;

test.before(async () => {
  store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }] });
  // A body holding "refuse" is answered 4.00, as ThingsBoard answers a payload it cannot parse.
  emu = await startCoapEmulator({ store, override: ({ body }) => (body.includes('refuse') ? '4.00' : undefined) });
  if (havePeer('coap-server-notls')) server = await startCoapServer();
});

test.after(async () => {
  await emu.close();
  if (server) await server.stop();
});

test.afterEach(async () => {
  // Every text the nodes produced: log lines, statuses, done(err) messages.
  const texts = [JSON.stringify(helper.log().args), JSON.stringify(helper._NodePrototype.status.args), ...caught.splice(0)];
  for (const token of [TOKEN, 'WRONG_coap_tok']) {
    for (const text of texts) assert.ok(!text.includes(token), `token leaked: ${text.slice(0, 300)}`);
  }
  await helper.unload();
});

const at = { x: 100, y: 100 }; // flow nodes need x/y, or the runtime takes them for config nodes
/** A CoAP config node, out nodes `out1` (telemetry) and `attr`, one Complete and one Catch. */
function flow(port, devOverrides = {}) {
  const outs = [['out1', 'telemetry'], ['attr', 'attributes']];
  return [
    { id: 'tab', type: 'tab', label: 'coap' },
    {
      id: 'dev', type: 'thingsboard-device', name: 'coap device', host: '127.0.0.1', port: String(port), transport: 'coap',
      verifyServer: true, serverName: '', maxPayloadBytes: '65536', queueSize: '100', confirmable: true, maxInFlight: '4', ...devOverrides,
    },
    ...outs.map(([id, kind]) => ({ id, type: 'thingsboard-out', z: 'tab', ...at, name: id, device: 'dev', kind, qos: '1', key: '', wires: [] })),
    { id: 'done-ok', type: 'complete', z: 'tab', ...at, scope: outs.map(([id]) => id), uncaught: false, wires: [['ok']] },
    { id: 'done-err', type: 'catch', z: 'tab', ...at, scope: outs.map(([id]) => id), uncaught: false, wires: [['err']] },
    { id: 'ok', type: 'helper', z: 'tab', ...at, wires: [] },
    { id: 'err', type: 'helper', z: 'tab', ...at, wires: [] },
  ];
}
const creds = (token = TOKEN) => ({ dev: { accessToken: token } });
const allModules = () => nodeModules();

/** send(msg) into out node `id` → Promise<{ok: true} | {ok: false, error}> from Complete / Catch. */
let seq = 0;
function probe(id) {
  return {
    send(msg) {
      const key = `m${seq++}`;
      return new Promise((resolve) => {
        const onOk = (m) => { if (m.probe === key) { off(); resolve({ ok: true, count: 1 }); } };
        const onErr = (m) => { if (m.probe === key) { off(); resolve({ ok: false, error: m.error && m.error.message }); } };
        const off = () => { helper.getNode('ok').off('input', onOk); helper.getNode('err').off('input', onErr); };
        helper.getNode('ok').on('input', onOk);
        helper.getNode('err').on('input', onErr);
        helper.getNode(id).receive({ ...msg, probe: key });
      });
    },
  };
}

async function connected(id) {
  await waitFor(() => /connected/.test(JSON.stringify(lastStatus(id) || {})), `${id} connected`);
}

test('delivers telemetry and attributes to coap-server-notls; done() reaches Complete', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  await helper.load(allModules(), flow(server.port), creds());
  await connected('out1');
  const out = probe('out1');
  const attr = probe('attr');
  assert.deepEqual(await out.send({ payload: { temperature: 25 } }), { ok: true, count: 1 });
  assert.deepEqual(JSON.parse(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`)), { temperature: 25 });
  assert.deepEqual(await attr.send({ payload: { fw: '2.0' } }), { ok: true, count: 1 });
  assert.deepEqual(JSON.parse(await coapGet(server.port, `api/v1/${TOKEN}/attributes`)), { fw: '2.0' });
  // A large value goes block-wise, transparently.
  const big = distinctText(10000); // different in every block
  assert.equal((await out.send({ payload: { big } })).ok, true);
  assertSameText(assert, JSON.parse(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`)).big, big, '10 KB value');
});

test('several messages at once, NON mode: all end in Complete and arrive', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(emu.port, { confirmable: false }), creds());
  await connected('out1');
  const out = probe('out1');
  const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => out.send({ payload: { n } })));
  assert.ok(results.every((r) => r.ok));
  await waitFor(() => store.devices.get('dev1').telemetry.get('n')?.length >= 6, 'all six stored');
});

test('unknown token → Catch with "unauthorized", where to copy the token from; status says so', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(emu.port), creds('WRONG_coap_tok'));
  // The token check at connect: the status says so before any message is sent.
  await waitFor(() => /unauthori/i.test(JSON.stringify(lastStatus('out1') || {})), 'unauthorized status before any message');
  const out = probe('out1');
  const r = await out.send({ payload: { a: 1 } });
  assert.equal(r.ok, false);
  assert.match(r.error, /unauthorized: ThingsBoard refused the access token .*copy it again from the device in ThingsBoard/);
  caught.push(r.error);
});

test('a refused message: Catch names 4.00, the status shows it until the next message is delivered', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(emu.port), creds());
  await connected('out1');
  const out = probe('out1');
  const refused = await out.send({ payload: { note: 'refuse' } });
  assert.equal(refused.ok, false);
  assert.match(refused.error, /4\.00/);
  caught.push(refused.error);
  await waitFor(() => /status\.lastFailed/.test((lastStatus('out1') || {}).text || ''), 'last failure in the status');
  assert.equal(lastStatus('out1').fill, 'yellow');
  assert.equal((await out.send({ payload: { a: 1 } })).ok, true);
  await waitFor(() => /:status\.connected$/.test((lastStatus('out1') || {}).text || ''), 'plain connected again');
  assert.equal(lastStatus('out1').fill, 'green');
});

test('no server listening: never "connected"; reconnecting within seconds, the message waits and arrives later', { timeout: 60000 }, async () => {
  const port = await freeUdpPort();
  await helper.load(allModules(), flow(port), creds());
  const started = Date.now();
  await waitFor(() => /status\.reconnecting/.test((lastStatus('out1') || {}).text || ''), 'reconnecting status', 3000);
  assert.ok(Date.now() - started < 3000);
  const out = probe('out1');
  const pending = out.send({ payload: { waited: 1 } });
  await waitFor(() => /queued/.test((lastStatus('out1') || {}).text || ''), 'queued in the status', 3000);
  // Wait through at least one more failed attempt: no attempt ever shows "connected".
  await new Promise((r) => setTimeout(r, 1500));
  const beforeServer = helper._NodePrototype.status.args.length;
  // The server appears: the next reconnect's ping is answered, the queued reading is delivered.
  const late = await startCoapEmulator({ store, port });
  try {
    const r = await pending;
    assert.equal(r.ok, true, r.error);
    assert.equal(store.latest('dev1').waited.value, 1);
  } finally {
    await late.close();
  }
  const shown = helper._NodePrototype.status.args.map((a) => a[0].text || '');
  const isConnected = (text) => /status\.connected(?![A-Za-z])/.test(text);
  assert.deepEqual(shown.slice(0, beforeServer).filter(isConnected), [], `connected shown with no server: ${shown.join(' | ')}`);
  assert.ok(shown.slice(beforeServer).some(isConnected), 'connected once the server answered');
});
