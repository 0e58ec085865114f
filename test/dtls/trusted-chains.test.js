'use strict';
// OpenSSL's "trusted" verdict on a server chain is reused for the same bytes, the same CA bundle
// and the same partial-chain flag (src/dtls/trust/trusted-chains.ts), while every certificate is
// within its dates and for at most TTL_MS; a refusal, another bundle, another chain or another
// flag asks OpenSSL again, and the host name is checked every time. Whether OpenSSL was asked is
// counted on the module's export, which server-certificate.ts calls through.
const test = require('node:test');
const assert = require('node:assert/strict');
const { X509Certificate } = require('node:crypto');
const chainModule = require('../../nodes/lib/dtls/trust/openssl-chain');
const { checkServerCertificate } = require('../../nodes/lib/dtls/trust/server-certificate');
const { TTL_MS, forgetTrustedChains } = require('../../nodes/lib/dtls/trust/trusted-chains');
const { parseServerChain } = require('../../nodes/lib/dtls/crypto/certificates');
const { createCA, createLeaf } = require('../support/pki');

const DAY = 24 * 3600 * 1000;
let root; let otherRoot; let leaf; let shortLeaf;
const chainOf = (cert) => parseServerChain([new X509Certificate(cert.certPem).raw]);

let asked = 0;
const original = chainModule.verifyChainWithOpenSSL;
test.before(async () => {
  root = await createCA({ name: 'Cache Root' });
  otherRoot = await createCA({ name: 'Other Root' });
  leaf = await createLeaf({ issuer: root });
  // Valid for one more minute only: shorter than TTL_MS.
  shortLeaf = await createLeaf({ issuer: root, notAfter: new Date(Date.now() + 60 * 1000) });
  chainModule.verifyChainWithOpenSSL = (input) => { asked++; return original(input); };
});
test.after(() => { chainModule.verifyChainWithOpenSSL = original; });
test.beforeEach(() => { forgetTrustedChains(); asked = 0; });

function withClock(at, fn) {
  const now = Date.now;
  Date.now = () => at;
  return Promise.resolve().then(fn).finally(() => { Date.now = now; });
}

test('a chain OpenSSL trusted is trusted again without asking it; the host name is still checked', async () => {
  const chain = chainOf(leaf);
  assert.equal(await checkServerCertificate(chain, { ca: root.certPem, identity: 'localhost' }), null);
  assert.equal(asked, 1);
  // A later handshake parses the same bytes again: a fresh chain, the same verdict.
  assert.equal(await checkServerCertificate(chainOf(leaf), { ca: root.certPem, identity: 'localhost' }), null);
  assert.equal(asked, 1, 'OpenSSL was asked again for the same chain and bundle');
  const wrongHost = await checkServerCertificate(chain, { ca: root.certPem, identity: 'tb.example.com' });
  assert.equal(wrongHost?.code, 'HOST_MISMATCH');
});

test('another CA bundle, another flag or another chain asks OpenSSL again; a refusal is never remembered', async () => {
  const chain = chainOf(leaf);
  assert.equal(await checkServerCertificate(chain, { ca: root.certPem, identity: 'localhost' }), null);
  // The same chain with a bundle that did not issue it: OpenSSL refuses it, every time.
  for (let i = 0; i < 2; i++) {
    const err = await checkServerCertificate(chain, { ca: otherRoot.certPem, identity: 'localhost' });
    assert.equal(err?.code, 'UNKNOWN_CA', `attempt ${i + 1}`);
  }
  assert.equal(asked, 3);
  assert.equal(await checkServerCertificate(chain, { ca: root.certPem, identity: 'localhost', allowPartialChain: true }), null);
  assert.equal(asked, 4, 'the partial-chain flag is part of what OpenSSL decided on');
  assert.equal(await checkServerCertificate(chainOf(shortLeaf), { ca: root.certPem, identity: 'localhost' }), null);
  assert.equal(asked, 5, 'another leaf was taken for the remembered one');
});

test('a remembered verdict lasts at most TTL_MS, and never past a certificate\'s end of validity', async () => {
  const chain = chainOf(leaf);
  const start = Date.now();
  await withClock(start, () => checkServerCertificate(chain, { ca: root.certPem, identity: 'localhost' }));
  await withClock(start + TTL_MS - 1000, () => checkServerCertificate(chain, { ca: root.certPem, identity: 'localhost' }));
  assert.equal(asked, 1);
  await withClock(start + TTL_MS + 1000, () => checkServerCertificate(chain, { ca: root.certPem, identity: 'localhost' }));
  assert.equal(asked, 2, 'reused after TTL_MS');

  const short = chainOf(shortLeaf);
  const end = Date.parse(short[0].validTo);
  assert.ok(end - Date.now() < TTL_MS, 'the short leaf ends before TTL_MS');
  await withClock(end - 30 * 1000, () => checkServerCertificate(short, { ca: root.certPem, identity: 'localhost' }));
  assert.equal(asked, 3);
  await withClock(end - 10 * 1000, () => checkServerCertificate(short, { ca: root.certPem, identity: 'localhost' }));
  assert.equal(asked, 3, 'within its dates: remembered');
  await withClock(end + 1000, () => checkServerCertificate(short, { ca: root.certPem, identity: 'localhost' }));
  assert.equal(asked, 4, 'reused after the leaf expired');
  // A verdict taken while the clock stood before a certificate's start is not reused either.
  await withClock(start - 2 * DAY, () => checkServerCertificate(chain, { ca: root.certPem, identity: 'localhost' }));
  assert.equal(asked, 5, 'reused before the chain is valid');
});

test('parsed certificates are shared by their bytes: another certificate of the same length is parsed anew', async () => {
  const a = chainOf(leaf)[0];
  assert.equal(chainOf(leaf)[0], a, 'the same bytes give the same parsed certificate');
  let other;
  for (let i = 0; i < 20 && !other; i++) {
    const candidate = await createLeaf({ issuer: root });
    if (new X509Certificate(candidate.certPem).raw.length === a.raw.length) other = candidate;
  }
  assert.ok(other, 'no leaf of the same DER length in 20 tries');
  const b = chainOf(other)[0];
  assert.deepEqual(b.raw, new X509Certificate(other.certPem).raw);
  assert.notDeepEqual(b.raw, a.raw);
});

test('a CA bundle read once does not vouch for another one: an unreadable bundle is still refused', async () => {
  const { connectDtls } = require('../../nodes/lib/dtls');
  // Port 0 fails after the bundle checks, before any socket.
  await assert.rejects(connectDtls({ host: '127.0.0.1', port: 0, ca: root.certPem }), (err) => err.code === 'NETWORK');
  const broken = root.certPem.replace(/(-----BEGIN CERTIFICATE-----\n)(.{8})/, '$1AAAAAAAA');
  await assert.rejects(connectDtls({ host: '127.0.0.1', port: 0, ca: broken }), (err) => err.code === 'UNKNOWN_CA' && /cannot be read/.test(err.message));
});
