'use strict';
// Test PKI: CAs, intermediates and server leaves made with @peculiar/x509 on node's webcrypto.
// Keys are generated with node:crypto and written as PKCS#8 PEM, which OpenSSL 3 (mosquitto,
// libcoap, s_server) and GnuTLS load. Every function is async.
//
//   const root = await createCA({ name: 'Test Root', keyType: 'ec-p256', hash: 'SHA-256' });
//   const inter = await createCA({ name: 'Test Intermediate', keyType: 'ec-p256', issuer: root });
//   const leaf = await createLeaf({ issuer: inter, keyType: 'ec-p256', commonName: 'localhost' });
//   writePki(dir, { 'ca.pem': root.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem });
//
// Each result is { certPem, keyPem, keyType, hash, ... } and can be an `issuer` for the next one.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

// @peculiar/x509 (through tsyringe) needs the Reflect metadata API; rather than add a polyfill
// dependency, a small WeakMap-backed version of the three calls it makes is installed here.
if (typeof Reflect.getMetadata !== 'function') {
  const store = new WeakMap();
  const mapFor = (target, create) => {
    let map = store.get(target);
    if (!map && create) store.set(target, (map = new Map()));
    return map;
  };
  const keyOf = (key, prop) => `${String(prop)}\u0000${String(key)}`;
  Reflect.defineMetadata = (key, value, target, prop) => { mapFor(target, true).set(keyOf(key, prop), value); };
  Reflect.getOwnMetadata = (key, target, prop) => mapFor(target, false)?.get(keyOf(key, prop));
  Reflect.getMetadata = (key, target, prop) => {
    for (let t = target; t; t = Object.getPrototypeOf(t)) {
      const map = mapFor(t, false);
      if (map && map.has(keyOf(key, prop))) return map.get(keyOf(key, prop));
    }
    return undefined;
  };
}
const x509 = require('@peculiar/x509');

x509.cryptoProvider.set(crypto.webcrypto);
const subtle = crypto.webcrypto.subtle;

const DAY = 24 * 3600 * 1000;

function generateKeyPair(keyType) {
  switch (keyType) {
    case 'ec-p256': return crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    case 'ec-p384': return crypto.generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    case 'rsa-2048': return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    default: throw new Error(`pki: unknown keyType ${keyType} (ec-p256, ec-p384, rsa-2048)`);
  }
}

/** The webcrypto signing key and algorithm for an issuer's private key with a chosen hash. */
async function signerFor(privateKey, keyType, hash) {
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  if (keyType === 'rsa-2048') {
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash };
    return { signingKey: await subtle.importKey('pkcs8', der, alg, false, ['sign']), signingAlgorithm: alg };
  }
  const namedCurve = keyType === 'ec-p384' ? 'P-384' : 'P-256';
  const key = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve }, false, ['sign']);
  return { signingKey: key, signingAlgorithm: { name: 'ECDSA', hash } };
}

function randomSerial() {
  const bytes = crypto.randomBytes(12);
  bytes[0] &= 0x7f; // positive INTEGER
  bytes[0] |= 0x10; // no leading zero byte
  return bytes.toString('hex');
}

function spkiDer(publicKey) {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength);
}

async function issue({ subject, issuer, keyType, hash, notBefore, notAfter, extensions, keyPair }) {
  const pair = keyPair || generateKeyPair(keyType);
  const signer = issuer || { keyObject: pair.privateKey, keyType, subject };
  const { signingKey, signingAlgorithm } = await signerFor(signer.keyObject, signer.keyType, hash);
  const subjectKeyId = await x509.SubjectKeyIdentifierExtension.create(spkiDer(pair.publicKey));
  const extensionsAll = [...extensions, subjectKeyId];
  if (issuer) {
    extensionsAll.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.cert));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: issuer ? issuer.subject : subject,
    notBefore: notBefore || new Date(Date.now() - DAY),
    notAfter: notAfter || new Date(Date.now() + 365 * DAY),
    publicKey: spkiDer(pair.publicKey),
    signingKey,
    signingAlgorithm,
    extensions: extensionsAll,
  });
  return {
    cert,
    subject,
    keyType,
    hash,
    keyObject: pair.privateKey,
    certPem: cert.toString('pem') + '\n',
    keyPem: pair.privateKey.export({ format: 'pem', type: 'pkcs8' }),
  };
}

function escapeDn(value) {
  return String(value).replace(/([,+"\\<>;=])/g, '\\$1');
}

/**
 * A CA certificate (self-signed root, or an intermediate when `issuer` is given).
 * @param {{name: string, keyType?: string, hash?: string, issuer?: object, notBefore?: Date, notAfter?: Date}} opts
 */
async function createCA({ name, keyType = 'ec-p256', hash = 'SHA-256', issuer, notBefore, notAfter }) {
  return issue({
    subject: `CN=${escapeDn(name)}, O=node-red-contrib-thingsboard-device tests`,
    issuer,
    keyType,
    hash,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
}

/**
 * A server leaf: serverAuth EKU, digitalSignature (+ keyEncipherment for RSA) key usage, SANs.
 * Without an issuer the leaf is self-signed.
 */
async function createLeaf({
  issuer, keyType = 'ec-p256', hash = 'SHA-256', commonName = 'localhost',
  dnsNames = ['localhost'], ips = ['127.0.0.1'], notBefore, notAfter,
  keyUsage, extKeyUsage,
}) {
  const usage = keyUsage !== undefined ? keyUsage
    : x509.KeyUsageFlags.digitalSignature | (keyType === 'rsa-2048' ? x509.KeyUsageFlags.keyEncipherment : 0);
  const names = [
    ...dnsNames.map((value) => ({ type: 'dns', value })),
    ...ips.map((value) => ({ type: 'ip', value })),
  ];
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension(extKeyUsage || [x509.ExtendedKeyUsage.serverAuth], false),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  return issue({
    subject: `CN=${escapeDn(commonName)}, O=node-red-contrib-thingsboard-device tests`,
    issuer,
    keyType,
    hash,
    notBefore,
    notAfter,
    extensions,
  });
}

/** Writes { 'file.pem': pemText, ... } into dir (created if needed); returns { file: fullPath }. */
function writePki(dir, files) {
  fs.mkdirSync(dir, { recursive: true });
  const out = {};
  for (const [name, text] of Object.entries(files)) {
    const full = path.join(dir, name);
    fs.writeFileSync(full, text, { mode: 0o600 });
    out[name] = full;
  }
  return out;
}

module.exports = { createCA, createLeaf, writePki };
