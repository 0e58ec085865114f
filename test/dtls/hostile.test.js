'use strict';
// A hostile peer: a real server flight (captured from openssl s_server) replayed in any order,
// then mutated flights sent over UDP by a fake server to real connectDtls() calls. Nothing may
// throw, hang or reject unhandled: every session ends in a specific DtlsError (never an
// "internal error") or is still waiting (and then closes cleanly).
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { connectDtls, DtlsError, DtlsSession } = require('../../nodes/lib/dtls');
const { parseDatagram, encodeRecord } = require('../../nodes/lib/dtls/protocol/record');
const { seededRandom, startLossyRelay } = require('../support/lossy-relay');
const { requirePeer } = require('../support/peers');
const { freeUdpPort } = require('../support/ports');
const { startSServer } = require('../support/dtls-peers');
const { makeDtlsPki } = require('./fixtures');

let pki;
let captured; // datagrams the server sent in one real handshake, in order
const unhandled = [];
const onUnhandled = (err) => unhandled.push(err);

test.before(async () => {
  process.on('unhandledRejection', onUnhandled);
  pki = await makeDtlsPki();
  if (!require('../support/peers').havePeer('openssl')) return;
  const port = await freeUdpPort();
  const server = await startSServer({ port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], chain: pki.files['inter.pem'], mtu: 400 });
  const toClient = [];
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port }, transform: (dir, d) => { if (dir === 'toClient') toClient.push(Buffer.from(d)); return d; } });
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, ca: pki.pem['root.pem'], mtu: 400 });
  await conn.close();
  await relay.close();
  await server.stop();
  captured = toClient.filter((d) => parseDatagram(d).some((r) => r.type === 22 || r.type === 20));
});
test.after(() => {
  process.off('unhandledRejection', onUnhandled);
  pki?.remove();
});

test('the real flight delivered backwards, every datagram twice and every record split into its own datagram, is still reassembled in order', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const records = captured.flatMap((d) => parseDatagram(d).map((r) => encodeRecord(r)));
  for (const order of [records.slice().reverse(), [...records, ...records], records.flatMap((r) => [r, r]).reverse()]) {
    const session = new DtlsSession({ identity: '127.0.0.1', ca: '', verify: false, mtu: 400, handshakeTimeoutMs: 60000 }, { send() {} });
    const result = session.handshake().then(() => null, (err) => err);
    for (const datagram of order) session.handleDatagram(datagram);
    if (session.state !== 'closed') session.close();
    const err = await result;
    // The captured flight was signed over another client random: reaching that check proves that
    // ServerHello, Certificate and ServerKeyExchange were put back together and processed in order.
    assert.equal(err?.code, 'BAD_SIGNATURE', err?.message);
  }
});

function mutate(datagram, rnd) {
  const pick = (n) => Math.floor(rnd() * n);
  const d = Buffer.from(datagram);
  switch (pick(9)) {
    case 0: { const n = 1 + pick(4); for (let i = 0; i < n; i++) d[pick(d.length)] ^= 1 << pick(8); return d; }
    case 1: d[pick(d.length)] = pick(256); return d;
    case 2: return d.subarray(0, pick(d.length));
    case 3: return Buffer.concat([d, Buffer.from(Array.from({ length: 1 + pick(40) }, () => pick(256)))]);
    case 4: { // mutate a length field inside a record: record length, handshake length, fragment fields
      const records = parseDatagram(d);
      if (!records.length) return d;
      const r = records[pick(records.length)];
      const body = Buffer.from(r.body);
      if (body.length >= 12) body.writeUIntBE(pick(1 << 24), [1, 6, 9][pick(3)], 3); else if (body.length) body[0] = pick(256);
      return Buffer.concat(records.map((x) => encodeRecord(x === r ? { ...x, body } : x)));
    }
    case 5: { // change epoch or sequence of a record
      const records = parseDatagram(d);
      if (!records.length) return d;
      const r = records[pick(records.length)];
      return Buffer.concat(records.map((x) => encodeRecord(x === r ? { ...x, epoch: pick(3), sequence: pick(2 ** 20) } : x)));
    }
    case 6: return Buffer.from(Array.from({ length: pick(200) }, () => pick(256)));
    case 7: { // a random handshake record with a plausible header
      const body = Buffer.from(Array.from({ length: 12 + pick(100) }, () => pick(256)));
      body[0] = [1, 2, 3, 11, 12, 13, 14, 20][pick(8)];
      return Buffer.concat([d, encodeRecord({ type: 22, version: 0xfefd, epoch: 0, sequence: pick(100), body })]);
    }
    default: { // change content type of a record
      const records = parseDatagram(d);
      if (!records.length) return d;
      const r = records[pick(records.length)];
      return Buffer.concat(records.map((x) => encodeRecord(x === r ? { ...x, type: 20 + pick(4) } : x)));
    }
  }
}

// The per-session fuzz of every message of the server's flights, valid for the client's own
// randoms, is in fuzz-flights.test.js (it needs a server that holds the keys).

test('a fake UDP server answering every datagram with mutated flights: 200 real connections all end in a DtlsError', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const rnd = seededRandom(99);
  const server = dgram.createSocket('udp4');
  server.on('message', (msg, rinfo) => {
    for (const d of captured) server.send(rnd() < 0.5 ? mutate(d, rnd) : d, rinfo.port, rinfo.address);
  });
  await new Promise((resolve) => server.bind(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const results = await Promise.allSettled(Array.from({ length: 200 }, () =>
    connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'], handshakeTimeoutMs: 1500, initialRetransmitMs: 200, mtu: 400 })));
  await new Promise((resolve) => server.close(resolve));
  const codes = {};
  for (const r of results) {
    assert.equal(r.status, 'rejected', 'no connection can succeed against a replayed, foreign handshake');
    assert.ok(r.reason instanceof DtlsError, String(r.reason));
    assert.doesNotMatch(r.reason.message, /internal error/, r.reason.stack);
    codes[r.reason.code] = (codes[r.reason.code] ?? 0) + 1;
  }
  t.diagnostic(`outcomes: ${JSON.stringify(codes)}`);
  assert.deepEqual(unhandled, []);
});
