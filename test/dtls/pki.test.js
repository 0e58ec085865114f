'use strict';
// Unit tests of the path validator's parts: DER times, name-constraint matching, strict
// certificate reading (trailing bytes, malformed fields), and that a malformed certificate is
// always a clean certificate DtlsError, never an internal error.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { readTime, readTlv, Asn1Error } = require('../../nodes/lib/dtls/pki/asn1');
const { dnsMatches, ipMatches, emailMatches, uriMatches, checkName, commonNameAsDns } = require('../../nodes/lib/dtls/pki/names');
const { parseCertificate } = require('../../nodes/lib/dtls/pki/certificate');
const { parseCaBundle, parseServerChain, verifyServerChain, serverPublicKey } = require('../../nodes/lib/dtls/crypto/certificates');
const { DtlsError } = require('../../nodes/lib/dtls');
const { requirePeer } = require('../support/peers');
const { opensslPki } = require('../support/openssl-pki');

const CERT_CODES = new Set(['UNKNOWN_CA', 'CERT_EXPIRED', 'HOST_MISMATCH', 'BAD_CERTIFICATE', 'BAD_SIGNATURE']);

function time(tag, text) {
  const body = Buffer.from(text, 'latin1');
  return readTime(readTlv(Buffer.concat([Buffer.from([tag, body.length]), body]), 0));
}
const UTC = 0x17; const GEN = 0x18;

test('DER times: UTCTime years 50-99 are 19YY, 00-49 are 20YY; GeneralizedTime as written', () => {
  assert.equal(new Date(time(UTC, '500101000000Z')).toISOString(), '1950-01-01T00:00:00.000Z');
  assert.equal(new Date(time(UTC, '491231235959Z')).toISOString(), '2049-12-31T23:59:59.000Z');
  assert.equal(new Date(time(UTC, '000229120000Z')).toISOString(), '2000-02-29T12:00:00.000Z');
  assert.equal(new Date(time(GEN, '20500101000000Z')).toISOString(), '2050-01-01T00:00:00.000Z');
  assert.equal(new Date(time(GEN, '19491231235959Z')).toISOString(), '1949-12-31T23:59:59.000Z');
  assert.equal(new Date(time(GEN, '00010101000000Z')).getUTCFullYear(), 1);
});

test('DER times: anything but YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ with a real date is refused', () => {
  const bad = [
    [UTC, '2601010000Z'], [UTC, '260101000000'], [UTC, '260101000000+0100'], [UTC, '261301000000Z'],
    [UTC, '260230000000Z'], [UTC, '250229000000Z'], [UTC, '260101240000Z'], [UTC, '260101006000Z'],
    [UTC, '260101000060Z'], [UTC, '26010100000aZ'], [UTC, '-60101000000Z'], [UTC, '260100000000Z'],
    [GEN, '20260101000000.5Z'], [GEN, '202601010000Z'], [GEN, '2026010100000Z'], [GEN, ' 2026010100000Z'],
    [0x04, '260101000000Z'],
  ];
  for (const [tag, text] of bad) assert.throws(() => time(tag, text), Asn1Error, `${text} must be refused`);
});

test('name constraints, DNS: OpenSSL semantics (suffix on a label boundary; leading dot = below only)', () => {
  assert.equal(dnsMatches('tb.example.com', 'example.com'), true);
  assert.equal(dnsMatches('example.com', 'example.com'), true);
  assert.equal(dnsMatches('TB.Example.COM', 'example.com'), true);
  assert.equal(dnsMatches('tb.example.com', '.example.com'), true);
  assert.equal(dnsMatches('example.com', '.example.com'), false);
  assert.equal(dnsMatches('badexample.com', 'example.com'), false);
  assert.equal(dnsMatches('example.com.evil.net', 'example.com'), false);
  assert.equal(dnsMatches('*.example.com', '.example.com'), true);
  assert.equal(dnsMatches('anything', ''), true);
});

test('name constraints, IP, email, URI', () => {
  const net = (a, m) => Buffer.from([...a, ...m]);
  assert.equal(ipMatches(Buffer.from([127, 0, 0, 1]), net([127, 0, 0, 0], [255, 0, 0, 0])), true);
  assert.equal(ipMatches(Buffer.from([10, 0, 0, 1]), net([127, 0, 0, 0], [255, 0, 0, 0])), false);
  assert.equal(ipMatches(Buffer.from([192, 168, 1, 7]), net([192, 168, 1, 0], [255, 255, 255, 0])), true);
  assert.equal(ipMatches(Buffer.alloc(16), net([0, 0, 0, 0], [0, 0, 0, 0])), false, 'IPv6 address against an IPv4 constraint');
  assert.equal(emailMatches('a@mail.example.com', '.example.com'), true);
  assert.equal(emailMatches('a@example.com', 'example.com'), true);
  assert.equal(emailMatches('a@x.example.com', 'example.com'), false);
  assert.equal(emailMatches('a@example.com', 'b@example.com'), false);
  assert.equal(uriMatches('https://tb.example.com:8080/x', '.example.com'), true);
  assert.equal(uriMatches('https://example.com/', 'example.com'), true);
  assert.equal(uriMatches('https://evil.net/', '.example.com'), false);
});

test('name constraints: permitted needs one match of the same type, excluded none; messages say which', () => {
  const dns = (value) => ({ type: 'dns', value });
  const sub = (base, minMax = false) => ({ base, minMax });
  const nc = { permitted: [sub(dns('.example.org'))], excluded: [] };
  const r = checkName(dns('tb.example.com'), nc);
  assert.equal(r.ok, false);
  assert.match(r.rule, /permit only \.example\.org/);
  assert.equal(checkName(dns('tb.example.org'), nc).ok, true);
  assert.equal(checkName({ type: 'ip', value: Buffer.from([1, 2, 3, 4]) }, nc).ok, true, 'no IP constraint: IPs are free');
  const ex = checkName(dns('a.bad.example.org'), { permitted: [sub(dns('.example.org'))], excluded: [sub(dns('bad.example.org'))] });
  assert.match(ex.rule, /exclude bad\.example\.org/);
  assert.match(checkName(dns('tb.example.org'), { permitted: [sub(dns('.example.org'), true)], excluded: [] }).rule, /minimum\/maximum/);
});

test('a CN counts as a DNS name only if it looks like one', () => {
  assert.equal(commonNameAsDns('tb.example.com'), 'tb.example.com');
  assert.equal(commonNameAsDns('Test Root'), null);
  assert.equal(commonNameAsDns('127.0.0.1'), '127.0.0.1', 'OpenSSL cn2dnsid: a dot makes it DNS-like');
  assert.equal(commonNameAsDns('a..b'), null);
  assert.equal(commonNameAsDns('-a.b'), null);
});

let pki;
let leafDer; let rootPem; let rootDer;
test.before(async () => {
  if (!require('../support/peers').havePeer('openssl')) return;
  pki = await opensslPki();
  pki.key('r', 'ec:P-256'); pki.key('l', 'ec:P-256');
  pki.cert('root', { key: 'r', cn: 'Unit Root', ext: 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n' });
  pki.cert('leaf', { key: 'l', cn: 'tb.example.com', issuer: 'root', ext: 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:tb.example.com\nauthorityKeyIdentifier=keyid\n' });
  rootPem = await pki.pem('root');
  rootDer = new crypto.X509Certificate(rootPem).raw;
  leafDer = new crypto.X509Certificate(await pki.pem('leaf')).raw;
});
test.after(() => pki?.remove());

test('a valid chain verifies; the same chain with bytes after a certificate is refused', (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const anchors = parseCaBundle(rootPem);
  const chain = parseServerChain([leafDer]);
  const path = verifyServerChain(chain, { anchors, identity: 'tb.example.com' });
  assert.equal(path.length, 2);
  assert.throws(() => parseServerChain([Buffer.concat([leafDer, Buffer.from([0])])]), (err) => err instanceof DtlsError && err.code === 'BAD_CERTIFICATE' && /1 byte\(s\) after its DER/.test(err.message));
  assert.throws(() => parseCertificate(Buffer.concat([leafDer, Buffer.from([0x05, 0x00])])), /trailing/);
  assert.throws(() => parseServerChain([]), (err) => err.code === 'BAD_CERTIFICATE');
});

test('a malformed validity time is refused, not skipped', (t) => {
  if (!requirePeer(t, 'openssl')) return;
  // Replace the leaf's notAfter digits (UTCTime "400101000000Z") with letters of the same length.
  const bad = Buffer.from(leafDer);
  const at = bad.indexOf(Buffer.from('400101000000Z', 'latin1'));
  assert.ok(at > 0);
  bad.write('4001010000XXZ', at, 'latin1');
  const chain = parseServerChain([bad]); // OpenSSL still parses it
  assert.throws(() => verifyServerChain(chain, { anchors: parseCaBundle(rootPem), identity: 'tb.example.com' }),
    (err) => err instanceof DtlsError && err.code === 'BAD_CERTIFICATE' && /malformed: time "4001010000XXZ"/.test(err.message));
});

test('every corruption of a certificate ends in a certificate DtlsError, never an internal error', (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const anchors = parseCaBundle(rootPem);
  let rejected = 0; let accepted = 0;
  const tryOne = (der) => {
    try {
      const chain = parseServerChain([der, rootDer]);
      verifyServerChain(chain, { anchors, identity: 'tb.example.com' });
      serverPublicKey(chain[0], 'ecdsa');
      accepted++;
    } catch (err) {
      assert.ok(err instanceof DtlsError, `not a DtlsError: ${err && err.stack}`);
      assert.ok(CERT_CODES.has(err.code), `code ${err.code}: ${err.message}`);
      assert.doesNotMatch(err.message, /internal|undefined|TypeError/i);
      rejected++;
    }
  };
  for (let cut = 0; cut < leafDer.length; cut += 3) tryOne(leafDer.subarray(0, cut));
  let seed = 1;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let i = 0; i < 1500; i++) {
    const der = Buffer.from(leafDer);
    for (let k = 1 + (rnd() % 3); k > 0; k--) der[rnd() % der.length] = rnd() & 0xff;
    if (!der.equals(leafDer)) tryOne(der);
  }
  t.diagnostic(`${rejected} rejected, ${accepted} accepted (a random byte can equal the one it replaces)`);
  assert.equal(accepted, 0, 'a changed certificate must never verify');
});

test('a malformed certificate in the CA bundle is never an anchor, does not spoil the others, and is named when no path is found', (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const bad = Buffer.from(rootDer);
  const at = bad.indexOf(Buffer.from('200101000000Z', 'latin1'));
  bad.write('2001010000X0Z', at, 'latin1');
  const badPem = `-----BEGIN CERTIFICATE-----\n${bad.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  const chain = parseServerChain([leafDer]);
  assert.equal(verifyServerChain(chain, { anchors: parseCaBundle(badPem + rootPem), identity: 'tb.example.com' }).length, 2);
  assert.throws(() => verifyServerChain(chain, { anchors: parseCaBundle(badPem), identity: 'tb.example.com' }),
    (err) => err.code === 'UNKNOWN_CA' && /certificate 1 of the CA bundle \("CN=Unit Root"\) is not used: it is malformed \(time "2001010000X0Z"/.test(err.message));
  assert.throws(() => parseCaBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), (err) => err.code === 'UNKNOWN_CA' && /cannot be read/.test(err.message));
});

test('path building is bounded: 60 certificates that could all issue each other end quickly with a message that says so', () => {
  const { buildAndValidate } = require('../../nodes/lib/dtls/pki/path');
  const fake = (i, subject, issuer) => ({
    der: Buffer.from(`cert-${i}`), subject, issuer, label: `CN=${subject} #${i}`, authorityKeyId: null, subjectKeyId: null,
    notBefore: 0, notAfter: Date.now() + 1e9, x509: { issuer: `CN=${issuer}` },
  });
  const leaf = fake(0, 'leaf', 'x');
  const untrusted = Array.from({ length: 60 }, (_, i) => fake(i + 1, 'x', 'x'));
  const anchors = [fake(100, 'root', 'root')];
  const started = process.hrtime.bigint();
  assert.throws(() => buildAndValidate(leaf, { anchors, untrusted, now: Date.now() }),
    (err) => err instanceof DtlsError && err.code === 'UNKNOWN_CA' && /within 10 certificates \(the chain is too long or loops\)/.test(err.message));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(ms < 2000, `took ${ms} ms (a search that tries every order of 60 certificates would not end)`);
});
