'use strict';
// Shared PKI for the DTLS tests, written to a temporary folder once per test file.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createCA, createLeaf, writePki } = require('../support/pki');

const DAY = 24 * 3600 * 1000;

/** Every chain the DTLS tests need; returns { dir, files: {name: path}, pem: {name: text}, remove() }. */
async function makeDtlsPki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtls-pki-'));
  const root = await createCA({ name: 'DTLS Test Root', keyType: 'ec-p256', hash: 'SHA-256' });
  const inter = await createCA({ name: 'DTLS Test Intermediate', keyType: 'ec-p256', hash: 'SHA-256', issuer: root });
  const leaf = await createLeaf({ issuer: inter, keyType: 'ec-p256', hash: 'SHA-256' });
  const root384 = await createCA({ name: 'DTLS Test Root P-384', keyType: 'ec-p384', hash: 'SHA-384' });
  const inter384 = await createCA({ name: 'DTLS Test Intermediate P-384', keyType: 'ec-p384', hash: 'SHA-384', issuer: root384 });
  const leaf384 = await createLeaf({ issuer: inter384, keyType: 'ec-p384', hash: 'SHA-384' });
  const rsaRoot = await createCA({ name: 'DTLS Test RSA Root', keyType: 'rsa-2048', hash: 'SHA-256' });
  const rsaLeaf = await createLeaf({ issuer: rsaRoot, keyType: 'rsa-2048', hash: 'SHA-256' });
  const otherRoot = await createCA({ name: 'Unrelated CA', keyType: 'ec-p256' });
  const expired = await createLeaf({ issuer: inter, keyType: 'ec-p256', notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
  const wrongHost = await createLeaf({ issuer: inter, keyType: 'ec-p256', commonName: 'other.example', dnsNames: ['other.example'], ips: ['10.9.8.7'] });
  const nameOnly = await createLeaf({ issuer: inter, keyType: 'ec-p256', commonName: 'device-api.example', dnsNames: ['device-api.example'], ips: [] });
  const selfSigned = await createLeaf({ keyType: 'ec-p256' });
  const pem = {
    'root.pem': root.certPem,
    'inter.pem': inter.certPem,
    'root+inter.pem': root.certPem + inter.certPem,
    'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem,
    'root384.pem': root384.certPem,
    'root384+inter384.pem': root384.certPem + inter384.certPem,
    'inter384.pem': inter384.certPem,
    'leaf384.pem': leaf384.certPem, 'leaf384.key': leaf384.keyPem,
    'rsa-root.pem': rsaRoot.certPem,
    'rsa-leaf.pem': rsaLeaf.certPem, 'rsa-leaf.key': rsaLeaf.keyPem,
    'other-root.pem': otherRoot.certPem,
    'expired.pem': expired.certPem, 'expired.key': expired.keyPem,
    'wrong-host.pem': wrongHost.certPem, 'wrong-host.key': wrongHost.keyPem,
    'name-only.pem': nameOnly.certPem, 'name-only.key': nameOnly.keyPem,
    'self-signed.pem': selfSigned.certPem, 'self-signed.key': selfSigned.keyPem,
  };
  const files = writePki(dir, pem);
  return { dir, files, pem, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

module.exports = { makeDtlsPki };
