'use strict';
// The config node's admin endpoint that checks a client certificate against its private key (the
// dialog shows the answer): a match, a mismatch, a wrong passphrase, and a key taken from the
// deployed node when the dialog sends none. The answer never holds the key or the passphrase.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { helper, allModules, deviceConfig } = require('./common');
const { createLeaf } = require('../support/pki');

test.afterEach(() => helper.unload());

test('client-certificate/check: subject and expiry, key match, mismatch, passphrase, deployed key; no secret in the answer', { timeout: 60000 }, async () => {
  const leaf = await createLeaf({ keyType: 'ec-p256', commonName: 'device-42', dnsNames: [], ips: [] });
  const other = await createLeaf({ keyType: 'ec-p384', commonName: 'other', dnsNames: [], ips: [] });
  const encrypted = crypto.createPrivateKey(leaf.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pass-phrase-9' });
  await helper.load(allModules(), [{ id: 'tab', type: 'tab' }, deviceConfig({ transport: 'mqtts', credentialsType: 'x509' })], {
    dev: { clientCert: leaf.certPem, clientKey: encrypted, clientKeyPassphrase: 'pass-phrase-9' },
  });
  const check = async (body) => {
    const res = await helper.request().post('/thingsboard-device/client-certificate/check').send(body).expect(200);
    const text = JSON.stringify(res.body);
    for (const secret of ['PRIVATE KEY', 'pass-phrase-9', 'wrong-pass']) assert.ok(!text.includes(secret), `no secret in ${text}`);
    return res.body;
  };
  const ok = await check({ clientCert: leaf.certPem, clientKey: leaf.keyPem });
  assert.equal(ok.keyMatches, true);
  assert.match(ok.subject, /CN=device-42/);
  assert.match(ok.notAfter, /^\d{4}-/);
  const bad = await check({ clientCert: leaf.certPem, clientKey: other.keyPem });
  assert.equal(bad.keyMatches, false);
  assert.match(bad.problem, /does not belong to the client certificate/);
  const wrongPass = await check({ clientCert: leaf.certPem, clientKey: encrypted, clientKeyPassphrase: 'wrong-pass' });
  assert.match(wrongPass.problem, /passphrase/);
  // The dialog has no key (password credentials stay in the runtime): the deployed one is used.
  const deployed = await check({ id: 'dev', clientCert: leaf.certPem, clientKey: '__PWRD__', clientKeyPassphrase: '__PWRD__' });
  assert.equal(deployed.keyMatches, true);
  const deployedMismatch = await check({ id: 'dev', clientCert: other.certPem, clientKey: '' });
  assert.equal(deployedMismatch.keyMatches, false);
});
