'use strict';
// CoapTransport against libcoap's coap-server-notls (Debian libcoap3-bin), and the emulator
// against libcoap's client (the seed's own command). A later GET with coap-client-notls returns
// what the server stored: that proves delivery, byte for byte, independently of our code.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { requirePeer, havePeer } = require('../support/peers');
const { startCoapServer, coapGet, coapClient } = require('../support/libcoap');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { distinctText, assertSameText } = require('../support/bodies');
const { CoapTransport, BLOCK_BYTES, fastTiming, settings, telemetry, attributes, outcome } = require('./common');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
// libcoap's command-line tools take the token inside a URI: use a plain one here.
const TOKEN = 'A1b2C3d4E5f6G7h8';
let server;

before(async () => {
  if (havePeer('coap-server-notls')) server = await startCoapServer();
});
after(async () => {
  if (server) await server.stop();
});

test('POST telemetry and attributes to coap-server-notls; GET returns the same bytes', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const tr = new CoapTransport(settings(server.port, { accessToken: TOKEN }));
  await tr.connect();
  await tr.send(telemetry({ temperature: 25 }));
  await tr.send(attributes({ model: 'X1' }));
  assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`), '{"temperature":25}');
  assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/attributes`), '{"model":"X1"}');
  // A second POST to an existing resource is answered 2.04 Changed: also success.
  await tr.send(telemetry({ temperature: 26 }));
  assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`), '{"temperature":26}');
  await tr.close();
});

test('Block1: 20 KB and 100 KB bodies arrive whole at coap-server-notls', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const tr = new CoapTransport(settings(server.port, { accessToken: TOKEN }));
  await tr.connect();
  for (const size of [BLOCK_BYTES + 1, 20000, 100000]) {
    // Different in every block: a block sent twice or in the wrong place changes the bytes.
    const body = JSON.stringify({ blob: distinctText(size) });
    await tr.send({ kind: 'telemetry', body: Buffer.from(body), qos: 1 });
    const got = await coapGet(server.port, `api/v1/${TOKEN}/telemetry`);
    assertSameText(assert, got, body, `size ${size}`, BLOCK_BYTES);
  }
  await tr.close();
});

test('NON and several in flight to coap-server-notls', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const tr = new CoapTransport(settings(server.port, { accessToken: TOKEN, coap: { confirmable: false } }));
  await tr.connect();
  await tr.send(telemetry({ non: true }));
  let got = '';
  for (let i = 0; i < 50 && got !== '{"non":true}'; i++) {
    got = await coapGet(server.port, `api/v1/${TOKEN}/telemetry`);
  }
  assert.equal(got, '{"non":true}');
  await tr.close();

  const con = new CoapTransport(settings(server.port, { accessToken: TOKEN }));
  await con.connect();
  const kinds = ['telemetry', 'attributes', 'telemetry', 'attributes'];
  const results = await Promise.all(kinds.map((kind, i) => outcome(con.send({ kind, body: Buffer.from(`{"i":${i}}`), qos: 1 }))));
  assert.deepEqual(results.map((r) => r.ok), [true, true, true, true]);
  await con.close();
});

test("the seed's command works against the emulator: coap-client-notls -m POST ... -t json", { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-client-notls')) return;
  const store = new DeviceStore({ devices: [{ name: 'seed', token: TOKEN }] });
  const emu = await startCoapEmulator({ store });
  try {
    const uri = (token) => `coap://127.0.0.1:${emu.port}/api/v1/${token}/telemetry`;
    const ok = await coapClient(['-m', 'POST', uri(TOKEN), '-t', 'json', '-e', '{"temperature":25}']);
    assert.equal(ok.stderr.trim(), '');
    assert.equal(store.latest('seed').temperature.value, 25);
    const unknown = await coapClient(['-m', 'POST', uri('nope'), '-t', 'json', '-e', '{"temperature":25}']);
    assert.match(unknown.stdout + unknown.stderr, /4\.01/);
    const wrongPath = await coapClient(['-m', 'POST', `coap://127.0.0.1:${emu.port}/api/v1/${TOKEN}/nothing`, '-t', 'json', '-e', '{}']);
    assert.match(wrongPath.stdout + wrongPath.stderr, /4\.04/);
  } finally {
    await emu.close();
  }
});
