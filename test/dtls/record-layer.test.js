'use strict';
// The per-record hot path: the anti-replay window on two 32-bit words (shifts across the word
// boundary, sequence numbers near 2^48, checked against a plain Set model), and the record
// layer's in-place sealing checked against node:crypto used directly.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { seededRandom: prng } = require('../support/seeded-random');
const { ReplayWindow } = require('../../nodes/lib/dtls/replay-window');
const { RecordLayer } = require('../../nodes/lib/dtls/record-layer');
const { encodeRecord, parseDatagram } = require('../../nodes/lib/dtls/protocol/record');
const { CIPHER_SUITES, additionalData } = require('../../nodes/lib/dtls/crypto/ciphersuites');
const { DtlsError } = require('../../nodes/lib/dtls/errors');

const MAX_SEQ = 2 ** 48 - 1;

/** What the window must answer, by definition: new, or within `size` of the highest and unseen. */
class ModelWindow {
  constructor(size = 64) { this.size = size; this.highest = -1; this.seen = new Set(); }
  check(seq) { return seq > this.highest || (this.highest - seq < this.size && !this.seen.has(seq)); }
  mark(seq) { this.seen.add(seq); if (seq > this.highest) this.highest = seq; }
}


test('replay window: each bit position on both sides of the 32-bit word boundary', () => {
  for (const behind of [0, 1, 30, 31, 32, 33, 62, 63, 64, 65]) {
    const w = new ReplayWindow(64);
    w.mark(1000);
    const seq = 1000 - behind;
    assert.equal(w.check(seq), behind >= 64 ? false : behind !== 0, `${behind} behind, before marking`);
    w.mark(seq);
    assert.equal(w.check(seq), false, `${behind} behind, after marking`);
    // The neighbours are untouched (a wrong word or shift would set them).
    if (behind > 0 && behind < 63) assert.equal(w.check(seq - 1), true, `${behind + 1} behind stays new`);
    if (behind > 1 && behind < 64) assert.equal(w.check(seq + 1), true, `${behind - 1} behind stays new`);
  }
});

test('replay window: advancing by 31, 32, 33, 63, 64, 65 carries marks from the low word into the high word', () => {
  for (const jump of [1, 31, 32, 33, 63, 64, 65]) {
    const w = new ReplayWindow(64);
    const m = new ModelWindow(64);
    // Mark every other sequence number 0..62 (bits in both words), leave the rest unseen.
    for (let s = 0; s <= 62; s += 2) { w.mark(s); m.mark(s); }
    w.mark(62 + jump); m.mark(62 + jump);
    for (let s = 0; s <= 62 + jump + 1; s++) assert.equal(w.check(s), m.check(s), `jump ${jump}, seq ${s}`);
  }
});

test('replay window: sequence numbers near 2^48 (doubles stay exact)', () => {
  const w = new ReplayWindow(64);
  const m = new ModelWindow(64);
  const base = MAX_SEQ - 99; // so that MAX_SEQ itself is marked by the loop
  for (let s = base; s <= MAX_SEQ; s += 3) { w.mark(s); m.mark(s); }
  assert.equal(w.check(MAX_SEQ), false, 'the last sequence number was seen');
  assert.equal(w.check(MAX_SEQ - 1), true, 'unseen, 1 behind');
  assert.equal(w.check(MAX_SEQ - 2), true, 'unseen, 2 behind');
  assert.equal(w.check(MAX_SEQ - 3), false, 'seen, 3 behind');
  assert.equal(w.check(MAX_SEQ - 64), false, '64 behind is too old');
  assert.equal(w.check(base), false, 'far too old');
  for (let s = base; s <= MAX_SEQ; s++) assert.equal(w.check(s), m.check(s), `seq 2^48 - ${2 ** 48 - s}`);
  // Crossing 2^32 and 2^47 (where a 32-bit or sign mistake would show).
  for (const edge of [2 ** 32, 2 ** 47]) {
    const v = new ReplayWindow(64);
    v.mark(edge - 1);
    v.mark(edge + 1);
    assert.equal(v.check(edge), true, `${edge}: unseen between two marks`);
    assert.equal(v.check(edge - 1), false, `${edge - 1} was seen`);
    assert.equal(v.check(edge + 1), false, `${edge + 1} was seen`);
  }
});

test('replay window: 200,000 random operations agree with a Set model (sizes 64, 32, 33, 1; near 0 and near 2^48)', () => {
  const rand = prng(6);
  for (const size of [64, 32, 33, 1]) {
    for (const start of [0, 2 ** 32 - 40, MAX_SEQ - 5000]) {
      const w = new ReplayWindow(size);
      const m = new ModelWindow(size);
      let highest = start;
      for (let i = 0; i < 50000 / 3; i++) {
        // Mostly small steps forward and back, sometimes jumps around the word size.
        const r = rand();
        const step = r < 0.5 ? Math.floor(rand() * 8) - 3 : r < 0.9 ? Math.floor(rand() * 140) - 70 : [31, 32, 33, 63, 64, 65][Math.floor(rand() * 6)];
        const seq = Math.min(MAX_SEQ, Math.max(start, highest + step));
        assert.equal(w.check(seq), m.check(seq), `size ${size}, start ${start}, op ${i}, seq ${seq}`);
        // Only authentic records are marked: mark about three quarters of the new ones.
        if (m.check(seq) && rand() < 0.75) {
          w.mark(seq);
          m.mark(seq);
          if (seq > highest) highest = seq;
        }
      }
    }
  }
});

test('replay window: sizes outside 1..64 are refused', () => {
  assert.throws(() => new ReplayWindow(65), RangeError);
  assert.throws(() => new ReplayWindow(0), RangeError);
});

/** A writer and a reader that share epoch-1 keys for `suite`. */
function pair(suite) {
  const key = crypto.randomBytes(suite.keyLength);
  const salt = crypto.randomBytes(4);
  const writer = new RecordLayer();
  const reader = new RecordLayer();
  writer.setWriteKeys(1, { suite, key, salt });
  reader.setReadKeys(1, { suite, key, salt });
  reader.readEpoch = 1;
  return { key, salt, writer, reader };
}

test('record layer: every suite seals records that node:crypto itself opens, and the reader opens each once', () => {
  for (const suite of CIPHER_SUITES) {
    const { key, salt, writer, reader } = pair(suite);
    for (let n = 0; n < 3; n++) {
      const plaintext = crypto.randomBytes(n === 2 ? 0 : 40 + n * 500);
      const datagram = writer.seal(23, 1, plaintext);
      const [record] = parseDatagram(datagram);
      assert.equal(record.epoch, 1);
      assert.equal(record.sequence, n);
      assert.equal(record.body.length, 8 + plaintext.length + suite.tagLength, suite.name);
      // Independent oracle: RFC 5288/6655 nonce and additional data, straight node:crypto.
      const explicit = record.body.subarray(0, 8);
      assert.deepEqual(explicit, Buffer.from([0, 1, 0, 0, 0, 0, 0, n]), 'explicit nonce = epoch + sequence');
      const opts = suite.mode === 'ccm' ? { authTagLength: suite.tagLength } : undefined;
      const d = crypto.createDecipheriv(`aes-${suite.keyLength * 8}-${suite.mode}`, key, Buffer.concat([salt, explicit]), opts);
      d.setAuthTag(record.body.subarray(record.body.length - suite.tagLength));
      d.setAAD(additionalData(1, n, 23, 0xfefd, plaintext.length), suite.mode === 'ccm' ? { plaintextLength: plaintext.length } : undefined);
      const opened = Buffer.concat([d.update(record.body.subarray(8, record.body.length - suite.tagLength)), d.final()]);
      assert.deepEqual(opened, plaintext, `${suite.name}: node:crypto opens our record`);

      assert.deepEqual(reader.open(record), plaintext, `${suite.name}: our reader opens it`);
      assert.equal(reader.open(record), 'replayed', `${suite.name}: a second copy is a replay`);
    }
  }
});

test('record layer: forged records are rejected and do not move the window; a later genuine one still opens', () => {
  const suite = CIPHER_SUITES[0];
  const { writer, reader } = pair(suite);
  const records = [0, 1, 2].map((i) => parseDatagram(writer.seal(23, 1, Buffer.from(`reading ${i}`)))[0]);
  const flipped = { ...records[2], body: Buffer.from(records[2].body) };
  flipped.body[12] ^= 0x20;
  assert.equal(reader.open(flipped), 'forged');
  assert.equal(reader.open({ ...records[2], sequence: 5 }), 'forged', 'the sequence number is authenticated');
  assert.equal(reader.open({ ...records[2], body: records[2].body.subarray(0, 20) }), 'forged', 'too short for nonce + tag');
  assert.deepEqual(reader.open(records[2]), Buffer.from('reading 2'));
  assert.deepEqual(reader.open(records[0]), Buffer.from('reading 0'), 'reordered, still inside the window');
  assert.equal(reader.open({ ...records[1], epoch: 2 }), 'no-keys');
  assert.deepEqual(reader.open(records[1]), Buffer.from('reading 1'));
});

test('record layer: openLone opens a datagram that is one record of the read epoch where it lies, drops what open() drops, and leaves every other shape to the general path', () => {
  for (const suite of CIPHER_SUITES) {
    const { writer, reader } = pair(suite);
    const datagrams = [0, 1, 2, 3].map((i) => writer.seal(23, 1, Buffer.from(`reading ${i}`)));
    assert.deepEqual(reader.openLone(datagrams[1], 23), Buffer.from('reading 1'), suite.name);
    assert.equal(reader.openLone(datagrams[1], 23), 'dropped', `${suite.name}: a second copy is a replay`);
    assert.deepEqual(reader.openLone(datagrams[0], 23), Buffer.from('reading 0'), `${suite.name}: reordered, inside the window`);
    const flipped = Buffer.from(datagrams[2]);
    flipped[flipped.length - 1] ^= 1;
    assert.equal(reader.openLone(flipped, 23), 'dropped', `${suite.name}: a forged tag`);
    const resequenced = Buffer.from(datagrams[2]);
    resequenced[10] ^= 8;
    assert.equal(reader.openLone(resequenced, 23), 'dropped', `${suite.name}: the header's sequence number is authenticated`);
    assert.deepEqual(reader.openLone(datagrams[2], 23), Buffer.from('reading 2'), `${suite.name}: a forgery did not move the window`);
    assert.equal(reader.openLone(datagrams[2].subarray(0, 13 + 8), 23), null, `${suite.name}: a header whose length does not fill the datagram`);
  }
  const { writer, reader } = pair(CIPHER_SUITES[0]);
  const one = writer.seal(23, 1, Buffer.from('one'));
  const two = writer.seal(23, 1, Buffer.from('two'));
  const shapes = {
    'two records in one datagram': Buffer.concat([one, two]),
    'trailing bytes': Buffer.concat([one, Buffer.alloc(1)]),
    'shorter than a header': one.subarray(0, 12),
    'another content type': writer.seal(21, 1, Buffer.from([1, 0])),
    'another epoch': (() => { const d = Buffer.from(one); d[4] = 2; return d; })(),
    'another version': (() => { const d = Buffer.from(one); d[2] = 0xff; return d; })(),
    'a body longer than a record may be': (() => { const d = Buffer.alloc(13 + 18433); d[0] = 23; d[1] = 0xfe; d[2] = 0xfd; d[4] = 1; d.writeUInt16BE(18433, 11); return d; })(),
  };
  for (const [what, d] of Object.entries(shapes)) assert.equal(reader.openLone(d, 23), null, what);
  assert.deepEqual(reader.open(parseDatagram(shapes['two records in one datagram'])[1]), Buffer.from('two'), 'nothing above moved the window');
  const before = new RecordLayer();
  assert.equal(before.openLone(new RecordLayer().seal(23, 0, Buffer.from('plain')), 23), null, 'epoch 0 (no keys yet) is never opened here');
});

test('record layer: epoch 0 records are plain; headers carry sequence numbers across 2^32 and up to 2^48 - 1', () => {
  const layer = new RecordLayer();
  const plain = layer.seal(22, 0, Buffer.from('client hello'));
  assert.deepEqual(parseDatagram(plain), [{ type: 22, version: 0xfefd, epoch: 0, sequence: 0, body: Buffer.from('client hello') }]);
  for (const sequence of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 47, MAX_SEQ]) {
    const r = { type: 23, version: 0xfefd, epoch: 1, sequence, body: Buffer.from('x') };
    const encoded = encodeRecord(r);
    assert.equal(encoded.readUIntBE(5, 6), sequence);
    assert.deepEqual(parseDatagram(encoded), [r]);
    assert.equal(additionalData(1, sequence, 23, 0xfefd, 1).readUIntBE(2, 6), sequence);
  }
});

test('record layer: the last sequence numbers before 2^48 seal and open; then sealing refuses (a new handshake is needed)', () => {
  const suite = CIPHER_SUITES[0];
  const { writer, reader } = pair(suite);
  assert.deepEqual(reader.open(parseDatagram(writer.seal(23, 1, Buffer.from('first')))[0]), Buffer.from('first'));
  // Jump the writer to near the end of the sequence space (no public API: 2^48 records take years).
  writer.writers.get(1).sequence = MAX_SEQ - 2;
  const a = parseDatagram(writer.seal(23, 1, Buffer.from('a')))[0];
  const b = parseDatagram(writer.seal(23, 1, Buffer.from('b')))[0];
  assert.equal(a.sequence, MAX_SEQ - 2);
  assert.equal(b.sequence, MAX_SEQ - 1);
  assert.deepEqual(reader.open(b), Buffer.from('b'));
  assert.deepEqual(reader.open(a), Buffer.from('a'), 'one behind, near 2^48');
  assert.equal(reader.open(a), 'replayed');
  assert.throws(() => writer.seal(23, 1, Buffer.from('c')), (err) => err instanceof DtlsError && err.code === 'PROTOCOL' && /exhausted/.test(err.message));
  assert.throws(() => writer.seal(23, 2, Buffer.from('c')), (err) => err instanceof DtlsError && /no keys for epoch 2/.test(err.message));
});

test('record layer: the epoch keys are its own copy: wiping the key material it was given (as a handshake may) does not change what it seals or opens', () => {
  for (const suite of [CIPHER_SUITES.find((s) => s.mode === 'gcm'), CIPHER_SUITES.find((s) => s.mode === 'ccm')]) {
    const key = crypto.randomBytes(suite.keyLength);
    const salt = crypto.randomBytes(4);
    const given = { write: Buffer.from(key), read: Buffer.from(key) };
    const writer = new RecordLayer();
    const reader = new RecordLayer();
    writer.setWriteKeys(1, { suite, key: given.write, salt });
    reader.setReadKeys(1, { suite, key: given.read, salt });
    reader.readEpoch = 1;
    given.write.fill(0);
    given.read.fill(0);
    const [record] = parseDatagram(writer.seal(23, 1, Buffer.from('reading')));
    // Oracle with the original key: the record was sealed with it, not with the zeroed bytes.
    const opts = suite.mode === 'ccm' ? { authTagLength: suite.tagLength } : undefined;
    const d = crypto.createDecipheriv(`aes-${suite.keyLength * 8}-${suite.mode}`, key, Buffer.concat([salt, record.body.subarray(0, 8)]), opts);
    d.setAuthTag(record.body.subarray(record.body.length - suite.tagLength));
    d.setAAD(additionalData(1, 0, 23, 0xfefd, 7), suite.mode === 'ccm' ? { plaintextLength: 7 } : undefined);
    assert.deepEqual(Buffer.concat([d.update(record.body.subarray(8, record.body.length - suite.tagLength)), d.final()]), Buffer.from('reading'), suite.name);
    assert.deepEqual(reader.open(record), Buffer.from('reading'), `${suite.name}: the reader still opens it`);
  }
});
