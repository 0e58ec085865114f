'use strict';
// Connection ID (RFC 9146) against a real CID-capable DTLS 1.2 server (Bouncy Castle, test/support/
// bc-dtls-peer.js, which gives an 8-byte CID as ThingsBoard's Californium does): the client offers
// the extension, then sends every protected record as tls12_cid with the server's CID and the
// RFC 9146 additional data (the server would drop anything else), and the session survives a NAT
// that moves the client to a new port, with no new handshake. A server that does not echo the
// extension gets plain records; without CID the same server loses the client at the first rebinding.
// A reconnect that offers the last session is resumed (RFC 5246 7.3) with a CID of its own, as
// Californium does for a device that lost its session.
const test = require('node:test');
const assert = require('node:assert/strict');
const { connectDtls } = require('../../nodes/lib/dtls');
const { freeUdpPort } = require('../support/ports');
const { startLossyRelay } = require('../support/lossy-relay');
const { startCidServer, requireBcPeer } = require('../support/bc-dtls-peer');
const { makeDtlsPki } = require('./fixtures');
const cidCodec = require('../../nodes/lib/dtls/protocol/connection-id');

let pki;
const running = new Set();
test.before(async () => { pki = await makeDtlsPki(); });
test.after(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  pki?.remove();
});

async function server(cid, { resume = false } = {}) {
  const port = await freeUdpPort();
  const p = await startCidServer({ port, keyPem: pki.pem['leaf.key'], certPems: [pki.pem['leaf.pem'], pki.pem['inter.pem']], cid, resume });
  running.add(p);
  return { p, port };
}

/** Sends `text` and resolves with the echo, or null after `ms`. */
function echo(conn, text, ms = 3000) {
  return new Promise((resolve) => {
    const onMessage = (m) => { if (m.toString() === text) { conn.off('message', onMessage); clearTimeout(timer); resolve(text); } };
    const timer = setTimeout(() => { conn.off('message', onMessage); resolve(null); }, ms);
    conn.on('message', onMessage);
    conn.write(Buffer.from(text));
  });
}

/** The records of one datagram: type, epoch and the CID (tls12_cid records; 8 bytes here). */
function records(datagram) {
  const out = [];
  for (let at = 0; at + 13 <= datagram.length;) {
    const type = datagram[at];
    const cidLength = type === 25 ? 8 : 0;
    const length = datagram.readUInt16BE(at + 11 + cidLength);
    out.push({ type, epoch: datagram.readUInt16BE(at + 3), cid: datagram.subarray(at + 11, at + 11 + cidLength).toString('hex') });
    at += 13 + cidLength + length;
  }
  return out;
}

test('RFC 9146 bytes: the offer is an empty CID, the additional data is laid out field by field, a malformed echo is a decode_error', () => {
  assert.deepEqual(cidCodec.connectionIdExtension(), { type: 54, data: Buffer.from([0]) });
  const cid = Buffer.from('0102030405060708', 'hex');
  const aad = cidCodec.cidAdditionalData(0xfefd, 1, 0x0102030405, cid, 0x0123);
  assert.equal(aad.toString('hex'), [
    'ffffffffffffffff', // seq_num_placeholder
    '19', '08', '19', // tls12_cid, cid_length, tls12_cid
    'fefd', '0001', '000102030405', // version, epoch, sequence_number
    '0102030405060708', '0123', // cid, length_of_DTLSInnerPlaintext
  ].join(''));
  assert.deepEqual(cidCodec.parseConnectionIdExtension(Buffer.from([8, ...cid])), cid);
  assert.throws(() => cidCodec.parseConnectionIdExtension(Buffer.from([2, 1, 2, 3])), (e) => e.code === 'PROTOCOL' && /trailing/.test(e.message));
  assert.throws(() => cidCodec.parseConnectionIdExtension(Buffer.from([9, 1])), (e) => e.code === 'PROTOCOL');
});

test('a CID-capable server: the client sends tls12_cid records carrying the server\'s 8-byte CID, and data round-trips', { timeout: 60000 }, async (t) => {
  if (!requireBcPeer(t)) return;
  const { p, port } = await server(true);
  const toServer = [];
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port }, transform: (dir, d) => { if (dir === 'toServer') toServer.push(...records(d)); return d; } });
  t.after(() => relay.close());
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, ca: pki.pem['root.pem'], serverName: 'localhost', handshakeTimeoutMs: 10000 });
  t.after(() => conn.close().catch(() => {}));
  for (let i = 0; i < 5; i++) assert.equal(await echo(conn, `reading ${i}`), `reading ${i}`);
  const cid = p.lastCid();
  assert.match(cid, /^[0-9a-f]{16}$/, `the server gave a CID: ${p.output()}`);
  const protectedRecords = toServer.filter((r) => r.epoch >= 1);
  assert.ok(protectedRecords.length >= 6, 'our Finished and the readings were protected');
  for (const r of protectedRecords) {
    assert.equal(r.type, 25, 'every protected record is tls12_cid');
    assert.equal(r.cid, cid, 'and carries the server\'s CID');
  }
  assert.equal(p.handshakes(), 1);
});

test('with CID, a NAT that moves the client to a new port every 400 ms costs no handshake and loses no record either way', { timeout: 60000 }, async (t) => {
  if (!requireBcPeer(t)) return;
  const { p, port } = await server(true);
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port } });
  t.after(() => relay.close());
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, ca: pki.pem['root.pem'], serverName: 'localhost', handshakeTimeoutMs: 10000 });
  t.after(() => conn.close().catch(() => {}));
  // Rebinding starts once the handshake is over: a server cannot follow a handshake across ports.
  relay.setRebindEveryMs(400);
  const lost = [];
  for (let i = 0; i < 20; i++) {
    if (await echo(conn, `reading ${i}`, 2000) === null) lost.push(i);
    await new Promise((r) => setTimeout(r, 120));
  }
  assert.ok(relay.stats.bindings >= 5, `the NAT rebound (${relay.stats.bindings} bindings)`);
  assert.ok(p.rebinds() >= 4, `the server followed the client to its new addresses: ${p.output()}`);
  assert.deepEqual(lost, [], 'every reading was echoed across the rebindings');
  assert.equal(p.handshakes(), 1, 'no new handshake');
});

test('resumption with CID: a reconnect that offers the last session is resumed with a new CID, its records carry that CID, and it survives a NAT that rebinds', { timeout: 60000 }, async (t) => {
  if (!requireBcPeer(t)) return;
  const { p, port } = await server(true, { resume: true });
  const first = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'], serverName: 'localhost', handshakeTimeoutMs: 10000 });
  assert.equal(await echo(first, 'full'), 'full');
  const firstCid = first.connectionId?.toString('hex');
  const offer = first.resumable; // taken while the session is open: closing it wipes its secrets
  assert.ok(offer, 'the server gave a session id to offer again');
  await first.close();

  const toServer = [];
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port }, transform: (dir, d) => { if (dir === 'toServer') toServer.push(...records(d)); return d; } });
  t.after(() => relay.close());
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, ca: pki.pem['root.pem'], serverName: 'localhost', handshakeTimeoutMs: 10000, resume: offer });
  t.after(() => conn.close().catch(() => {}));
  assert.equal(conn.resumed, true, `an abbreviated handshake: ${p.output()}`);
  await p.waitFor(/^HANDSHAKE 2 /m, 5000); // the server's side ends with our Finished, after ours
  assert.equal(p.resumed(), 1, `the server resumed the session: ${p.output()}`);
  const cid = p.lastCid();
  assert.match(cid, /^[0-9a-f]{16}$/, 'the resumed session has a CID of its own');
  assert.notEqual(cid, firstCid, 'a new one, not the first session\'s');
  assert.equal(conn.connectionId?.toString('hex'), cid);
  relay.setRebindEveryMs(400);
  const lost = [];
  for (let i = 0; i < 12; i++) {
    if (await echo(conn, `resumed ${i}`, 2000) === null) lost.push(i);
    await new Promise((r) => setTimeout(r, 120));
  }
  assert.deepEqual(lost, [], 'every reading was echoed across the rebindings');
  assert.ok(p.rebinds() >= 2, `the server followed the client: ${p.output()}`);
  const protectedRecords = toServer.filter((r) => r.epoch >= 1);
  assert.ok(protectedRecords.length >= 13, 'our Finished and the readings were protected');
  for (const r of protectedRecords) assert.deepEqual([r.type, r.cid], [25, cid], 'every protected record is tls12_cid with the resumed session\'s CID');
  assert.equal(p.handshakes(), 2, 'the full handshake and the resumed one, none after the rebindings');
});

test('without CID the same server loses the client at its first rebinding (what CID fixes)', { timeout: 60000 }, async (t) => {
  if (!requireBcPeer(t)) return;
  const { p, port } = await server(false);
  const toServer = [];
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port }, rebindEveryMs: 1500, transform: (dir, d) => { if (dir === 'toServer') toServer.push(...records(d)); return d; } });
  t.after(() => relay.close());
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, ca: pki.pem['root.pem'], serverName: 'localhost', handshakeTimeoutMs: 10000 });
  t.after(() => conn.close().catch(() => {}));
  assert.equal(await echo(conn, 'before'), 'before', 'plain records work with a server that does not echo the extension');
  assert.match(p.output(), /HANDSHAKE 1 CID none/);
  assert.ok(toServer.every((r) => r.type !== 25), 'no tls12_cid record without a negotiated CID');
  await new Promise((r) => setTimeout(r, 1600));
  assert.equal(await echo(conn, 'after', 1500), null, 'the server drops the client\'s records from its new address');
});
