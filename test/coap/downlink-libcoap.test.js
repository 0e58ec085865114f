'use strict';
// The CoAP receive side against libcoap's coap-server-notls (a real RFC 7641 implementation):
// with -d its resources are created by a PUT and are observable, so a PUT from the test (with
// libcoap's own client) is a notification. Proves: notifications arrive; one RPC id is delivered
// once although the server repeats it (first responses of renewals carry the current content);
// periodic re-registration shows in the server's log; after a server restart the observation is
// renewed (the server forgot it silently) and after the transport went down and reconnected,
// subscribe() works again; replies land on rpc/{id}; attribute requests; no token in any text.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { requirePeer, havePeer } = require('../support/peers');
const { startCoapServer, coapClient, coapGet } = require('../support/libcoap');
const { waitFor } = require('../support/wait');
const { assertNoSecrets } = require('../support/scan');
const { CoapTransport, fastTiming, settings, telemetry, recordTexts, outcome } = require('./common');
const { RpcBook } = require('../../nodes/lib/device/rpc-book');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
// libcoap's client takes the token inside a URI: a plain one.
const TOKEN = 'DownL1nkTok3nXy';
let server;

before(async () => {
  if (havePeer('coap-server-notls')) server = await startCoapServer();
});
after(async () => {
  if (server) await server.stop();
});

const uri = (port, ...rest) => `coap://127.0.0.1:${port}/api/v1/${TOKEN}/${rest.join('/')}`;
async function put(port, resource, body) {
  const { stderr } = await coapClient(['-m', 'put', '-t', 'json', '-e', JSON.stringify(body), uri(port, resource)]);
  assert.equal(stderr.trim(), '', `coap-client PUT ${resource}`);
}
/** How many Observe registrations (GET with Observe:0) of `resource` the server logged. */
const registrationsLogged = (log, resource) => log.split('\n').filter((l) => /t:CON c:GET .*Observe:0,/.test(l) && l.includes(`Uri-Path:${TOKEN}, Uri-Path:${resource} ]`)).length;

function transport(port, downlink) {
  const tr = new CoapTransport(settings(port, { accessToken: TOKEN }), { downlink: { answerTimeoutMs: 3000, ...downlink } });
  const texts = recordTexts(tr);
  const events = { attributes: [], rpc: [], resubscribed: [] };
  for (const name of Object.keys(events)) tr.on(name, (e) => events[name].push(e));
  return { tr, texts, events };
}

test('libcoap: a PUT is a notification (attributes and rpc); one RPC id once across renewals; periodic re-registration', async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  await put(server.port, 'attributes', { setpoint: 20 });
  await put(server.port, 'rpc', { id: 1, method: 'setLed', params: { on: true } });
  const { tr, texts, events } = transport(server.port, { refreshMs: 400 });
  await tr.connect();
  await tr.subscribe('attributes');
  await tr.subscribe('rpc');
  // What the flow gets: the transport passes every arrival on, renewals' repeats too; the one
  // de-duplication is the device layer's RpcBook.
  const delivered = () => { const book = new RpcBook(); return events.rpc.filter((r) => book.arrived(r)).map((r) => r.id); };
  // libcoap answers a registration with the current content: for rpc that is command 1.
  await waitFor(() => delivered().length === 1, 'command 1', 5000);
  await put(server.port, 'attributes', { setpoint: 23 });
  await waitFor(() => events.attributes.length === 1, 'attribute notification', 5000);
  assert.deepEqual(events.attributes[0], { values: { setpoint: 23 } });
  await put(server.port, 'rpc', { id: 2, method: 'setInterval', params: 5 });
  await waitFor(() => delivered().length === 2, 'command 2', 5000);
  // Renewals: each first response repeats command 2; the same id again is a resend.
  await waitFor(() => events.resubscribed.filter((c) => c === 'rpc').length >= 2, 'two rpc renewals', 5000);
  await put(server.port, 'rpc', { id: 2, method: 'setInterval', params: 5 });
  await put(server.port, 'rpc', { id: 3, method: 'setInterval', params: 6 });
  await waitFor(() => delivered().length === 3, 'command 3', 5000);
  assert.deepEqual(delivered(), [1, 2, 3]);
  assert.ok(registrationsLogged(server.log(), 'attributes') >= 3, 'the server saw the attributes registration renewed');
  await tr.close();
  assert.ok(/c:GET .*Observe:1, .*Uri-Path:rpc \]/.test(server.log()), 'close deregistered with Observe=1');
  assertNoSecrets(texts, [TOKEN]);
});

test('libcoap: replies POST to rpc/{id}; attribute requests answer from the resource, 4.04 → {}', async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const { tr, texts } = transport(server.port);
  await tr.connect();
  await tr.respondRpc(17, Buffer.from('{"done":true}'));
  assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/rpc/17`), '{"done":true}');
  const big = JSON.stringify({ blob: 'r'.repeat(3000) }); // block-wise
  await tr.respondRpc(18, Buffer.from(big));
  assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/rpc/18`), big);
  await put(server.port, 'attributes', { client: { fw: '1.0' }, shared: { setpoint: 21 } });
  assert.deepEqual(await tr.requestAttributes({ clientKeys: ['fw'], sharedKeys: ['setpoint'] }, 3000), { client: { fw: '1.0' }, shared: { setpoint: 21 } });
  // Another device's resource does not exist on this server: 4.04, which ThingsBoard sends for "none found".
  const other = new CoapTransport(settings(server.port, { accessToken: 'NoSuchDeviceTok' }));
  await other.connect();
  assert.deepEqual(await other.requestAttributes({ clientKeys: ['x'], sharedKeys: [] }, 3000), {});
  await other.close();
  await tr.close();
  assertNoSecrets(texts, [TOKEN]);
});

test('libcoap restarted: the renewal finds the forgotten observation; after going down and reconnecting, subscribe() works again', async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  let own = await startCoapServer();
  const port = own.port;
  try {
    await put(port, 'attributes', { v: 0 });
    const { tr, texts, events } = transport(port, { refreshMs: 500 });
    await tr.connect();
    await tr.subscribe('attributes');
    await put(port, 'attributes', { v: 1 });
    await waitFor(() => events.attributes.length === 1, 'first notification', 5000);

    // 1. The server restarts and forgets every observer; nothing tells the client.
    await own.stop();
    own = await startCoapServer({ port });
    await put(port, 'attributes', { v: 2 });
    const renewals = events.resubscribed.length;
    await waitFor(() => events.resubscribed.length > renewals, 'a renewal after the restart', 8000);
    await put(port, 'attributes', { v: 3 });
    await waitFor(() => events.attributes.some((u) => u.values.v === 3), 'notification after the restart', 5000);

    // 2. The server is gone long enough for the transport to go down; the device layer
    //    reconnects and subscribes again (subscriptions do not survive a reconnect).
    let wentDown = false;
    tr.once('down', () => { wentDown = true; });
    await own.stop();
    await outcome(tr.send(telemetry({ a: 1 })), texts);
    await outcome(tr.send(telemetry({ a: 2 })), texts);
    await waitFor(() => wentDown, "'down'", 15000);
    own = await startCoapServer({ port });
    await put(port, 'attributes', { v: 4 });
    await tr.connect();
    await tr.subscribe('attributes');
    await put(port, 'attributes', { v: 5 });
    await waitFor(() => events.attributes.some((u) => u.values.v === 5), 'notification after reconnect', 5000);
    await tr.close();
    assertNoSecrets(texts, [TOKEN]);
  } finally {
    await own.stop();
  }
});

test('libcoap: a notification larger than one block arrives whole (Block2), and the observation goes on', async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  await put(server.port, 'attributes', { small: 1 });
  const { tr, texts, events } = transport(server.port);
  await tr.connect();
  await tr.subscribe('attributes');
  const big = { config: 'c'.repeat(3000), version: 7 };
  const { stderr } = await coapClient(['-m', 'put', '-B', '5', '-t', 'json', '-e', JSON.stringify(big), uri(server.port, 'attributes')]);
  assert.equal(stderr.trim(), '');
  await waitFor(() => events.attributes.length === 1, 'the block-wise notification', 5000);
  assert.deepEqual(events.attributes[0], { values: big });
  await put(server.port, 'attributes', { small: 2 });
  await waitFor(() => events.attributes.length === 2, 'the next notification', 5000);
  assert.deepEqual(events.attributes[1], { values: { small: 2 } });
  assert.deepEqual(texts, []);
  await tr.close();
});
