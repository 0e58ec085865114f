'use strict';
// The emulator's own little PKI: a CA and a server certificate for 127.0.0.1 / localhost,
// made at first start into .emulator/ (git-ignored) and reused afterwards, so a user pastes the
// CA into the config node once. Regenerated when missing, unreadable or about to expire.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { createCA, createLeaf, writePki } = require('../test/support/pki');

const FILES = { ca: 'ca.pem', cert: 'server.pem', key: 'server.key' };
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

function readIfValid(dir) {
  try {
    const caPem = fs.readFileSync(path.join(dir, FILES.ca), 'utf8');
    const certPem = fs.readFileSync(path.join(dir, FILES.cert), 'utf8');
    const keyPem = fs.readFileSync(path.join(dir, FILES.key), 'utf8');
    const ca = new crypto.X509Certificate(caPem);
    const leaf = new crypto.X509Certificate(certPem);
    const soon = Date.now() + RENEW_BEFORE_MS;
    if (Date.parse(leaf.validTo) < soon || Date.parse(ca.validTo) < soon) return null;
    if (!leaf.verify(ca.publicKey) || !leaf.checkPrivateKey(crypto.createPrivateKey(keyPem))) return null;
    if (!leaf.checkIP('127.0.0.1')) return null;
    return { caPem, certPem, keyPem };
  } catch {
    return null; // missing or damaged: make new ones
  }
}

/**
 * The CA and server certificate in `dir`, generated when needed.
 * @returns {Promise<{caFile: string, certFile: string, keyFile: string, caPem: string, certPem: string, keyPem: string, created: boolean}>}
 */
async function ensureCerts(dir) {
  const files = {
    caFile: path.join(dir, FILES.ca),
    certFile: path.join(dir, FILES.cert),
    keyFile: path.join(dir, FILES.key),
  };
  const existing = readIfValid(dir);
  if (existing) return { ...files, ...existing, created: false };

  const ca = await createCA({ name: 'ThingsBoard emulator CA (local, for testing only)', keyType: 'ec-p256', hash: 'SHA-256' });
  const leaf = await createLeaf({
    issuer: ca,
    keyType: 'ec-p256',
    hash: 'SHA-256',
    commonName: 'localhost',
    dnsNames: ['localhost'],
    ips: ['127.0.0.1', '::1'],
  });
  writePki(dir, { [FILES.ca]: ca.certPem, [FILES.cert]: leaf.certPem, [FILES.key]: leaf.keyPem });
  // The CA is public (the user pastes it into Node-RED); only the key stays private.
  fs.chmodSync(files.caFile, 0o644);
  fs.chmodSync(files.certFile, 0o644);
  return { ...files, caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem, created: true };
}

module.exports = { ensureCerts };
