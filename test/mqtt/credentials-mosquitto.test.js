'use strict';
// MQTT basic credentials and MQTTS client certificates against mosquitto (a real broker): a
// password file and an ACL that lets only the configured user publish to v1/devices/me/#, so an
// arrival proves the CONNECT carried that user and password; mosquitto's log line "New client
// connected ... as CLIENTID (..., u'USER')" shows exactly what CONNECT carried. Client
// certificates: `require_certificate true` + `use_identity_as_username true` (the certificate's
// CN is the ACL user), as ThingsBoard identifies an X.509 device by its certificate.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor, scanForTokens } = require('../nodes/common');
const { testPki } = require('./common');
const { requirePeer } = require('../support/peers');
const { startMosquitto } = require('../support/mosquitto');
const { createLeaf, createCA } = require('../support/pki');
const { secretsIn } = require('../support/scan');

const PASSWORD = 'pw-s3cr3t-Basic-42';
const USER = 'tb-basic-user';
const caught = [];
let secrets = [PASSWORD];

function flow(devOverrides, outs = [['out1', {}]]) {
  return [{ id: 'tab', type: 'tab' }, deviceConfig(devOverrides), ...outsWithProbes(outs)];
}

function connectLines(broker) {
  return broker.log().split('\n').filter((l) => l.includes('New client connected'));
}

test.afterEach(async () => {
  scanForTokens(caught.splice(0), secrets);
  await helper.unload();
});

test('mqttBasic: user name + password, client id + user name + password, client id only — each CONNECT carries exactly that', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'mosquitto') || !requirePeer(t, 'mosquitto_passwd')) return;
  const broker = await startMosquitto({ token: 'unused-token', passwords: { [USER]: PASSWORD }, aclUsers: [] });
  t.after(() => broker.close());

  // 1. user name + password (client id: the node's default)
  await helper.load(allModules(), flow({ port: String(broker.port), credentialsType: 'mqttBasic' }), { dev: { username: USER, password: PASSWORD } });
  assert.equal((await probe('out1').send({ payload: { basic: 1 } })).ok, true);
  await helper.unload();
  let lines = connectLines(broker);
  assert.match(lines.at(-1), /as nr-tb-dev .*u'tb-basic-user'/);

  // 2. all three
  await helper.load(allModules(), flow({ port: String(broker.port), credentialsType: 'mqttBasic', clientId: 'my-client-7' }), { dev: { username: USER, password: PASSWORD } });
  assert.equal((await probe('out1').send({ payload: { basic: 2 } })).ok, true);
  await helper.unload();
  lines = connectLines(broker);
  assert.match(lines.at(-1), /as my-client-7 .*u'tb-basic-user'/);

  // 3. client id only: no user name in CONNECT
  await helper.load(allModules(), flow({ port: String(broker.port), credentialsType: 'mqttBasic', clientId: 'only-client-id' }), { dev: {} });
  assert.equal((await probe('out1').send({ payload: { basic: 3 } })).ok, true, 'anonymous publish is PUBACKed by mosquitto (3.1.1)');
  lines = connectLines(broker);
  assert.match(lines.at(-1), /as only-client-id /);
  assert.doesNotMatch(lines.at(-1), /u'/, 'no user name in CONNECT');

  assert.ok(!broker.log().split('\n').some((l) => /Denied PUBLISH from (nr-tb-dev|my-client-7)/.test(l)), 'the ACL allowed the user name + password publishes');
  assert.ok(!broker.log().includes(PASSWORD));
});

test('mqttBasic: a wrong password → CONNACK 5 → permanent error naming the user name or password, no secret anywhere', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'mosquitto') || !requirePeer(t, 'mosquitto_passwd')) return;
  const broker = await startMosquitto({ token: 'unused-token', passwords: { [USER]: PASSWORD } });
  t.after(() => broker.close());
  const wrong = 'wrong-Pa55word-xyz';
  secrets = [PASSWORD, wrong];
  await helper.load(allModules(), flow({ port: String(broker.port), credentialsType: 'mqttBasic' }), { dev: { username: USER, password: wrong } });
  const r = await probe('out1').send({ payload: { nope: 1 } });
  assert.equal(r.ok, false);
  caught.push(r.error);
  assert.match(r.error, /CONNACK 5/);
  assert.match(r.error, /user name or password refused/);
  assert.match(r.error, /MQTT basic credentials/);
  await waitFor(() => /status\.unauthorizedBasic/.test((lastStatus('out1') || {}).text || ''), 'the status naming the MQTT basic credentials');
  // Permanent: the next message fails at once, without a new CONNECT.
  const before = connectLines(broker).length;
  const started = Date.now();
  const again = await probe('out1').send({ payload: { nope: 2 } });
  assert.equal(again.ok, false);
  assert.ok(Date.now() - started < 1000, 'failed at once');
  assert.equal(connectLines(broker).length, before);
  caught.push(again.error);
});

test('mqttBasic: configuration problems (password without user name, nothing given, CoAP) name the fix', { timeout: 30000 }, async () => {
  const { parseDeviceConfig } = require('../../nodes/lib/device/settings');
  const p1 = parseDeviceConfig({ host: 'h', credentialsType: 'mqttBasic' }, { password: 'x' });
  assert.ok(p1.problems.some((p) => /password needs a user name/.test(p)), p1.problems.join('; '));
  const p2 = parseDeviceConfig({ host: 'h', credentialsType: 'mqttBasic' }, {});
  assert.ok(p2.problems.some((p) => /enter the client id, or the user name and password/.test(p)));
  const p3 = parseDeviceConfig({ host: 'h', transport: 'coap', credentialsType: 'mqttBasic' }, { username: 'u', password: 'p' });
  assert.ok(p3.problems.some((p) => /only with MQTT or MQTTS/.test(p)));
  const ok = parseDeviceConfig({ host: 'h', credentialsType: 'mqttBasic', clientId: 'c' }, {});
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.settings.accessToken, '');
  assert.deepEqual(ok.settings.auth, { type: 'mqttBasic', username: '', password: '' });
  const bad = parseDeviceConfig({ host: 'h', credentialsType: 'bogus' }, { accessToken: 't' });
  assert.ok(bad.problems.some((p) => /credentials type must be/.test(p)));
});

let clientPki;
async function clientCerts() {
  if (!clientPki) {
    clientPki = (async () => {
      const pki = await testPki();
      const { x509 } = { x509: require('@peculiar/x509') };
      // Client certificates: issued by the broker's root (a "trusted" device) or by an unrelated CA.
      const root = await createCA({ name: 'Device Root', keyType: 'ec-p256' });
      const clientAuth = [x509.ExtendedKeyUsage.clientAuth];
      const device = await createLeaf({ issuer: root, keyType: 'ec-p256', commonName: 'device-x509-1', dnsNames: [], ips: [], extKeyUsage: clientAuth });
      const rsaDevice = await createLeaf({ issuer: root, keyType: 'rsa-2048', commonName: 'device-x509-rsa', dnsNames: [], ips: [], extKeyUsage: clientAuth });
      const stranger = await createLeaf({ keyType: 'ec-p256', commonName: 'device-x509-1', dnsNames: [], ips: [], extKeyUsage: clientAuth });
      return { pki, root, device, rsaDevice, stranger };
    })();
  }
  return clientPki;
}

test('x509 on MQTTS: mosquitto require_certificate + use_identity_as_username accepts the device certificate (EC and RSA); an untrusted one → refused, clear permanent error', { timeout: 90000 }, async (t) => {
  if (!requirePeer(t, 'mosquitto') || !requirePeer(t, 'mosquitto_sub')) return;
  const { pki, root, device, rsaDevice, stranger } = await clientCerts();
  const broker = await startMosquitto({
    token: 'unused-token',
    aclUsers: ['device-x509-1', 'device-x509-rsa'],
    // The server's chain is checked by our side against the server root; the broker checks
    // client certificates against the device root.
    tls: { caPem: pki.caPem, clientCaPem: root.certPem, ...pki.server, requireCertificate: true, useIdentityAsUsername: true },
  });
  t.after(() => broker.close());
  const obs = await broker.observe();
  secrets = [device, rsaDevice, stranger].flatMap((l) => secretsIn({ clientKey: l.keyPem }));

  for (const [leaf, cn] of [[device, 'device-x509-1'], [rsaDevice, 'device-x509-rsa']]) {
    await helper.load(allModules(), flow({ transport: 'mqtts', host: 'localhost', port: String(broker.port), credentialsType: 'x509' }), {
      dev: { caCert: pki.caPem, clientCert: leaf.certPem + root.certPem, clientKey: leaf.keyPem },
    });
    // Only telemetry counts: the device also asks getSessionLimits after connecting.
    const telemetry = () => obs.messages.filter((m) => m.topic === 'v1/devices/me/telemetry').length;
    const before = telemetry();
    assert.equal((await probe('out1').send({ payload: { x509: cn } })).ok, true);
    await waitFor(() => telemetry() === before + 1, 'the message at the broker');
    assert.match(connectLines(broker).at(-1), new RegExp(`u'${cn}'`), 'the certificate CN was the identity');
    await helper.unload();
  }
  assert.ok(!/Denied PUBLISH/.test(broker.log()));

  const logBefore = broker.log().length;
  await helper.load(allModules(), flow({ transport: 'mqtts', host: 'localhost', port: String(broker.port), credentialsType: 'x509' }), {
    dev: { caCert: pki.caPem, clientCert: stranger.certPem, clientKey: stranger.keyPem },
  });
  const r = await probe('out1').send({ payload: { x509: 'stranger' } });
  assert.equal(r.ok, false);
  caught.push(r.error);
  assert.match(r.error, /refused the client certificate/);
  await waitFor(() => /status\.clientCertificateRefused/.test((lastStatus('out1') || {}).text || ''), 'the client-certificate status');
  assert.ok(!broker.log().slice(logBefore).includes('New client connected'), 'no CONNECT went through');
  const again = await probe('out1').send({ payload: { x509: 'stranger2' } });
  assert.equal(again.ok, false, 'permanent: fails at once');
  caught.push(again.error);
});

test('x509: configuration errors (plain MQTT/CoAP, key not matching, wrong passphrase) name the fix and quote no key', { timeout: 60000 }, async () => {
  const { parseDeviceConfig } = require('../../nodes/lib/device/settings');
  const crypto = require('node:crypto');
  const { device, stranger } = await clientCerts();
  for (const transport of ['mqtt', 'coap']) {
    const p = parseDeviceConfig({ host: 'h', transport, credentialsType: 'x509' }, { clientCert: device.certPem, clientKey: device.keyPem });
    assert.ok(p.problems.some((x) => /need MQTTS or CoAPS/.test(x)), transport);
  }
  const mismatch = parseDeviceConfig({ host: 'h', transport: 'mqtts', credentialsType: 'x509' }, { clientCert: device.certPem, clientKey: stranger.keyPem });
  assert.ok(mismatch.problems.some((x) => /does not belong to the client certificate/.test(x)), mismatch.problems.join('; '));
  const encrypted = crypto.createPrivateKey(device.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right-pass' });
  const wrongPass = parseDeviceConfig({ host: 'h', transport: 'mqtts', credentialsType: 'x509' }, { clientCert: device.certPem, clientKey: encrypted, clientKeyPassphrase: 'wrong' });
  assert.ok(wrongPass.problems.some((x) => /cannot be decrypted with this passphrase/.test(x)), wrongPass.problems.join('; '));
  const noPass = parseDeviceConfig({ host: 'h', transport: 'mqtts', credentialsType: 'x509' }, { clientCert: device.certPem, clientKey: encrypted });
  assert.ok(noPass.problems.some((x) => /encrypted: enter its passphrase/.test(x)));
  const good = parseDeviceConfig({ host: 'h', transport: 'mqtts', credentialsType: 'x509' }, { clientCert: device.certPem, clientKey: encrypted, clientKeyPassphrase: 'right-pass' });
  assert.deepEqual(good.problems, []);
  for (const p of [...mismatch.problems, ...wrongPass.problems, ...noPass.problems]) {
    assert.ok(!p.includes('PRIVATE KEY') && !p.includes('right-pass'), p);
  }
});
