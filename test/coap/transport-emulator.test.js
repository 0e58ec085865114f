'use strict';
// CoapTransport against the in-process ThingsBoard-like CoAP server (emulator/coap.js): result
// mapping, NON, several in flight, Block1, IPv6 / 'localhost', close() with requests out, and
// the token never in any text. Real datagrams on loopback; nothing is mocked.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { distinctText, assertSameText } = require('../support/bodies');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const {
  CoapTransport, TransportError, BLOCK_BYTES, TOKEN, fastTiming, timingForTest, settings, telemetry, attributes, pingOnlyServer,
  recordTexts, outcome, assertNoToken,
} = require('./common');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
const texts = []; // every error / warning / down text of every test: scanned for the token at the end
let store;
let emu;
let forced; // code the emulator answers instead of handling the request (test switch)

before(async () => {
  store = new DeviceStore({ devices: [{ name: 'dev', token: TOKEN }] });
  emu = await startCoapEmulator({ store, maxBodyBytes: 40000, override: () => forced });
});
after(async () => {
  await emu.close();
  assertNoToken(assert, texts);
});

// Every transport open() made is closed after the file too: a failing assertion must not leave a
// socket that keeps the test process from ending.
const opened = [];
after(() => Promise.all(opened.map((t) => t.close())));
async function open(overrides) {
  const t = new CoapTransport(settings(emu.port, overrides));
  opened.push(t);
  recordTexts(t, texts);
  await t.connect();
  return t;
}

test('2.01 resolves; telemetry and attributes arrive with the token as one path segment', { timeout: 60000 }, async () => {
  const t = await open();
  assert.equal(t.name, 'coap');
  assert.equal(t.maxInFlight, 4);
  await t.send(telemetry({ temperature: 25 }));
  await t.send(attributes({ firmware: '1.2.3' }));
  assert.equal(store.latest('dev').temperature.value, 25);
  assert.equal(store.devices.get('dev').attributes.firmware, '1.2.3');
  await t.close();
  await t.close(); // safe twice
});

test('error answers map to kinds that name the code; nothing leaks the token', { timeout: 60000 }, async (t) => {
  const tr = await open();
  const cases = [
    { code: '4.00', kind: 'rejected', text: /server rejected the payload \(4\.00 Bad Request\)/ },
    { code: '4.04', kind: 'rejected', text: /4\.04 Not Found/ },
    { code: '4.13', kind: 'rejected', text: /4\.13 Request Entity Too Large/ },
    { code: '4.29', kind: 'rejected', text: /4\.29 Too Many Requests/ },
    { code: '5.00', kind: 'rejected', text: /5\.00 Internal Server Error/ },
    { code: '5.03', kind: 'rejected', text: /5\.03 Service Unavailable/ },
    // As the MQTT text does: say where to copy the token from.
    { code: '4.01', kind: 'unauthorized', text: /^unauthorized: ThingsBoard refused the access token \(CoAP 4\.01 Unauthorized\)\. Check the access token .*copy it again from the device in ThingsBoard \(Manage credentials\)\.$/ },
  ];
  for (const c of cases) {
    await t.test(c.code, async () => {
      forced = c.code;
      const r = await outcome(tr.send(telemetry({ x: 1 })), texts);
      forced = undefined;
      assert.equal(r.ok, false);
      assert.ok(r.err instanceof TransportError);
      assert.equal(r.err.kind, c.kind);
      assert.equal(r.err.code, `COAP_${c.code}`);
      assert.match(r.err.message, c.text);
    });
  }
  // 2.xx other than 2.01 (older ThingsBoard answered 2.03) is success too.
  forced = '2.03';
  await tr.send(telemetry({ x: 2 }));
  forced = undefined;
  await tr.close();
});

test('the emulator itself: unknown token 4.01 (at connect, and on a message once the token is gone), bad JSON 4.00 (with its reason), too large 4.13', { timeout: 60000 }, async () => {
  const good = await open();
  // The token check at connect: refused before any message is sent.
  const refused = await outcome(open({ accessToken: 'not-a-device-token' }), texts);
  assert.equal(refused.err.kind, 'unauthorized');
  assert.equal(refused.err.code, 'COAP_4.01');
  // A token deleted on the server after connect: the message itself is refused.
  store.addDevice('doomed', 'doomed-device-token');
  const bad = await open({ accessToken: 'doomed-device-token' });
  store.byToken.delete('doomed-device-token');
  const r1 = await outcome(bad.send(telemetry({ a: 1 })), texts);
  assert.equal(r1.err.kind, 'unauthorized');
  const r2 = await outcome(good.send({ kind: 'telemetry', body: Buffer.from('{temperature:25'), qos: 1 }), texts);
  assert.equal(r2.err.kind, 'rejected');
  assert.match(r2.err.message, /4\.00 .*not valid JSON/);
  const r3 = await outcome(good.send(telemetry({ big: 'z'.repeat(45000) })), texts);
  assert.equal(r3.err.code, 'COAP_4.13');
  await Promise.all([good.close(), bad.close()]);
});

test('NON: resolves once written and still arrives', { timeout: 60000 }, async () => {
  const t = await open({ coap: { confirmable: false } });
  await t.send(telemetry({ non: 1 }));
  await t.send(telemetry({ non: 2 }));
  await waitFor(() => store.latest('dev').non?.value === 2);
  await t.close();
});

test('NON: a late 4.01 is not silent (down: unauthorized)', { timeout: 60000 }, async (tc) => {
  // A NON message listens for an error answer for one ACK_TIMEOUT span (× the random factor):
  // 1.5 s here, not 0.15 s, so that a CPU pause cannot make the answer "late".
  timingForTest(tc, 1);
  store.addDevice('revoked', 'revoked-device-token');
  const t = new CoapTransport(settings(emu.port, { accessToken: 'revoked-device-token', coap: { confirmable: false } }));
  recordTexts(t, texts);
  await t.connect();
  store.byToken.delete('revoked-device-token'); // revoked after the token check at connect
  const down = new Promise((resolve) => t.once('down', resolve));
  await t.send(telemetry({ a: 1 })); // resolves when written
  const err = await down;
  assert.equal(err.kind, 'unauthorized');
  await t.close();
});

test('several in flight at once over one socket, all delivered', { timeout: 60000 }, async () => {
  const t = await open({ coap: { maxInFlight: 8 } });
  assert.equal(t.maxInFlight, 8);
  const before = store.devices.get('dev').messages;
  await Promise.all(Array.from({ length: 8 }, (_, i) => t.send(telemetry({ seq: i }))));
  assert.equal(store.devices.get('dev').messages - before, 8);
  await t.close();
});

test('Block1: bodies larger than one datagram go block-wise (also in NON mode)', { timeout: 60000 }, async () => {
  for (const confirmable of [true, false]) {
    const t = await open({ coap: { confirmable } });
    const body = { big: distinctText(30000, `${confirmable ? 'c' : 'n'}`) }; // different in every block
    assert.ok(JSON.stringify(body).length > 20 * BLOCK_BYTES);
    await t.send(telemetry(body));
    assertSameText(assert, store.latest('dev').big.value, body.big, `confirmable ${confirmable}`, BLOCK_BYTES);
    await t.close();
  }
});

test('IPv6 ::1 and the name localhost', { timeout: 60000 }, async () => {
  const emu6 = await startCoapEmulator({ store, host: '::1' });
  try {
    for (const host of ['::1', '[::1]']) {
      const t = new CoapTransport(settings(emu6.port, { host }));
      await t.connect();
      await t.send(telemetry({ v6: host }));
      assert.equal(store.latest('dev').v6.value, host);
      await t.close();
    }
  } finally {
    await emu6.close();
  }
  const t = await open({ host: 'localhost' });
  await t.send(telemetry({ viaName: 'localhost' }));
  assert.equal(store.latest('dev').viaName.value, 'localhost');
  await t.close();
});

test('an unknown host name fails connect() with unreachable', { timeout: 60000 }, async () => {
  const t = new CoapTransport(settings(emu.port, { host: 'no-such-host.invalid' }));
  const r = await outcome(t.connect(), texts);
  assert.equal(r.err.kind, 'unreachable');
  assert.match(r.err.message, /cannot resolve host no-such-host\.invalid/);
});

test('close() with requests outstanding rejects them with closed, and leaves no socket open', { timeout: 60000 }, async () => {
  // A server that answers the connect ping but no request: they stay outstanding until close().
  const silent = await pingOnlyServer();
  const udpBefore = countResources('UDPWrap');
  const t = new CoapTransport(settings(silent.port));
  recordTexts(t, texts);
  await t.connect();
  assert.equal(countResources('UDPWrap'), udpBefore + 1);
  const pending = [1, 2, 3].map((i) => outcome(t.send(telemetry({ i })), texts));
  await waitFor(() => silent.arrivals.length >= 3);
  await t.close();
  for (const r of await Promise.all(pending)) {
    assert.equal(r.ok, false);
    assert.equal(r.err.kind, 'closed');
  }
  // libuv releases a closed handle on its next turn; it must go without any further action.
  await waitFor(() => countResources('UDPWrap') === udpBefore);
  const after = await outcome(t.send(telemetry({ late: 1 })), texts);
  assert.equal(after.err.kind, 'closed');
  await silent.close();
});

test('connect() after close() works again (redeploy reuses nothing stale)', { timeout: 60000 }, async () => {
  const t = await open();
  await t.close();
  await t.connect();
  await t.send(telemetry({ again: 1 }));
  await t.close();
});

function countResources(name) {
  return process.getActiveResourcesInfo().filter((r) => r === name).length;
}

async function waitFor(check, ms = 3000) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
