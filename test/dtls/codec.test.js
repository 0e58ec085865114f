'use strict';
// Record and handshake codecs, fragment reassembly and the anti-replay window.
const test = require('node:test');
const assert = require('node:assert/strict');
const { encodeRecord, parseDatagram } = require('../../nodes/lib/dtls/protocol/record');
const { encodeHandshakeMessage, fragmentHandshakeMessage, parseHandshakeFragments } = require('../../nodes/lib/dtls/protocol/handshake');
const { HandshakeReassembler } = require('../../nodes/lib/dtls/handshake/reassembler');
const { ReplayWindow } = require('../../nodes/lib/dtls/replay-window');
const { encodeClientHello, parseServerHello, parseCertificate, encodeEmptyCertificate, parseServerKeyExchange, parseCertificateRequest } = require('../../nodes/lib/dtls/protocol/messages');
const { parseExtensions, encodeExtensions } = require('../../nodes/lib/dtls/protocol/extensions');
const { DtlsError } = require('../../nodes/lib/dtls/errors');

const isDtlsError = (code) => (err) => err instanceof DtlsError && err.code === code;

test('records: several per datagram round-trip; garbage after them is dropped', () => {
  const a = { type: 22, version: 0xfefd, epoch: 0, sequence: 7, body: Buffer.from('hello') };
  const b = { type: 23, version: 0xfefd, epoch: 1, sequence: 2 ** 40 + 3, body: Buffer.alloc(300, 1) };
  const parsed = parseDatagram(Buffer.concat([encodeRecord(a), encodeRecord(b), Buffer.from([22, 0xfe])]));
  assert.equal(parsed.length, 2);
  assert.deepEqual(parsed[0], a);
  assert.deepEqual(parsed[1], b);
  // A length beyond the datagram ends parsing; unknown content types and versions are skipped.
  const truncated = encodeRecord(a).subarray(0, 15);
  assert.deepEqual(parseDatagram(truncated), []);
  const unknownType = encodeRecord({ ...a, type: 99 });
  const oldVersion = encodeRecord({ ...a, version: 0x0303 });
  assert.deepEqual(parseDatagram(Buffer.concat([unknownType, oldVersion, encodeRecord(a)])), [a]);
});

test('handshake messages: fragmentation and parse round trip', () => {
  const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
  const msg = { type: 11, messageSeq: 3, body };
  const frags = fragmentHandshakeMessage(msg, 212);
  assert.equal(frags.length, 5);
  for (const f of frags) assert.ok(f.length <= 212);
  const parsed = parseHandshakeFragments(Buffer.concat(frags));
  assert.equal(parsed.length, 5);
  assert.deepEqual(Buffer.concat(parsed.map((p) => p.fragment)), body);
  assert.deepEqual(parseHandshakeFragments(encodeHandshakeMessage(msg))[0].fragment, body);
  assert.throws(() => parseHandshakeFragments(frags[0].subarray(0, 20)), isDtlsError('PROTOCOL'));
  const outside = Buffer.from(frags[4]);
  outside.writeUIntBE(990, 6, 3); // fragment offset 990 + 200 bytes > 1000
  assert.throws(() => parseHandshakeFragments(outside), isDtlsError('PROTOCOL'));
});

test('reassembly: out-of-order, duplicate and overlapping fragments give the message once, in order', () => {
  const r = new HandshakeReassembler();
  const m0 = { type: 2, messageSeq: 0, body: Buffer.alloc(500, 0xaa) };
  const m1 = { type: 11, messageSeq: 1, body: Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 7) & 0xff)) };
  const f1 = parseHandshakeFragments(Buffer.concat(fragmentHandshakeMessage(m1, 112)));
  const f0 = parseHandshakeFragments(Buffer.concat(fragmentHandshakeMessage(m0, 212)));
  const shuffled = [...f1].reverse();
  for (const f of shuffled.slice(0, -1)) assert.equal(r.add(f), 'stored');
  r.add(shuffled[3]); // duplicate
  assert.equal(r.takeNext(), null, 'message 0 has not arrived');
  for (const f of f0) r.add(f);
  assert.deepEqual(r.takeNext(), { ...m0, epoch: 0 });
  assert.equal(r.takeNext(), null, 'first fragment of message 1 still missing');
  // an overlapping fragment covering bytes 50..149
  r.add({ type: 11, length: 1500, messageSeq: 1, fragmentOffset: 50, fragment: m1.body.subarray(50, 150) });
  r.add(shuffled[shuffled.length - 1]);
  assert.deepEqual(r.takeNext(), { ...m1, epoch: 0 });
  assert.equal(r.add(f0[0]), 'old', 'a retransmission of a handled message is recognised');
  assert.throws(() => r.add({ type: 12, length: 10, messageSeq: 2, fragmentOffset: 0, fragment: Buffer.alloc(5) }) && r.add({ type: 13, length: 10, messageSeq: 2, fragmentOffset: 5, fragment: Buffer.alloc(5) }), isDtlsError('PROTOCOL'));
  assert.equal(r.add({ type: 12, length: 1, messageSeq: 500, fragmentOffset: 0, fragment: Buffer.alloc(1) }), 'ignored');
});

test('reassembly by epoch: a protected fragment replaces unprotected ones of the same message; an unprotected one never joins a protected message', () => {
  const r = new HandshakeReassembler();
  const good = Buffer.alloc(12, 0x11);
  // A spoofed plaintext "Finished" of another length, half there, then the real one in epoch 1.
  assert.equal(r.add({ type: 20, length: 40, messageSeq: 0, fragmentOffset: 0, fragment: Buffer.alloc(20, 0xee) }, 0), 'stored');
  assert.equal(r.add({ type: 20, length: 12, messageSeq: 0, fragmentOffset: 0, fragment: good.subarray(0, 6) }, 1), 'stored');
  assert.equal(r.add({ type: 20, length: 12, messageSeq: 0, fragmentOffset: 6, fragment: Buffer.alloc(6, 0xee) }, 0), 'ignored', 'epoch 0 cannot fill a protected message');
  assert.equal(r.takeNext(), null);
  assert.equal(r.add({ type: 20, length: 12, messageSeq: 0, fragmentOffset: 6, fragment: good.subarray(6) }, 1), 'stored');
  assert.deepEqual(r.takeNext(), { type: 20, messageSeq: 0, body: good, epoch: 1 });
});

test('the handshake refuses a Finished that did not come in epoch 1, and any handshake message before the server\'s ChangeCipherSpec', () => {
  const { ClientHandshake } = require('../../nodes/lib/dtls/handshake/client-handshake');
  for (const [state, epoch, why] of [['wait_finished', 0, /not protected by the new keys/], ['wait_change_cipher_spec', 0, /before the server's ChangeCipherSpec/], ['wait_change_cipher_spec', 1, /before the server's ChangeCipherSpec/]]) {
    const hs = new ClientHandshake({ identity: 'x', ca: '', verify: false, mtu: 1200, handshakeTimeoutMs: 1000 }, { state, records: null, flight: null });
    assert.throws(() => hs.handle({ type: 20, messageSeq: 5, body: Buffer.alloc(12), epoch }), (err) => err.code === 'PROTOCOL' && err.sendAlert === 10 && why.test(err.message), `${state}, epoch ${epoch}`);
  }
});

test('anti-replay window: new, duplicate, reordered within the window, too old', () => {
  const w = new ReplayWindow(64);
  for (const seq of [0, 1, 2, 5]) { assert.ok(w.check(seq)); w.mark(seq); }
  assert.equal(w.check(5), false);
  assert.equal(w.check(2), false);
  assert.ok(w.check(3), 'reordered record inside the window');
  w.mark(3);
  assert.equal(w.check(3), false);
  w.mark(100);
  assert.equal(w.check(36), false, 'more than 64 behind the highest');
  assert.ok(w.check(37));
  assert.ok(w.check(99));
  w.mark(99);
  assert.equal(w.check(99), false);
  w.mark(2 ** 47);
  assert.equal(w.check(100), false);
  assert.ok(w.check(2 ** 47 + 1));
});

test('hello and certificate messages: encode/parse round trips and malformed input', () => {
  const exts = [{ type: 10, data: Buffer.from([0, 2, 0, 23]) }, { type: 23, data: Buffer.alloc(0) }];
  assert.deepEqual(parseExtensions(encodeExtensions(exts).subarray(2)), exts);
  assert.throws(() => parseExtensions(encodeExtensions([exts[1], exts[1]]).subarray(2)), isDtlsError('PROTOCOL'));
  const ch = encodeClientHello({ random: Buffer.alloc(32, 1), sessionId: Buffer.alloc(0), cookie: Buffer.from('cookie'), cipherSuites: [0xc02b], extensions: exts });
  assert.equal(ch.readUInt16BE(0), 0xfefd);
  assert.equal(ch[34], 0, 'empty session id');
  assert.equal(ch.subarray(36, 42).toString(), 'cookie');

  const sh = Buffer.concat([Buffer.from([0xfe, 0xfd]), Buffer.alloc(32, 2), Buffer.from([0, 0xc0, 0x2b, 0]), encodeExtensions(exts)]);
  const parsed = parseServerHello(sh);
  assert.equal(parsed.cipherSuite, 0xc02b);
  assert.deepEqual(parsed.extensions, exts);
  assert.throws(() => parseServerHello(sh.subarray(0, 30)), isDtlsError('PROTOCOL'));
  assert.throws(() => parseServerHello(Buffer.concat([sh, Buffer.from([1])])), isDtlsError('PROTOCOL'));

  assert.deepEqual(parseCertificate(encodeEmptyCertificate()), []);
  const certs = Buffer.concat([Buffer.from([0, 0, 9]), Buffer.from([0, 0, 3, 1, 2, 3]), Buffer.from([0, 0, 0])]);
  assert.throws(() => parseCertificate(certs), isDtlsError('PROTOCOL'), 'an empty certificate inside the list');

  const ske = Buffer.concat([Buffer.from([3, 0, 29, 32]), Buffer.alloc(32, 5), Buffer.from([4, 3, 0, 2, 0xaa, 0xbb])]);
  const p = parseServerKeyExchange(ske);
  assert.equal(p.group, 29);
  assert.equal(p.scheme, 0x0403);
  assert.equal(p.params.length, 36);
  assert.deepEqual(p.signature, Buffer.from([0xaa, 0xbb]));
  assert.throws(() => parseServerKeyExchange(Buffer.concat([Buffer.from([1]), ske.subarray(1)])), isDtlsError('PROTOCOL'));

  const cr = parseCertificateRequest(Buffer.from([2, 64, 1, 0, 4, 4, 3, 4, 1, 0, 0]));
  assert.deepEqual(cr.certificateTypes, [64, 1]);
  assert.deepEqual(cr.signatureSchemes, [0x0403, 0x0401]);
});
