'use strict';
// CoAPS with an X.509 client certificate: our DTLS client answers the CertificateRequest with the
// device's chain and a CertificateVerify, and the CoAP paths carry no token (/api/v1/telemetry).
// Peers that REQUIRE a client certificate and check its chain and the CertificateVerify signature:
// libcoap's coap-server-openssl (no -n; -C/-R: the device CA) and `openssl s_server -dtls1_2
// -Verify 1`. Keys: EC P-256, EC P-384, RSA-2048 (PKCS#1 v1.5, and PSS when the server allows only
// PSS). A certificate the server does not accept ends as a permanent 'certificate' failure whose
// words say the client certificate was refused.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requirePeer, havePeer } = require('../support/peers');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { startSServer } = require('../support/dtls-peers');
const { freeUdpPort } = require('../support/ports');
const { createCA, createLeaf, writePki } = require('../support/pki');
const x509 = require('@peculiar/x509'); // after support/pki, which loads its reflect polyfill
const { CoapTransport, fastTiming, settings, telemetry, outcome } = require('./common');

fastTiming();
const root = path.join(__dirname, '..', '..');
const { connectDtls } = require(path.join(root, 'nodes', 'lib', 'dtls'));

let dir;
let pki;
let files;
let server;

const CLIENT_AUTH = [x509.ExtendedKeyUsage.clientAuth];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-x509-'));
  const serverRoot = await createCA({ name: 'CoAPS Server Root' });
  const leaf = await createLeaf({ issuer: serverRoot, commonName: 'localhost' });
  const deviceRoot = await createCA({ name: 'Device Root' });
  const device = (keyType, cn, extra = {}) => createLeaf({ issuer: deviceRoot, keyType, commonName: cn, dnsNames: [], ips: [], extKeyUsage: CLIENT_AUTH, ...extra });
  const devices = {
    p256: await device('ec-p256', 'device-p256'),
    p384: await device('ec-p384', 'device-p384', { hash: 'SHA-384' }),
    rsa: await device('rsa-2048', 'device-rsa'),
  };
  const strangerRoot = await createCA({ name: 'Stranger Root' });
  const stranger = await createLeaf({ issuer: strangerRoot, commonName: 'device-p256', dnsNames: [], ips: [], extKeyUsage: CLIENT_AUTH });
  const expired = await device('ec-p256', 'device-expired', { notBefore: new Date(Date.now() - 20 * 86400e3), notAfter: new Date(Date.now() - 10 * 86400e3) });
  pki = { serverRoot, deviceRoot, devices, stranger, expired };
  files = writePki(dir, {
    'server-ca.pem': serverRoot.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem, 'device-ca.pem': deviceRoot.certPem,
  });
  if (!havePeer('coap-server-openssl')) return;
  // Without -n, with -C/-R: libcoap demands a client certificate and verifies it against the device CA.
  server = await startCoapServer({
    command: 'coap-server-openssl',
    extraArgs: ['-c', files['leaf.pem'], '-j', files['leaf.key'], '-C', files['device-ca.pem'], '-R', files['device-ca.pem']],
  });
});

after(async () => {
  if (server) await server.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The peer really demands a certificate: without one (an empty Certificate) the handshake fails. */
async function assertCertificateRequired(port) {
  const tr = new CoapTransport(settings(port, { transport: 'coaps', host: 'localhost', accessToken: 'no-cert-token', caCert: pki.serverRoot.certPem }));
  const r = await outcome(tr.connect());
  await tr.close();
  assert.equal(r.ok, false, 'a handshake without a client certificate must fail against this peer');
}

function x509Settings(port, leaf, overrides = {}) {
  return settings(port, {
    transport: 'coaps', accessToken: '', caCert: pki.serverRoot.certPem,
    auth: { type: 'x509', certPem: leaf.certPem + pki.deviceRoot.certPem, keyPem: leaf.keyPem, passphrase: '' },
    ...overrides,
  });
}

test('coaps x509: coap-server-openssl requiring a client certificate accepts P-256, P-384 and RSA devices; paths carry no token', { timeout: 90000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  await assertCertificateRequired(server.port + 1);
  for (const [name, leaf] of Object.entries(pki.devices)) {
    const tr = new CoapTransport(x509Settings(server.port + 1, leaf, { host: 'localhost' }));
    await tr.connect();
    await tr.send(telemetry({ device: name }));
    assert.equal(await coapGet(server.port, 'api/v1/telemetry'), JSON.stringify({ device: name }), `${name}: arrived at /api/v1/telemetry`);
    await tr.close();
  }
});

test('coaps x509: coap-server-gnutls requiring a client certificate accepts P-256 and RSA devices', { timeout: 90000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-gnutls')) return;
  const gnutls = await startCoapServer({
    command: 'coap-server-gnutls',
    extraArgs: ['-c', files['leaf.pem'], '-j', files['leaf.key'], '-C', files['device-ca.pem'], '-R', files['device-ca.pem']],
  });
  t.after(() => gnutls.stop());
  await assertCertificateRequired(gnutls.port + 1);
  for (const name of ['p256', 'rsa']) {
    const tr = new CoapTransport(x509Settings(gnutls.port + 1, pki.devices[name], { host: 'localhost' }));
    await tr.connect();
    await tr.send(telemetry({ gnutls: name }));
    assert.equal(await coapGet(gnutls.port, 'api/v1/telemetry'), JSON.stringify({ gnutls: name }), `${name} over GnuTLS`);
    await tr.close();
  }
});

test('coaps x509: a client certificate the server does not trust → permanent certificate failure naming the client certificate', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const tr = new CoapTransport(x509Settings(server.port + 1, pki.stranger));
  const r = await outcome(tr.connect());
  assert.equal(r.ok, false);
  assert.equal(r.err.kind, 'certificate', r.err.message);
  assert.equal(r.err.permanent, true);
  assert.equal(r.err.code, 'CLIENT_CERT_REFUSED', r.err.message);
  assert.match(r.err.message, /refused the client certificate/);
  assert.ok(!r.err.message.includes('PRIVATE KEY'));
  await tr.close();
});

/** openssl s_server -Verify 1: requires a client certificate, checks its chain and CertificateVerify. */
async function sServer(extra = []) {
  const port = await freeUdpPort();
  const p = await startSServer({ port, cert: files['leaf.pem'], key: files['leaf.key'], extra: ['-Verify', '1', '-CAfile', files['device-ca.pem'], ...extra] });
  return { port, p };
}

async function handshakeWith(port, leaf, passphrase) {
  return connectDtls({
    host: '127.0.0.1', port, ca: pki.serverRoot.certPem, serverName: 'localhost', handshakeTimeoutMs: 15000, initialRetransmitMs: 300,
    clientCertificate: { certPem: leaf.certPem, keyPem: leaf.keyPem, passphrase },
  });
}

test('openssl s_server -Verify 1: P-256, P-384, RSA PKCS#1 and RSA-PSS CertificateVerify signatures verify; the server sees the device certificate', { timeout: 90000 }, async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const cases = [
    ['p256', pki.devices.p256, []],
    ['p384', pki.devices.p384, []],
    ['rsa-pkcs1', pki.devices.rsa, ['-client_sigalgs', 'RSA+SHA256']],
    ['rsa-pss', pki.devices.rsa, ['-client_sigalgs', 'rsa_pss_rsae_sha256']],
    ['p384-sha256-only', pki.devices.p384, ['-client_sigalgs', 'ECDSA+SHA256']],
  ];
  for (const [name, leaf, extra] of cases) {
    const { port, p } = await sServer(extra);
    try {
      const conn = await handshakeWith(port, leaf);
      await conn.send(Buffer.from(`hello-from-${name}\n`));
      await p.waitFor(new RegExp(`hello-from-${name}`));
      assert.match(p.output(), new RegExp(`CN ?= ?device-${name.startsWith('rsa') ? 'rsa' : name.slice(0, 4)}`), `${name}: s_server printed the client certificate subject`);
      assert.match(p.output(), /verify return:1/);
      await conn.close();
    } finally {
      await p.stop();
    }
  }
});

test('openssl s_server -Verify 1: an expired or untrusted client certificate → alert → CLIENT_CERT_REFUSED, permanent', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const { dtlsToTransportError } = require(path.join(root, 'nodes', 'lib', 'transports', 'coap', 'dtls-socket'));
  for (const leaf of [pki.expired, pki.stranger]) {
    // s_server only reports a failed client verification unless told to end the handshake on it.
    const { port, p } = await sServer(['-verify_return_error']);
    try {
      const r = await outcome(handshakeWith(port, leaf));
      assert.equal(r.ok, false);
      assert.equal(r.err.code, 'ALERT_RECEIVED', r.err.message);
      const te = dtlsToTransportError(r.err, `127.0.0.1:${port}`, true);
      assert.equal(te.kind, 'certificate');
      assert.equal(te.code, 'CLIENT_CERT_REFUSED');
      assert.match(te.message, /refused the client certificate \(alert (certificate_expired|unknown_ca|bad_certificate)\)/);
    } finally {
      await p.stop();
    }
  }
});

test('client certificate unusable: key not matching, no scheme the server accepts → CLIENT_CERTIFICATE, nothing quoted', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const mismatch = await outcome(connectDtls({ host: '127.0.0.1', port: 9, ca: pki.serverRoot.certPem, clientCertificate: { certPem: pki.devices.p256.certPem, keyPem: pki.devices.rsa.keyPem } }));
  assert.equal(mismatch.err.code, 'CLIENT_CERTIFICATE');
  assert.match(mismatch.err.message, /does not belong/);
  // The server lists only RSA signatures: an EC key can make none of them.
  const { port, p } = await sServer(['-client_sigalgs', 'RSA+SHA256']);
  try {
    const r = await outcome(handshakeWith(port, pki.devices.p256));
    assert.equal(r.err.code, 'CLIENT_CERTIFICATE', r.err.message);
    assert.match(r.err.message, /none of the signature algorithms|does not accept ECDSA/);
  } finally {
    await p.stop();
  }
});

test('x509 device answered 4.01 (no device has this certificate, as ThingsBoard does after a WANTED handshake) → unauthorized at connect, naming the certificate', { timeout: 30000 }, async (t) => {
  // The `coap` package's server in ThingsBoard's place after the handshake: every request 4.01.
  const coap = require('coap');
  const { createUdpSocket } = require(path.join(root, 'nodes', 'lib', 'transports', 'coap', 'datagram'));
  const server = coap.createServer();
  const seen = [];
  server.on('request', (req, res) => { seen.push(req.url); res.code = '4.01'; res.end(); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  const tr = new CoapTransport(x509Settings(server._sock.address().port, pki.devices.p256), { createSocket: createUdpSocket });
  // The check at connect (one shared attribute) is already refused: before any message.
  const r = await outcome(tr.connect());
  await tr.close();
  assert.equal(seen.length, 1);
  assert.match(seen[0], /^\/api\/v1\/attributes\?sharedKeys=/, 'the path carries no token');
  assert.equal(r.err.kind, 'unauthorized');
  assert.equal(r.err.code, 'X509_COAP_4.01');
  assert.match(r.err.message, /no device has this client certificate/);
});

test('a server that only WANTS a client certificate (as ThingsBoard\'s Californium; s_server -verify 1) gets ours, with its CertificateVerify', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const port = await freeUdpPort();
  const p = await startSServer({ port, cert: files['leaf.pem'], key: files['leaf.key'], extra: ['-CAfile', files['device-ca.pem'], '-verify_return_error'] });
  try {
    const conn = await handshakeWith(port, pki.devices.p384);
    await conn.send(Buffer.from('hello-wanted\n'));
    await p.waitFor(/hello-wanted/);
    assert.match(p.output(), /CN ?= ?device-p384/);
    await conn.close();
  } finally {
    await p.stop();
  }
});

test('through the nodes: a CoAPS device with X.509 credentials (key encrypted with a passphrase) delivers to /api/v1/telemetry; no key or passphrase in any text', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const crypto = require('node:crypto');
  const { helper, allModules, deviceConfig, outsWithProbes, probe, scanForTokens } = require('../nodes/common');
  const { secretsIn } = require('../support/scan');
  const leaf = pki.devices.rsa;
  const passphrase = 'node-red-passphrase-1';
  const encrypted = crypto.createPrivateKey(leaf.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase });
  const creds = { caCert: pki.serverRoot.certPem, clientCert: leaf.certPem + pki.deviceRoot.certPem, clientKey: encrypted, clientKeyPassphrase: passphrase };
  await helper.load(allModules(), [{ id: 'tab', type: 'tab' }, deviceConfig({ transport: 'coaps', host: 'localhost', port: String(server.port + 1), credentialsType: 'x509' }), ...outsWithProbes([['out1', {}]])], { dev: creds });
  t.after(() => helper.unload());
  assert.equal((await probe('out1').send({ payload: { nodes: 'x509' } })).ok, true);
  // The reading waited for the handshake, so it carries the time the node received it.
  const body = JSON.parse(await coapGet(server.port, 'api/v1/telemetry'));
  assert.deepEqual(Array.isArray(body) ? body.map((e) => e.values) : [body], [{ nodes: 'x509' }]);
  scanForTokens([], secretsIn(creds));
});
