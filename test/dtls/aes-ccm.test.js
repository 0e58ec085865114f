'use strict';
// AES-CCM built from two persistent AES objects (src/dtls/crypto/aes-ccm.ts) must be exactly
// node:crypto's 'aes-128-ccm' / 'aes-256-ccm' (OpenSSL's CCM): same ciphertext and tag for every
// key, nonce, additional data and length, record after record on one object (the CBC
// encryptor's chaining value carries over between records), and every tampered tag, ciphertext
// byte, additional data or nonce must fail to open.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { seededRandom: prng } = require('../support/seeded-random');
const { AesCcm } = require('../../nodes/lib/dtls/crypto/aes-ccm');
const { RecordKey, CIPHER_SUITES, additionalData } = require('../../nodes/lib/dtls/crypto/ciphersuites');

function bytes(rand, n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}
// OpenSSL reads a CCM update with a null data pointer as "set the length": give it a real one.
const EMPTY = Buffer.alloc(1).subarray(0, 0);

function referenceSeal(keyBytes, tagLength, nonce, aad, plaintext) {
  const c = crypto.createCipheriv(`aes-${keyBytes.length * 8}-ccm`, keyBytes, nonce, { authTagLength: tagLength });
  c.setAAD(aad.length ? aad : EMPTY, { plaintextLength: plaintext.length });
  return Buffer.concat([c.update(plaintext.length ? plaintext : EMPTY), c.final(), c.getAuthTag()]);
}

function sealWith(ccm, nonce, aad, plaintext) {
  const out = Buffer.alloc(plaintext.length + ccm.tagLength);
  ccm.sealInto(nonce, aad, plaintext, out, 0);
  return out;
}
function openWith(ccm, nonce, aad, sealed) {
  const n = sealed.length - ccm.tagLength;
  return ccm.open(nonce, aad, sealed.subarray(0, n), sealed.subarray(n));
}

test('AES-CCM from ECB + CBC equals node:crypto aes-128/256-ccm, tags 8 and 16, on 4,000 random records (lengths 0..1500) per object chain', () => {
  const rand = prng(0xcc3a);
  let records = 0;
  for (const keyLength of [16, 32]) {
    for (const tagLength of [8, 16]) {
      for (let k = 0; k < 25; k++) {
        const key = bytes(rand, keyLength);
        const sealer = new AesCcm(key, tagLength);
        const opener = new AesCcm(key, tagLength);
        for (let r = 0; r < 40; r++) {
          const nonce = bytes(rand, 12);
          // DTLS's additional data is 13 bytes; other lengths (0, one and two AAD blocks) check the encoding.
          const aadLength = r % 4 === 0 ? Math.floor(rand() * 40) : 13;
          const aad = bytes(rand, aadLength);
          const length = r % 5 === 0 ? Math.floor(rand() * 33) : Math.floor(rand() * 1501);
          const plaintext = bytes(rand, length);
          const expected = referenceSeal(key, tagLength, nonce, aad, plaintext);
          const sealed = sealWith(sealer, nonce, aad, plaintext);
          assert.equal(sealed.toString('hex'), expected.toString('hex'), `key ${keyLength * 8}, tag ${tagLength}, aad ${aadLength}, length ${length}, record ${r}`);
          assert.deepEqual(openWith(opener, nonce, aad, sealed), plaintext);
          records++;
        }
      }
    }
  }
  assert.equal(records, 4000);
});

test('AES-CCM: a tampered tag, ciphertext byte, additional data or nonce does not open, and the next genuine record still does', () => {
  const rand = prng(0x7a3b);
  for (const [keyLength, tagLength] of [[16, 16], [16, 8], [32, 16], [32, 8]]) {
    const key = bytes(rand, keyLength);
    const ccm = new AesCcm(key, tagLength);
    for (let r = 0; r < 60; r++) {
      const nonce = bytes(rand, 12);
      const aad = bytes(rand, 13);
      const plaintext = bytes(rand, Math.floor(rand() * 300));
      const sealed = referenceSeal(key, tagLength, nonce, aad, plaintext);
      const at = Math.floor(rand() * sealed.length);
      const flipped = Buffer.from(sealed);
      flipped[at] ^= 1 << Math.floor(rand() * 8);
      assert.equal(openWith(ccm, nonce, aad, flipped), null, `bit flipped in byte ${at} of ${sealed.length}`);
      const otherAad = Buffer.from(aad);
      otherAad[Math.floor(rand() * 13)] ^= 0x80;
      assert.equal(openWith(ccm, nonce, otherAad, sealed), null, 'other additional data');
      const otherNonce = Buffer.from(nonce);
      otherNonce[Math.floor(rand() * 12)] ^= 0x01;
      assert.equal(openWith(ccm, otherNonce, aad, sealed), null, 'other nonce');
      assert.equal(ccm.open(nonce, aad, sealed.subarray(0, plaintext.length), sealed.subarray(plaintext.length + 1)), null, 'short tag');
      assert.deepEqual(openWith(ccm, nonce, aad, sealed), plaintext, 'the genuine record after forged ones');
    }
  }
});

test('AES-CCM: a 13-byte nonce, a 24-byte key or a 12-byte tag is refused (DTLS uses 12-byte nonces, 16/32-byte keys, 8/16-byte tags)', () => {
  const ccm = new AesCcm(Buffer.alloc(16), 16);
  assert.throws(() => sealWith(ccm, Buffer.alloc(13), Buffer.alloc(13), Buffer.alloc(4)), /12 bytes/);
  assert.throws(() => new AesCcm(Buffer.alloc(24), 16), /16 or 32 bytes/);
  assert.throws(() => new AesCcm(Buffer.alloc(16), 12), /8 or 16 bytes/);
});

test('RecordKey with each CCM suite: interleaved seal and open on one key pair match node:crypto record by record', () => {
  const rand = prng(0x5eed);
  for (const suite of CIPHER_SUITES.filter((s) => s.mode === 'ccm')) {
    const key = bytes(rand, suite.keyLength);
    const salt = bytes(rand, 4);
    const writer = new RecordKey(suite, key, salt);
    const reader = new RecordKey(suite, key, salt);
    for (let seq = 0; seq < 200; seq++) {
      const plaintext = bytes(rand, Math.floor(rand() * 1200));
      const aad = additionalData(1, seq, 23, 0xfefd, plaintext.length);
      const body = Buffer.alloc(8 + plaintext.length + suite.tagLength);
      body.writeUInt16BE(1, 0);
      body.writeUIntBE(seq, 2, 6);
      writer.sealInto(body, 0, aad, plaintext);
      const expected = referenceSeal(key, suite.tagLength, Buffer.concat([salt, body.subarray(0, 8)]), aad, plaintext);
      assert.equal(body.subarray(8).toString('hex'), expected.toString('hex'), `${suite.name} record ${seq}`);
      assert.deepEqual(reader.open(body, aad), plaintext, `${suite.name} record ${seq} opens`);
      if (seq % 7 === 0) {
        body[body.length - 1] ^= 1;
        assert.equal(reader.open(body, aad), null, `${suite.name} record ${seq} with a flipped tag bit`);
      }
    }
  }
});

test('AES-CCM: block-boundary and extreme lengths (0, 1, 15, 16, 17, 31, 32, 33, 1500, 16384) in a row on one object, shrinking and growing', () => {
  const rand = prng(0xb10c);
  for (const [keyLength, tagLength] of [[16, 16], [32, 8]]) {
    const key = bytes(rand, keyLength);
    const ccm = new AesCcm(key, tagLength);
    for (const length of [0, 1, 15, 16, 17, 31, 32, 33, 1500, 16384, 0, 17, 16384, 1]) {
      const nonce = bytes(rand, 12);
      const aad = bytes(rand, 13);
      const plaintext = bytes(rand, length);
      const sealed = sealWith(ccm, nonce, aad, plaintext);
      assert.equal(sealed.toString('hex'), referenceSeal(key, tagLength, nonce, aad, plaintext).toString('hex'), `length ${length}`);
      assert.deepEqual(openWith(ccm, nonce, aad, sealed), plaintext, `length ${length} opens`);
    }
  }
});

test('AES-CCM: a flip of any single bit of the tag, at every tag byte, does not open (the compare covers all 8 or 16 bytes)', () => {
  const rand = prng(0x7a9);
  for (const tagLength of [8, 16]) {
    const key = bytes(rand, 16);
    const ccm = new AesCcm(key, tagLength);
    const nonce = bytes(rand, 12);
    const aad = bytes(rand, 13);
    const plaintext = bytes(rand, 110);
    const sealed = referenceSeal(key, tagLength, nonce, aad, plaintext);
    for (let at = plaintext.length; at < sealed.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const forged = Buffer.from(sealed);
        forged[at] ^= 1 << bit;
        assert.equal(openWith(ccm, nonce, aad, forged), null, `tag byte ${at - plaintext.length} bit ${bit} of ${tagLength}`);
      }
    }
    assert.deepEqual(openWith(ccm, nonce, aad, sealed), plaintext);
  }
});

test('AES-CCM openAt: ciphertext and tag read in place from a record body; a body whose tag is short or long does not open', () => {
  const rand = prng(0x0a7);
  const key = bytes(rand, 16);
  const ccm = new AesCcm(key, 16);
  const nonce = bytes(rand, 12);
  const aad = bytes(rand, 13);
  const plaintext = bytes(rand, 57);
  const body = Buffer.concat([bytes(rand, 8), referenceSeal(key, 16, nonce, aad, plaintext)]);
  assert.deepEqual(ccm.openAt(nonce, aad, body, 8, 57), plaintext);
  assert.equal(ccm.openAt(nonce, aad, body, 8, 56), null, 'a 17-byte tag');
  assert.equal(ccm.openAt(nonce, aad, body, 8, 58), null, 'a 15-byte tag');
  assert.equal(ccm.openAt(nonce, aad, Buffer.concat([body, Buffer.alloc(1)]), 8, 57), null, 'a byte after the tag');
  assert.equal(ccm.openAt(nonce, aad, body, -1, 66), null, 'starting before the body');
  assert.deepEqual(ccm.openAt(nonce, aad, body, 8, 57), plaintext, 'the genuine record after those');
});

/** A DTLS record nonce: salt (4) || epoch (2) || sequence number (6). */
function recordNonce(salt, epoch, sequence) {
  const nonce = Buffer.alloc(12);
  salt.copy(nonce, 0);
  nonce.writeUInt16BE(epoch, 4);
  nonce.writeUIntBE(sequence, 6, 6);
  return nonce;
}

test('AES-CCM keystream computed ahead: DTLS nonces in sequence, across windows, byte carries, gaps, going back, epoch changes and lengths past the window equal node:crypto', () => {
  const rand = prng(0xa4ead);
  // Where the sequence number's bytes carry (2^8, 2^24, 2^32, 2^40) and just below 2^48: the window is written byte by byte.
  const starts = [0, 250, 0xfffff8, 0xfffffffa, 0xfffffffffc, 2 ** 48 - 40]; // the last one ends at 2^48 - 1
  for (const [keyLength, tagLength] of [[16, 16], [16, 8], [32, 16]]) {
    const key = bytes(rand, keyLength);
    const salt = bytes(rand, 4);
    const sealer = new AesCcm(key, tagLength);
    const opener = new AesCcm(key, tagLength);
    let records = 0;
    const check = (epoch, sequence, length, what) => {
      const nonce = recordNonce(salt, epoch, sequence);
      const aad = bytes(rand, 13);
      const plaintext = bytes(rand, length);
      const sealed = sealWith(sealer, nonce, aad, plaintext);
      assert.equal(sealed.toString('hex'), referenceSeal(key, tagLength, nonce, aad, plaintext).toString('hex'), `${what}: epoch ${epoch}, sequence ${sequence}, length ${length}`);
      assert.deepEqual(openWith(opener, nonce, aad, sealed), plaintext, `${what}: opens`);
      records++;
    };
    for (const start of starts) {
      // Short records (a window of 2-block records), then longer ones (wider windows), within and across windows.
      for (let i = 0; i < 40; i++) check(1, start + i, i < 20 ? Math.floor(rand() * 17) : Math.floor(rand() * 240), 'in sequence');
    }
    // Gaps and going back: a sequence number before the window, one far after it, one inside it again.
    for (const sequence of [100, 101, 96, 97, 103, 5000, 5002, 5001, 4999, 5001]) check(1, sequence, 60, 'out of order');
    // The same sequence numbers in another epoch (another nonce prefix), and back.
    for (const [epoch, sequence] of [[2, 5003], [2, 5004], [1, 5005], [3, 5006], [3, 5007]]) check(epoch, sequence, 100, 'epoch change');
    // A record longer than a window record (it gets its own keystream), between short ones.
    for (const [sequence, length] of [[6000, 30], [6001, 241], [6002, 30], [6003, 1500], [6004, 16], [6005, 0]]) check(1, sequence, length, 'long record');
    assert.equal(records, starts.length * 40 + 21);
  }
});

test('AES-CCM keystream ahead: a salt that differs only in one byte gets its own keystream (the whole salt and epoch are compared)', () => {
  const rand = prng(0x5a17);
  const key = bytes(rand, 16);
  const ccm = new AesCcm(key, 16);
  const salt = bytes(rand, 4);
  for (let byte = 0; byte < 6; byte++) {
    const first = recordNonce(salt, 1, 700 + 10 * byte);
    const second = Buffer.from(first);
    second[byte] ^= 0x10;
    second.writeUIntBE(701 + 10 * byte, 6, 6); // inside the first nonce's window
    for (const nonce of [first, second]) {
      const aad = bytes(rand, 13);
      const plaintext = bytes(rand, 48);
      assert.equal(sealWith(ccm, nonce, aad, plaintext).toString('hex'), referenceSeal(key, 16, nonce, aad, plaintext).toString('hex'), `nonce byte ${byte} differs`);
    }
  }
});
