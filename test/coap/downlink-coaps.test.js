'use strict';
// The CoAP receive side over DTLS (our src/dtls client) against libcoap's coap-server-openssl
// with a PKI certificate: a notification arrives over CoAPS (the PUT goes to the plain port, the
// same resource); after the server lost the DTLS session (restart) and the transport went down
// and reconnected (new handshake), subscribe() works again and a notification arrives; every
// datagram we send stays within ThingsBoard's 1130-byte CoAPS limit, with a long access token and
// a large RPC reply (seen on the wire through a relay); a request that cannot fit is refused.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requirePeer, havePeer } = require('../support/peers');
const { coapClient, coapGet } = require('../support/libcoap');
const { startCoapServer } = require('../support/dtls-peers');
const { createCA, createLeaf, writePki } = require('../support/pki');
const { startLossyRelay } = require('../support/lossy-relay');
const { waitFor } = require('../support/wait');
const { assertNoSecrets } = require('../support/scan');
const { CoapTransport, fastTiming, settings, telemetry, recordTexts, outcome } = require('./common');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
// 60 characters: with a 1024-byte block the CoAPS datagram would exceed 1130 bytes.
const TOKEN = 'CoapsDownlinkT0ken'.padEnd(60, 'x');
const COAPS_MAX_DATAGRAM = 1130 - 8; // Scandium reads 1130; we keep a margin (blocks.ts COAPS_DATAGRAM_MARGIN)
let dir;
let pki;
let files;
let server;

const startServer = (port) => startCoapServer({ port, cert: files['leaf.pem'], key: files['leaf.key'], ca: files['ca.pem'] });

before(async () => {
  if (!havePeer('coap-server-openssl')) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-downlink-'));
  const root = await createCA({ name: 'CoAPS Downlink Root' });
  const leaf = await createLeaf({ issuer: root, commonName: 'localhost' });
  pki = { root };
  files = writePki(dir, { 'ca.pem': root.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem });
  server = await startServer();
});

after(async () => {
  if (server) await server.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function put(port, resource, body) {
  const { stderr } = await coapClient(['-m', 'put', '-t', 'json', '-e', JSON.stringify(body), `coap://127.0.0.1:${port}/api/v1/${TOKEN}/${resource}`]);
  assert.equal(stderr.trim(), '', `coap-client PUT ${resource}`);
}

function transport(dtlsPort, downlink = {}) {
  const tr = new CoapTransport(settings(dtlsPort, { transport: 'coaps', accessToken: TOKEN, caCert: pki.root.certPem }), { downlink: { answerTimeoutMs: 3000, ...downlink } });
  const texts = recordTexts(tr);
  const events = { attributes: [], rpc: [], resubscribed: [] };
  for (const name of Object.keys(events)) tr.on(name, (e) => events[name].push(e));
  return { tr, texts, events };
}

test('coaps: notifications arrive over DTLS; after the DTLS session is lost and the transport reconnects, subscribe() works again', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  let own = await startServer();
  const port = own.port;
  try {
    await put(port, 'rpc', { id: 1, method: 'setLed', params: { on: false } });
    const { tr, texts, events } = transport(port + 1);
    await tr.connect();
    await tr.subscribe('rpc');
    await put(port, 'rpc', { id: 2, method: 'setLed', params: { on: true } });
    await waitFor(() => events.rpc.some((r) => r.id === 2), 'command 2 over CoAPS', 5000);

    // The server restarts: its DTLS session is gone, our records are dropped without an alert.
    // (libcoap may say close_notify on the way out: then 'down' comes at once.)
    let wentDown = false;
    tr.once('down', () => { wentDown = true; });
    await own.stop();
    own = await startServer(port);
    if (!wentDown) await outcome(tr.send(telemetry({ a: 1 })), texts);
    if (!wentDown) await outcome(tr.send(telemetry({ a: 2 })), texts);
    await waitFor(() => wentDown, "'down' after the session loss", 15000);
    await tr.connect(); // a new DTLS handshake
    await put(port, 'rpc', { id: 3, method: 'setLed', params: { on: false } });
    await tr.subscribe('rpc');
    await put(port, 'rpc', { id: 4, method: 'setInterval', params: 2 });
    await waitFor(() => events.rpc.some((r) => r.id === 4), 'command 4 after the new session', 5000);
    assert.deepEqual(events.rpc.map((r) => r.id), [1, 2, 3, 4]);
    await tr.close();
    assertNoSecrets(texts, [TOKEN]);
  } finally {
    await own.stop();
  }
});

test('coaps: every datagram we send fits in 1130 bytes (long token, large reply); a request that cannot fit is refused', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const sizes = [];
  const relay = await startLossyRelay({
    target: { host: '127.0.0.1', port: server.port + 1 },
    transform: (direction, datagram) => {
      if (direction === 'toServer' && datagram[0] === 23) sizes.push(datagram.length); // DTLS application data
      return datagram;
    },
  });
  try {
    await put(server.port, 'attributes', { client: { fw: '2.0' }, shared: { setpoint: 19 } });
    const { tr, texts, events } = transport(relay.port, { refreshMs: 300 });
    await tr.connect();
    await tr.subscribe('attributes');
    await put(server.port, 'attributes', { client: { fw: '2.0' }, shared: { setpoint: 20 } });
    await waitFor(() => events.attributes.length >= 1, 'notification through the relay', 5000);
    await waitFor(() => events.resubscribed.length >= 1, 'a renewal', 5000);
    const reply = JSON.stringify({ result: 'z'.repeat(5000) });
    await tr.respondRpc(19, Buffer.from(reply));
    assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/rpc/19`), reply);
    assert.deepEqual(await tr.requestAttributes({ clientKeys: ['fw'], sharedKeys: ['setpoint'] }, 3000), { client: { fw: '2.0' }, shared: { setpoint: 20 } });
    assert.ok(sizes.length > 6, `application datagrams seen: ${sizes.length}`);
    const largest = Math.max(...sizes);
    assert.ok(largest <= COAPS_MAX_DATAGRAM, `largest datagram ${largest} bytes`);
    assert.ok(largest > 600, `the reply went in blocks as large as fit (largest ${largest})`);

    const keys = Array.from({ length: 200 }, (_, i) => `key${i}`);
    const before = sizes.length;
    const r = await outcome(tr.requestAttributes({ clientKeys: keys, sharedKeys: [] }, 3000), texts);
    assert.equal(r.err.kind, 'rejected');
    assert.equal(r.err.code, 'COAP_TOO_LONG');
    assert.match(r.err.message, /fewer keys/);
    assert.equal(sizes.length, before, 'nothing was sent');
    await tr.close();
    assertNoSecrets(texts, [TOKEN]);
  } finally {
    await relay.close();
  }
});
