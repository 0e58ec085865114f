'use strict';
// CoAPS: the same CoapTransport over the DTLS socket from src/dtls, against libcoap's
// coap-server-openssl (DTLS on PORT+1, plain CoAP on PORT for the proving GET). A wrong CA is a
// 'certificate' failure and the token never reaches the server (its verbose log is scanned).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requirePeer, havePeer } = require('../support/peers');
const { distinctText, assertSameText } = require('../support/bodies');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { createCA, createLeaf, writePki } = require('../support/pki');
const { CoapTransport, fastTiming, settings, telemetry, outcome } = require('./common');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
const TOKEN = 'CoapsTok3nQ7w';
let dir;
let pki;
let files;
let server;

before(async () => {
  if (!havePeer('coap-server-openssl')) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-'));
  const root = await createCA({ name: 'CoAPS Test Root' });
  const leaf = await createLeaf({ issuer: root, commonName: 'localhost' });
  const other = await createCA({ name: 'Unrelated CA' });
  pki = { root, other };
  files = writePki(dir, { 'ca.pem': root.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem });
  server = await startCoapServer({
    command: 'coap-server-openssl',
    extraArgs: ['-c', files['leaf.pem'], '-j', files['leaf.key'], '-R', files['ca.pem'], '-n'],
  });
});

after(async () => {
  if (server) await server.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const coapsSettings = (overrides) => settings(server.port + 1, { transport: 'coaps', accessToken: TOKEN, caCert: pki.root.certPem, ...overrides });

test('coaps: telemetry (small and block-wise) arrives over DTLS', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  for (const host of ['127.0.0.1', 'localhost']) {
    const tr = new CoapTransport(coapsSettings({ host }));
    const phases = [];
    tr.on('phase', (p) => phases.push(p));
    await tr.connect();
    assert.deepEqual(phases, ['connecting', 'securing']);
    await tr.send(telemetry({ secure: host }));
    assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`), JSON.stringify({ secure: host }));
    const body = JSON.stringify({ big: distinctText(12000) }); // different in every block
    await tr.send({ kind: 'telemetry', body: Buffer.from(body), qos: 1 });
    assertSameText(assert, await coapGet(server.port, `api/v1/${TOKEN}/telemetry`), body, `12 KB over DTLS to ${host}`);
    await tr.close();
  }
  assert.ok(server.log().includes(TOKEN), 'the server log shows request paths (so the scan below means something)');
});

test('coaps: an untrusted server certificate is a certificate failure; the token is never sent', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const tr = new CoapTransport(coapsSettings({ caCert: pki.other.certPem, accessToken: 'NeverSentTok3n' }));
  const r = await outcome(tr.connect());
  assert.equal(r.ok, false);
  assert.equal(r.err.kind, 'certificate');
  assert.equal(r.err.permanent, true);
  const refused = await outcome(tr.send(telemetry({ a: 1 })));
  assert.equal(refused.err.kind, 'closed');
  await tr.close();
  await new Promise((r2) => setTimeout(r2, 100));
  assert.ok(!server.log().includes('NeverSentTok3n'), 'the token reached the server');
});

test('coaps: a message waiting at connect goes out only after the verified handshake, as the token check; with an untrusted certificate it is never taken', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const withMessage = (tr, body) => {
    let taken = 0;
    let sent;
    const connected = tr.connectWith(() => {
      taken++;
      let first;
      sent = new Promise((resolve, reject) => { first = { message: telemetry(body), settle: (err) => (err ? reject(err) : resolve()) }; });
      return first;
    });
    return { connected, taken: () => taken, sent: () => sent };
  };
  const untrusted = new CoapTransport(coapsSettings({ caCert: pki.other.certPem, accessToken: 'WaitingNeverSentTok3n' }));
  const refused = withMessage(untrusted, { never: 1 });
  const r = await outcome(refused.connected);
  assert.equal(r.err?.kind, 'certificate');
  assert.equal(refused.taken(), 0, 'the message was handed to the transport before the chain was verified');
  await untrusted.close();

  const tr = new CoapTransport(coapsSettings());
  const run = withMessage(tr, { waiting: 'coaps' });
  await run.connected;
  assert.equal(run.taken(), 1);
  await run.sent();
  assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`), JSON.stringify({ waiting: 'coaps' }));
  await tr.close();
  await new Promise((r2) => setTimeout(r2, 100));
  assert.ok(!server.log().includes('WaitingNeverSentTok3n'), 'the token reached the server');
});
