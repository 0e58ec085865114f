'use strict';
// test/run.js: every runtime
// The trust decision on every chain of test/support/chain-corpus.js, taken directly by the
// handshake's certificate checks (no network): OpenSSL's verdict through node:tls
// (src/dtls/trust/) and the leaf checks of crypto/certificates.ts. Each case must reach the
// outcome the corpus expects of Node's `tls` (or reject where we are stricter by a documented
// choice, STRICTER), and a rejection must be a certificate DtlsError. differential.test.js proves
// the same decisions end to end against openssl s_server, but takes a minute; this one takes
// seconds, so the mutation check (npm run mutants) can afford to run it for every break of
// src/dtls/trust/.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { parseServerChain, serverPublicKey } = require('../../nodes/lib/dtls/crypto/certificates');
const { checkServerCertificate } = require('../../nodes/lib/dtls/trust/server-certificate');
const { DtlsError } = require('../../nodes/lib/dtls');
const { requirePeer } = require('../support/peers');
const { opensslPki } = require('../support/openssl-pki');
const { buildCorpus, STRICTER } = require('../support/chain-corpus');

const CERT_CODES = new Set(['UNKNOWN_CA', 'CERT_EXPIRED', 'HOST_MISMATCH', 'BAD_CERTIFICATE', 'BAD_SIGNATURE']);

async function decide(pki, c) {
  const der = async (name) => new crypto.X509Certificate(await pki.pem(name)).raw;
  const bundle = (await Promise.all(c.bundle.map((n) => pki.pem(n)))).join('');
  try {
    const chain = parseServerChain(await Promise.all([c.leaf, ...c.chain].map(der)));
    // As the handshake does: the leaf's key must suit the suite, then OpenSSL's verdict.
    serverPublicKey(chain[0], chain[0].publicKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ecdsa');
    const err = await checkServerCertificate(chain, { ca: bundle, identity: c.host, allowPartialChain: c.partial });
    if (err) throw err;
    return { outcome: 'accept' };
  } catch (err) {
    return { outcome: 'reject', code: err instanceof DtlsError ? err.code : 'INTERNAL', message: err.message };
  }
}

test('trust decision: every corpus chain gets the expected outcome, rejections name a certificate error', { timeout: 120000 }, async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const pki = await opensslPki();
  t.after(() => pki.remove());
  const cases = await buildCorpus(pki);
  assert.ok(cases.length >= 60, `corpus has ${cases.length} chains`);
  const problems = [];
  for (const c of cases) {
    const r = await decide(pki, c);
    const expected = STRICTER[c.name] ? 'reject' : c.expect;
    if (r.outcome !== expected) problems.push(`${c.name}: expected ${expected}, got ${r.outcome}${r.code ? ` (${r.code} ${r.message})` : ''}`);
    else if (r.outcome === 'reject' && !CERT_CODES.has(r.code)) problems.push(`${c.name}: rejected with ${r.code}, not a certificate error: ${r.message}`);
  }
  assert.deepEqual(problems, []);
});
