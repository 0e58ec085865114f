'use strict';
// test/run.js: every runtime
// The trust decision's own parts: OpenSSL's verdict through node:tls (src/dtls/trust/), the
// handshake's leaf checks (crypto/certificates.ts), and that whatever a server sends ends in a
// clean certificate DtlsError, never an internal one and never an accept.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { parseServerChain, serverPublicKey } = require('../../nodes/lib/dtls/crypto/certificates');
const { verifyChainWithOpenSSL } = require('../../nodes/lib/dtls/trust/openssl-chain');
const { checkServerCertificate } = require('../../nodes/lib/dtls/trust/server-certificate');
const { DtlsError } = require('../../nodes/lib/dtls');
const { requirePeer, havePeer } = require('../support/peers');
const { opensslPki } = require('../support/openssl-pki');

const CERT_CODES = new Set(['UNKNOWN_CA', 'CERT_EXPIRED', 'HOST_MISMATCH', 'BAD_CERTIFICATE']);
const CA = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n';
const LEAF = (ku = 'critical,digitalSignature') => `keyUsage=${ku}\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:tb.example.com\nauthorityKeyIdentifier=keyid\n`;

let pki; let rootPem; let rootDer; let leafDer;
const der = async (name) => new crypto.X509Certificate(await pki.pem(name)).raw;
test.before(async () => {
  if (!havePeer('openssl')) return;
  pki = await opensslPki();
  for (const [k, type] of [['r', 'ec:P-256'], ['l', 'ec:P-256'], ['rsa', 'rsa:2048'], ['k1', 'ec:secp256k1'], ['p521', 'ec:P-521'], ['x', 'ecx:P-256']]) pki.key(k, type);
  pki.cert('root', { key: 'r', cn: 'Unit Root', ext: CA });
  pki.cert('leaf', { key: 'l', cn: 'tb.example.com', issuer: 'root', ext: LEAF() });
  pki.cert('leafNoSign', { key: 'l', cn: 'tb.example.com', issuer: 'root', ext: LEAF('critical,keyAgreement') });
  pki.cert('leafK1', { key: 'k1', cn: 'tb.example.com', issuer: 'root', ext: LEAF() });
  pki.cert('leafP521', { key: 'p521', cn: 'tb.example.com', issuer: 'root', ext: LEAF() });
  pki.cert('leafExplicit', { key: 'x', cn: 'tb.example.com', issuer: 'root', ext: LEAF() });
  pki.cert('rsaRoot', { key: 'rsa', cn: 'Big Root', ext: CA });
  rootPem = await pki.pem('root');
  rootDer = await der('root');
  leafDer = await der('leaf');
});
test.after(() => pki?.remove());

test('a valid chain is trusted; bytes after a certificate, or no certificate, are refused before OpenSSL', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const chain = parseServerChain([leafDer]);
  assert.equal(await checkServerCertificate(chain, { ca: rootPem, identity: 'tb.example.com' }), null);
  assert.throws(() => parseServerChain([Buffer.concat([leafDer, Buffer.from([0])])]), (err) => err instanceof DtlsError && err.code === 'BAD_CERTIFICATE' && /1 byte\(s\) after its DER/.test(err.message));
  assert.throws(() => parseServerChain([]), (err) => err.code === 'BAD_CERTIFICATE');
  const wrongHost = await checkServerCertificate(chain, { ca: rootPem, identity: 'other.example.com' });
  assert.equal(wrongHost.code, 'HOST_MISMATCH');
  assert.match(wrongHost.message, /not valid for "other\.example\.com" \(Host: other\.example\.com\. is not in the cert's altnames: DNS:tb\.example\.com\)/);
});

test("OpenSSL's verdict, not ours: an untrusted chain is refused with its verify code, the host check is node:tls's", async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const other = await pki.pem('rsaRoot');
  assert.deepEqual(await verifyChainWithOpenSSL({ chainDer: [leafDer], ca: rootPem }), { ok: true });
  const r = await verifyChainWithOpenSSL({ chainDer: [leafDer], ca: other });
  assert.equal(r.ok, false);
  assert.equal(r.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  const err = await checkServerCertificate(parseServerChain([leafDer]), { ca: other, identity: 'tb.example.com' });
  assert.equal(err.code, 'UNKNOWN_CA');
  assert.match(err.message, /\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\).*for "CN=tb\.example\.com".*no CA in the configured CA certificate issued "CN=tb\.example\.com" \(its issuer is "CN=Unit Root"\)/);
  // A Certificate message OpenSSL refuses before verifying (no verdict was reached): refused.
  for (const junk of [Buffer.from([0x30, 0x03, 1, 2, 3]), Buffer.from([0x30, 0x00])]) {
    const v = await verifyChainWithOpenSSL({ chainDer: [leafDer, junk], ca: rootPem });
    assert.equal(v.ok, false);
    assert.equal(v.code, 'TLS_VERIFIER');
    assert.match(v.message, /OpenSSL refused the certificate message/);
  }
  // A CA bundle with the leaf's root among others; partial chains: the leaf pinned alone.
  assert.deepEqual(await verifyChainWithOpenSSL({ chainDer: [leafDer], ca: other + rootPem }), { ok: true });
  assert.equal((await verifyChainWithOpenSSL({ chainDer: [leafDer], ca: await pki.pem('leaf') })).ok, false);
  assert.deepEqual(await verifyChainWithOpenSSL({ chainDer: [leafDer], ca: await pki.pem('leaf'), allowPartialChain: true }), { ok: true });
});

test('a chain larger than one TLS record (16 KB) is split across records and verified whole', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const big = await der('rsaRoot');
  const padding = Array.from({ length: Math.ceil(20000 / big.length) }, () => big);
  const chainDer = [leafDer, ...padding, rootDer];
  assert.ok(chainDer.reduce((n, d) => n + d.length, 0) > 16384);
  assert.deepEqual(await verifyChainWithOpenSSL({ chainDer, ca: rootPem }), { ok: true });
  assert.equal((await verifyChainWithOpenSSL({ chainDer, ca: await pki.pem('rsaRoot') })).ok, false);
});

test('verifications run side by side each get their own verdict', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const other = await pki.pem('rsaRoot');
  const runs = Array.from({ length: 24 }, (_, i) => verifyChainWithOpenSSL({ chainDer: [leafDer], ca: i % 3 ? rootPem : other }));
  const verdicts = await Promise.all(runs);
  verdicts.forEach((v, i) => assert.equal(v.ok, i % 3 !== 0, `run ${i}: ${JSON.stringify(v)}`));
});

test("the handshake's own leaf checks: a curve we did not offer, no digitalSignature, a key the suite cannot use", async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const refuse = async (name, auth, re) => {
    const [leaf] = parseServerChain([await der(name)]);
    assert.throws(() => serverPublicKey(leaf, auth), (err) => err instanceof DtlsError && err.code === 'BAD_CERTIFICATE' && re.test(err.message), name);
  };
  await refuse('leafK1', 'ecdsa', /key on secp256k1, which we did not offer/);
  await refuse('leafP521', 'ecdsa', /key on secp521r1, which we did not offer/);
  await refuse('leafNoSign', 'ecdsa', /keyUsage lacks digitalSignature/);
  await refuse('leaf', 'rsa', /has a ec key but the negotiated cipher suite needs RSA/);
  // OpenSSL itself trusts the secp256k1 leaf's chain: the curve is a handshake rule, not a chain rule.
  assert.deepEqual(await verifyChainWithOpenSSL({ chainDer: [await der('leafK1')], ca: rootPem }), { ok: true });
  assert.ok(serverPublicKey(parseServerChain([leafDer])[0], 'ecdsa'));
  // A leaf with explicit curve parameters: OpenSSL refuses its chain.
  const explicit = await verifyChainWithOpenSSL({ chainDer: [await der('leafExplicit')], ca: rootPem });
  assert.equal(explicit.ok, false);
  assert.match(explicit.message, /explicit/i);
});

test('every corruption of a certificate ends in a certificate DtlsError, never an internal error, never an accept', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  let rejected = 0; let accepted = 0;
  const tryOne = async (bytes) => {
    try {
      const chain = parseServerChain([bytes, rootDer]);
      serverPublicKey(chain[0], 'ecdsa');
      const err = await checkServerCertificate(chain, { ca: rootPem, identity: 'tb.example.com' });
      if (err) throw err;
      accepted++;
    } catch (err) {
      assert.ok(err instanceof DtlsError, `not a DtlsError: ${err && err.stack}`);
      assert.ok(CERT_CODES.has(err.code), `code ${err.code}: ${err.message}`);
      assert.doesNotMatch(err.message, /internal|undefined|TypeError/i);
      rejected++;
    }
  };
  for (let cut = 0; cut < leafDer.length; cut += 7) await tryOne(leafDer.subarray(0, cut));
  let seed = 1;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let i = 0; i < 300; i++) {
    const bytes = Buffer.from(leafDer);
    for (let k = 1 + (rnd() % 3); k > 0; k--) bytes[rnd() % bytes.length] = rnd() & 0xff;
    if (!bytes.equals(leafDer)) await tryOne(bytes);
  }
  t.diagnostic(`${rejected} rejected, ${accepted} accepted`);
  assert.equal(accepted, 0, 'a changed certificate must never verify');
});
