'use strict';
// Known-answer tests for the DTLS crypto: TLS 1.2 PRF (P_SHA256 / P_SHA384, the vectors
// published on the IETF TLS list and reproduced by `openssl kdf ... TLS1-PRF`) and AEAD record
// protection (AES-GCM: McGrew & Viega test case 4; AES-CCM_8: NIST SP 800-38C example 3).
const test = require('node:test');
const assert = require('node:assert/strict');
const { prf, masterSecret, keyBlock, verifyData } = require('../../nodes/lib/dtls/crypto/prf');
const { CIPHER_SUITES, aeadSeal, aeadOpen, additionalData } = require('../../nodes/lib/dtls/crypto/ciphersuites');

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const suite = (id) => CIPHER_SUITES.find((s) => s.id === id);

test('PRF P_SHA256 known answer (100 bytes)', () => {
  const out = prf('sha256', hex('9bbe436ba940f017b17652849a71db35'), 'test label', hex('a0ba9f936cda311827a6f796ffd5198c'), 100);
  assert.equal(out.toString('hex'), 'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66');
});

test('PRF P_SHA384 known answer (148 bytes)', () => {
  const out = prf('sha384', hex('b80b733d6ceefcdc71566ea48e5567df'), 'test label', hex('cd665cf6a8447dd6ff8b27555edb7465'), 148);
  assert.equal(out.toString('hex'), '7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e0990703d73e56f');
});

test('master secret, extended master secret, key block and verify_data are PRF outputs with the RFC labels', () => {
  const pms = Buffer.alloc(32, 7);
  const cr = Buffer.alloc(32, 1);
  const sr = Buffer.alloc(32, 2);
  const sessionHash = Buffer.alloc(32, 3);
  assert.deepEqual(masterSecret('sha256', pms, { extended: false, clientRandom: cr, serverRandom: sr }), prf('sha256', pms, 'master secret', Buffer.concat([cr, sr]), 48));
  assert.deepEqual(masterSecret('sha256', pms, { extended: true, sessionHash, clientRandom: cr, serverRandom: sr }), prf('sha256', pms, 'extended master secret', sessionHash, 48));
  const ms = Buffer.alloc(48, 9);
  const kb = keyBlock('sha384', ms, cr, sr, 32, 4);
  const block = prf('sha384', ms, 'key expansion', Buffer.concat([sr, cr]), 72);
  assert.deepEqual(Buffer.concat([kb.clientKey, kb.serverKey, kb.clientIv, kb.serverIv]), block);
  assert.equal(verifyData('sha256', ms, 'client finished', sessionHash).length, 12);
});

test('AES-128-GCM record protection: McGrew & Viega test case 4', () => {
  const s = suite(0xc02b);
  const key = hex('feffe9928665731c6d6a8f9467308308');
  const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
  const pt = hex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39');
  const sealed = aeadSeal(s, key, hex('cafebabe'), hex('facedbaddecaf888'), aad, pt);
  assert.equal(sealed.toString('hex'),
    'facedbaddecaf888' +
    '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091' +
    '5bc94fbc3221a5db94fae95ae7121a47');
  assert.deepEqual(aeadOpen(s, key, hex('cafebabe'), sealed, () => aad), pt);
});

test('AES-128-CCM_8 record protection: NIST SP 800-38C example 3 (12-byte nonce, 8-byte tag)', () => {
  const s = suite(0xc0ae);
  const key = hex('404142434445464748494a4b4c4d4e4f');
  const aad = hex('000102030405060708090a0b0c0d0e0f10111213');
  const pt = hex('202122232425262728292a2b2c2d2e2f3031323334353637');
  const sealed = aeadSeal(s, key, hex('10111213'), hex('1415161718191a1b'), aad, pt);
  assert.equal(sealed.toString('hex'), '1415161718191a1b' + 'e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5' + '484392fbc1b09951');
  assert.deepEqual(aeadOpen(s, key, hex('10111213'), sealed, () => aad), pt);
});

test('every suite: seal/open round trip, and any flipped bit or wrong AAD is rejected', () => {
  for (const s of CIPHER_SUITES) {
    const key = Buffer.alloc(s.keyLength, 0x42);
    const salt = hex('01020304');
    const pt = Buffer.from(`application data for ${s.name}`);
    const aadFor = (len) => additionalData(1, 5, 23, 0xfefd, len);
    const sealed = aeadSeal(s, key, salt, hex('0001000000000005'), aadFor(pt.length), pt);
    assert.equal(sealed.length, 8 + pt.length + s.tagLength, s.name);
    assert.deepEqual(aeadOpen(s, key, salt, sealed, aadFor), pt, s.name);
    for (let i = 0; i < sealed.length; i += 3) {
      const bad = Buffer.from(sealed);
      bad[i] ^= 0x01;
      assert.equal(aeadOpen(s, key, salt, bad, aadFor), null, `${s.name} byte ${i}`);
    }
    assert.equal(aeadOpen(s, key, salt, sealed, (len) => additionalData(1, 6, 23, 0xfefd, len)), null, `${s.name} other sequence`);
    assert.equal(aeadOpen(s, key, salt, sealed.subarray(0, 10), aadFor), null, `${s.name} truncated`);
  }
});
