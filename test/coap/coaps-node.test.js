'use strict';
// thingsboard-out over a CoAPS thingsboard-device config node, as a user sets it up (host, token,
// pasted CA), against libcoap's coap-server-openssl: the status goes connecting → securing →
// connected and the reading arrives; a wrong CA or a certificate for another name fails every
// message at once with the reason (and the token never reaches the server); Server name fixes
// connecting by IP; verification off still delivers, with a warning status.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { helper, allModules, deviceConfig, outsWithProbes, probe, statusTexts, lastStatus, waitFor, scanForTokens } = require('../nodes/common');
const { requirePeer, havePeer } = require('../support/peers');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { createCA, createLeaf, writePki } = require('../support/pki');

const TOKEN = 'CoapsNodeT0ken7';
let dir;
let pki;
let servers = {};

test.before(async () => {
  if (!havePeer('coap-server-openssl')) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-node-'));
  const root = await createCA({ name: 'CoAPS Node Test Root' });
  const other = await createCA({ name: 'Unrelated CA' });
  const leaf = await createLeaf({ issuer: root, commonName: 'localhost' });
  // A certificate that names only tb.example.com: connecting by IP needs Server name.
  const named = await createLeaf({ issuer: root, commonName: 'tb.example.com', dnsNames: ['tb.example.com'], ips: [] });
  pki = { root, other };
  const files = writePki(dir, {
    'ca.pem': root.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem, 'named.pem': named.certPem, 'named.key': named.keyPem,
  });
  const start = (cert, key) => startCoapServer({ command: 'coap-server-openssl', extraArgs: ['-c', files[cert], '-j', files[key], '-R', files['ca.pem'], '-n'] });
  servers = { localhost: await start('leaf.pem', 'leaf.key'), named: await start('named.pem', 'named.key') };
});

test.after(async () => {
  for (const s of Object.values(servers)) await s.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test.afterEach(async () => {
  scanForTokens([], [TOKEN]);
  await helper.unload();
});

/** libcoap -d stores what was POSTed; a plain GET on PORT (DTLS is on PORT + 1) reads it back. */
// A reading that waited for the handshake goes out stamped with the time the node received it,
// as [{ts, values}]: the values are what this file checks (the stamp has its own tests).
const readingValues = (body) => (Array.isArray(body) && body.length === 1 && Number.isFinite(body[0].ts) ? body[0].values : body);
const stored = async (server) => readingValues(JSON.parse(await coapGet(server.port, `api/v1/${TOKEN}/telemetry`)));

function flowFor(server, overrides = {}) {
  return [{ id: 'tab', type: 'tab' }, deviceConfig({ transport: 'coaps', port: String(server.port + 1), ...overrides }), ...outsWithProbes([['out1', {}]])];
}

test('pasted CA: connecting → securing → connected, and the reading arrives', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  await helper.load(allModules(), flowFor(servers.localhost), { dev: { accessToken: TOKEN, caCert: pki.root.certPem } });
  const r = await probe('out1').send({ payload: { temperature: 21.5 } });
  assert.equal(r.ok, true, r.error);
  assert.deepEqual(await stored(servers.localhost), { temperature: 21.5 });
  await waitFor(() => /status\.connected$/.test((lastStatus('out1') || {}).text || ''), 'connected status');
  // Keys of the one status catalog (the test runtime's RED._ returns the key), namespace cut off.
  const states = statusTexts('out1').map((s) => s.replace(/ ·.*/, '').replace(/^.*:/, '')).filter((s, i, a) => s && s !== a[i - 1]);
  assert.deepEqual(states.slice(0, 3), ['status.connecting', 'status.securing', 'status.connected']);
});

test('no CA pasted: a configuration status saying what to paste where (not "not trusted"); the message fails saying so', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  await helper.load(allModules(), flowFor(servers.localhost), { dev: { accessToken: TOKEN, caCert: '' } });
  await waitFor(() => /status\.configError/.test((lastStatus('out1') || {}).text || ''), 'configuration status');
  const status = lastStatus('out1');
  assert.equal(status.fill, 'red');
  // (The test runtime shows status keys untranslated; the problem is the status's parameter.)
  assert.match(helper.getNode('dev').problems[0], /^CoAPS needs the CA certificate of your ThingsBoard server: paste it in the device's CA certificate field/);
  assert.ok(!statusTexts('out1').some((text) => /certificateUntrusted/.test(text)));
  const r = await probe('out1').send({ payload: { x: 1 } });
  assert.equal(r.ok, false);
  assert.match(r.error, /errors\.configProblems/); // done(err) with the configuration problem
});

test('wrong CA: certificate status, every message fails at once, the server never sees the token', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const logFrom = servers.localhost.log().length; // the server's log of this test only
  await helper.load(allModules(), flowFor(servers.localhost), { dev: { accessToken: TOKEN, caCert: pki.other.certPem } });
  const first = await probe('out1').send({ payload: { x: 1 } });
  assert.equal(first.ok, false);
  assert.match(first.error, /not sent: DTLS: .*(unknown|not trusted|CA)/i);
  await waitFor(() => /status\.certificateUntrusted/.test((lastStatus('out1') || {}).text || ''), 'certificate status');
  const second = await probe('out1').send({ payload: { x: 2 } });
  assert.equal(second.ok, false, 'a later message fails at once too');
  assert.match(servers.localhost.log().slice(logFrom), /alert|SSL|DTLS/i, 'the server saw the failed handshake');
  assert.ok(!servers.localhost.log().slice(logFrom).includes(TOKEN), 'the token never reached the server');
});

test('certificate for another name: host-name mismatch; Server name fixes it when connecting by IP', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const creds = { dev: { accessToken: TOKEN, caCert: pki.root.certPem } };
  const logFrom = servers.named.log().length;
  await helper.load(allModules(), flowFor(servers.named), creds);
  const r = await probe('out1').send({ payload: { x: 1 } });
  assert.equal(r.ok, false);
  await waitFor(() => /status\.hostMismatch/.test((lastStatus('out1') || {}).text || ''), 'host mismatch status');
  assert.ok(!servers.named.log().slice(logFrom).includes(TOKEN), 'the token never reached the server');
  await helper.unload();

  await helper.load(allModules(), flowFor(servers.named, { serverName: 'tb.example.com' }), creds);
  const fixed = await probe('out1').send({ payload: { named: 1 } });
  assert.equal(fixed.ok, true, fixed.error);
  assert.deepEqual(await stored(servers.named), { named: 1 });
});

test('verification off (explicit): still encrypted and delivered, with the yellow warning status', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  await helper.load(allModules(), flowFor(servers.localhost, { verifyServer: false }), { dev: { accessToken: TOKEN } });
  const r = await probe('out1').send({ payload: { unverified: 1 } });
  assert.equal(r.ok, true, r.error);
  assert.deepEqual(await stored(servers.localhost), { unverified: 1 });
  await waitFor(() => /status\.connectedUnverified/.test((lastStatus('out1') || {}).text || ''), 'unverified status');
  assert.equal(lastStatus('out1').fill, 'yellow');
});
