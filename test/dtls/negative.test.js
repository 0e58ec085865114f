'use strict';
// Every verification failure ends the handshake with the matching fatal alert, which openssl
// s_server reports ("SSL alert number N"), and a DtlsError naming the reason. Each case also
// tries to send a secret right after a (wrongly) successful connect, and proves at the peer
// that it never arrived.
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { connectDtls, DtlsError } = require('../../nodes/lib/dtls');
const { requirePeer } = require('../support/peers');
const { freeUdpPort } = require('../support/ports');
const { startSServer } = require('../support/dtls-peers');
const { startLossyRelay } = require('../support/lossy-relay');
const { parseDatagram, encodeRecord } = require('../../nodes/lib/dtls/protocol/record');
const { makeDtlsPki } = require('./fixtures');

let pki;
const cleanups = [];
test.before(async () => { pki = await makeDtlsPki(); });
test.after(async () => {
  for (const c of cleanups.reverse()) await c();
  pki?.remove();
});

const SECRET = 'ACCESS-TOKEN-MUST-NOT-LEAK';

/** Starts s_server with `cert`, connects (optionally through a relay), expects `code`, and the alert at the server. */
async function expectFailure(t, { cert, key, chain, ca, code, alertNumber, transform, connect = {}, serverExtra = [] }) {
  if (!requirePeer(t, 'openssl')) return null;
  const port = await freeUdpPort();
  const server = await startSServer({ port, cert: pki.files[cert], key: pki.files[key], chain: chain && pki.files[chain], extra: serverExtra });
  cleanups.push(() => server.stop());
  let target = port;
  if (transform) {
    const relay = await startLossyRelay({ target: { host: '127.0.0.1', port }, transform });
    cleanups.push(() => relay.close());
    target = relay.port;
  }
  const attempt = connectDtls({ host: '127.0.0.1', port: target, ca: ca ?? pki.pem['root.pem'], handshakeTimeoutMs: 15000, ...connect })
    .then(async (conn) => { await conn.send(Buffer.from(SECRET)); return conn; });
  const err = await attempt.then(() => null, (e) => e);
  assert.ok(err instanceof DtlsError, `expected a DtlsError, got ${err}`);
  assert.equal(err.code, code, err.message);
  if (alertNumber !== undefined) await server.waitFor(new RegExp(`SSL alert number ${alertNumber}\\b`));
  await server.stop();
  assert.ok(!server.output().includes(SECRET), 'no application data reached the server');
  return err;
}

test('wrong CA → UNKNOWN_CA, unknown_ca alert', async (t) => {
  const err = await expectFailure(t, { cert: 'leaf.pem', key: 'leaf.key', chain: 'inter.pem', ca: pki.pem['other-root.pem'], code: 'UNKNOWN_CA', alertNumber: 48 });
  if (err) assert.match(err.message, /not issued by a CA in the configured CA certificate/);
});

test('expired certificate → CERT_EXPIRED, certificate_expired alert', async (t) => {
  const err = await expectFailure(t, { cert: 'expired.pem', key: 'expired.key', chain: 'inter.pem', code: 'CERT_EXPIRED', alertNumber: 45 });
  if (err) assert.match(err.message, /expired on/);
});

test('host name mismatch → HOST_MISMATCH, bad_certificate alert', async (t) => {
  const err = await expectFailure(t, { cert: 'wrong-host.pem', key: 'wrong-host.key', chain: 'inter.pem', code: 'HOST_MISMATCH', alertNumber: 42 });
  if (err) assert.match(err.message, /not valid for "127\.0\.0\.1"/);
});

test('self-signed server certificate → UNKNOWN_CA', async (t) => {
  const err = await expectFailure(t, { cert: 'self-signed.pem', key: 'self-signed.key', code: 'UNKNOWN_CA', alertNumber: 48 });
  if (err) assert.match(err.message, /self-signed/);
});

/** Flips the last byte of every server record that carries (a fragment of) handshake type `type` in epoch 0. */
function flipInHandshake(type) {
  return (direction, datagram) => {
    if (direction !== 'toClient') return datagram;
    return Buffer.concat(parseDatagram(datagram).map((r) => {
      if (r.epoch === 0 && r.type === 22 && r.body[0] === type) {
        const body = Buffer.from(r.body);
        body[body.length - 1] ^= 0x01;
        return encodeRecord({ ...r, body });
      }
      return encodeRecord(r);
    }));
  };
}

test('a relay that flips a byte of the ServerKeyExchange signature → BAD_SIGNATURE, decrypt_error alert', async (t) => {
  const err = await expectFailure(t, { cert: 'leaf.pem', key: 'leaf.key', chain: 'inter.pem', code: 'BAD_SIGNATURE', alertNumber: 51, transform: flipInHandshake(12) });
  if (err) assert.match(err.message, /ServerKeyExchange signature/);
});

test('a relay that flips a byte of the server Finished → BAD_FINISHED, bad_record_mac alert (the forged records are dropped; the handshake times out naming them)', async (t) => {
  const transform = (direction, datagram) => {
    if (direction !== 'toClient') return datagram;
    return Buffer.concat(parseDatagram(datagram).map((r) => {
      if (r.epoch === 1 && r.type === 22) {
        const body = Buffer.from(r.body);
        body[12] ^= 0x80; // inside the encrypted Finished
        return encodeRecord({ ...r, body });
      }
      return encodeRecord(r);
    }));
  };
  const err = await expectFailure(t, { cert: 'leaf.pem', key: 'leaf.key', chain: 'inter.pem', code: 'BAD_FINISHED', alertNumber: 20, transform, connect: { handshakeTimeoutMs: 3000, initialRetransmitMs: 400 } });
  if (err) assert.match(err.message, /Finished .*never authenticated: \d+ record/);
});

test('a server that requires a client certificate → ALERT_RECEIVED naming the alert', async (t) => {
  const err = await expectFailure(t, { cert: 'leaf.pem', key: 'leaf.key', chain: 'inter.pem', code: 'ALERT_RECEIVED', serverExtra: ['-Verify', '1'] });
  if (err) {
    assert.ok(err.alert, 'the alert description is given');
    assert.match(err.message, new RegExp(err.alert));
  }
});

test('a server with no cipher suite in common → ALERT_RECEIVED handshake_failure', async (t) => {
  const err = await expectFailure(t, { cert: 'leaf.pem', key: 'leaf.key', chain: 'inter.pem', code: 'ALERT_RECEIVED', serverExtra: ['-cipher', 'ECDHE-ECDSA-CHACHA20-POLY1305'] });
  if (err) assert.equal(err.alert, 'handshake_failure');
});

test('no answer at all → HANDSHAKE_TIMEOUT after ClientHello retransmissions with a doubling timer', async () => {
  const hole = dgram.createSocket('udp4');
  const seen = [];
  hole.on('message', (msg) => seen.push(msg));
  await new Promise((resolve) => hole.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => hole.close(resolve)));
  const err = await connectDtls({ host: '127.0.0.1', port: hole.address().port, ca: pki.pem['root.pem'], handshakeTimeoutMs: 2000, initialRetransmitMs: 200 }).then(() => null, (e) => e);
  assert.equal(err?.code, 'HANDSHAKE_TIMEOUT');
  assert.match(err.message, /did not complete within 2 s/);
  // 200 ms doubling inside 2 s: sends at 0, 0.2, 0.6, 1.4 s → 4 (never one per 200 ms, which would be 10).
  assert.ok(seen.length >= 3 && seen.length <= 5, `ClientHello sent ${seen.length} times`);
  for (const d of seen) assert.equal(parseDatagram(d)[0].body[0], 1, 'each is a ClientHello');
});

test('an AbortSignal stops a handshake in progress with CLOSED', async () => {
  const hole = dgram.createSocket('udp4');
  await new Promise((resolve) => hole.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => hole.close(resolve)));
  const controller = new AbortController();
  hole.once('message', () => controller.abort());
  await assert.rejects(connectDtls({ host: '127.0.0.1', port: hole.address().port, ca: pki.pem['root.pem'], signal: controller.signal }), { code: 'CLOSED', message: /aborted/ });
});

test('configuration errors: no CA, unreadable CA, bad port', async () => {
  await assert.rejects(connectDtls({ host: '127.0.0.1', port: 5684 }), { code: 'UNKNOWN_CA', message: /no CA certificate configured/ });
  await assert.rejects(connectDtls({ host: '127.0.0.1', port: 5684, ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }), { code: 'UNKNOWN_CA', message: /cannot be read/ });
  await assert.rejects(connectDtls({ host: '127.0.0.1', port: 0, ca: pki.pem['root.pem'] }), { code: 'NETWORK' });
});
