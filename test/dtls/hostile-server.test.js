'use strict';
// Record-layer and handshake deviations only a server that holds the keys can make
// (test/support/dtls-hostile-server.js), each tried on our client (connectDtls) and, as the
// reference, on `openssl s_client -dtls1_2` with the same script. The peer proves the outcome:
// the alert it received, and whether the client's application data reached it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { connectDtls, DtlsError } = require('../../nodes/lib/dtls');
const { encodeRecord } = require('../../nodes/lib/dtls/protocol/record');
const { startHostileServer, makeHostileServerPki, HT } = require('../support/dtls-hostile-server');
const { startProcess } = require('../support/dtls-peers');
const { requirePeer } = require('../support/peers');
const { waitFor } = require('../support/wait');

const SECRET = 'ACCESS-TOKEN-MUST-NOT-LEAK';
const PING = 'PING-FROM-SERVER';
let pki;
let caFile;
const cleanups = [];

test.before(async () => {
  pki = await makeHostileServerPki();
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dtls-hostile-'));
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, pki.caPem);
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
});
test.after(async () => { for (const c of cleanups.reverse()) await c(); });

async function serve(script) {
  const server = await startHostileServer({ chain: pki.chain, key: pki.key, script });
  cleanups.push(() => server.close());
  return server;
}

const plainRecord = (type, body, sequence = 77) => encodeRecord({ type, version: 0xfefd, epoch: 0, sequence, body: Buffer.from(body) });
const junkEpoch1 = (sequence = 0) => ({ kind: 'raw', bytes: encodeRecord({ type: 22, version: 0xfefd, epoch: 1, sequence, body: Buffer.alloc(48, 0x5a) }) });

/** Our client against `script`: resolves { conn } or { err }, with the server. */
async function ours(script, connect = {}) {
  const server = await serve(script);
  const result = await connectDtls({ host: '127.0.0.1', port: server.port, ca: pki.caPem, handshakeTimeoutMs: 4000, initialRetransmitMs: 300, ...connect })
    .then(async (conn) => { cleanups.push(() => conn.close()); await conn.send(Buffer.from(SECRET)); return { conn }; }, (err) => ({ err }));
  return { ...result, server };
}

/** openssl s_client against `script`; `afterHandshake(server, engine)` runs once the server sent its Finished. */
async function reference(t, script, afterHandshake) {
  if (!requirePeer(t, 'openssl')) return null;
  const server = await serve(script);
  server.on('engine', (engine) => engine.once('established', () => setTimeout(async () => {
    if (afterHandshake) await afterHandshake(server, engine);
    await server.sendToClient(engine.applicationData(`${PING}\n`));
  }, 150)));
  const client = startProcess('openssl', ['s_client', '-dtls1_2', '-connect', `127.0.0.1:${server.port}`, '-CAfile', caFile, '-verify_return_error'], { keepStdinOpen: true });
  cleanups.push(() => client.stop());
  // Either the ping arrives (session up) or s_client reports an error; give it time for both.
  await client.waitFor(new RegExp(`${PING}|:error:`), 8000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await client.stop();
  const out = client.output();
  return { gotPing: out.includes(PING), out, alerts: server.engine?.alerts ?? [] };
}

test('an encrypted Finished with wrong verify_data → BAD_FINISHED, decrypt_error alert, no application data (s_client: "digest check failed", the same alert)', async (t) => {
  const script = { finishedVerifyData: (vd) => { const bad = Buffer.from(vd); bad[5] ^= 0x01; return bad; } };
  const { err, server } = await ours(script);
  assert.ok(err instanceof DtlsError, `the handshake must fail, got ${err ?? 'a connection'}`);
  assert.equal(err.code, 'BAD_FINISHED', err.message);
  assert.match(err.message, /Finished message does not match the handshake/);
  await waitFor(() => server.engine.alerts.some((a) => a.description === 51 && a.epoch === 1), 'decrypt_error alert at the server', 2000);
  assert.equal(server.engine.clientFinishedOk, true, 'our own Finished was right: only the server deviated');
  assert.deepEqual(server.engine.appData, [], 'no application data reached the server');

  const ref = await reference(t, script);
  if (ref) {
    assert.equal(ref.gotPing, false, ref.out);
    assert.match(ref.out, /digest check failed/);
    assert.ok(ref.alerts.some((a) => a.description === 51), 'openssl sends decrypt_error too');
  }
});

test('spoofed unprotected records after the handshake (fatal alert, close_notify, CCS, handshake, data) and a forged epoch-1 alert change nothing (s_client too)', async (t) => {
  const { conn, server } = await ours({});
  assert.ok(conn, 'the handshake completes');
  const received = [];
  let closed = false;
  conn.on('message', (m) => received.push(String(m)));
  conn.on('close', () => { closed = true; });
  await server.sendToClient(plainRecord(21, [2, 40])); // fatal handshake_failure
  await server.sendToClient(plainRecord(21, [1, 0], 78)); // close_notify
  await server.sendToClient(plainRecord(20, [1], 79));
  await server.sendToClient(plainRecord(22, Buffer.from([0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0]), 80)); // HelloRequest
  await server.sendToClient(plainRecord(23, 'unprotected', 81));
  await server.sendToClient(encodeRecord({ type: 21, version: 0xfefd, epoch: 1, sequence: 900, body: Buffer.alloc(26, 1) }));
  await server.sendToClient(server.engine.applicationData(PING));
  await waitFor(() => received.includes(PING), 'the protected record after the spoofed ones', 3000);
  assert.deepEqual(received, [PING], 'only the protected record was delivered');
  assert.equal(closed, false);
  assert.equal(conn.isOpen, true);
  await conn.send(Buffer.from('still-up'));
  await waitFor(() => server.engine.appData.some((d) => String(d) === 'still-up'), 'data after the spoofed records', 3000);
  assert.deepEqual(server.engine.alerts, [], 'the client answered nothing');

  const ref = await reference(t, {}, (s) => s.sendToClient(plainRecord(21, [2, 40])));
  if (ref) assert.equal(ref.gotPing, true, `openssl ignores the spoofed alert too:\n${ref.out}`);
});

test('junk epoch-1 records before the server\'s ChangeCipherSpec (and between it and the Finished) are discarded; the real Finished completes the handshake (s_client too)', async (t) => {
  const script = { flight6: (items) => [junkEpoch1(0), junkEpoch1(1), items[0], junkEpoch1(2), items[1]] };
  const { conn, err, server } = await ours(script);
  assert.ok(conn, `the handshake completes: ${err?.message}`);
  await waitFor(() => server.engine.appData.some((d) => String(d) === SECRET), 'application data at the server', 3000);
  const early = { flight6: (items) => [junkEpoch1(0), ...items] };
  const ref = await reference(t, early);
  if (ref) assert.equal(ref.gotPing, true, ref.out);
});

test('a Finished sent in plaintext before the ChangeCipherSpec → PROTOCOL unexpected_message, no application data (s_client: "unexpected message", the same alert)', async (t) => {
  const script = { flight6: (items) => [{ ...items[1], epoch: 0 }, items[0]] };
  const { err, server } = await ours(script);
  assert.ok(err instanceof DtlsError, `the handshake must fail, got ${err ?? 'a connection'}`);
  assert.equal(err.code, 'PROTOCOL', err.message);
  assert.match(err.message, /unexpected finished .*before the server's ChangeCipherSpec.*unexpected_message/);
  await waitFor(() => server.engine.alerts.some((a) => a.description === 10), 'unexpected_message alert at the server', 2000);
  assert.deepEqual(server.engine.appData, []);

  // The same Finished in plaintext but after the CCS is no Finished at all: the protected one counts.
  const after = { flight6: (items) => [items[0], { ...items[1], epoch: 0 }, items[1]] };
  const second = await ours(after);
  assert.ok(second.conn, `an unprotected copy after the CCS is ignored: ${second.err?.message}`);

  const ref = await reference(t, script);
  if (ref) {
    assert.equal(ref.gotPing, false, ref.out);
    assert.match(ref.out, /unexpected message/);
    assert.ok(ref.alerts.some((a) => a.description === 10));
  }
});

test('a ServerHello without renegotiation_info → PROTOCOL handshake_failure before anything is sent (s_client: "unsafe legacy renegotiation disabled")', async (t) => {
  const script = { renegotiationInfo: false };
  const { err, server } = await ours(script);
  assert.ok(err instanceof DtlsError, `the handshake must fail, got ${err ?? 'a connection'}`);
  assert.equal(err.code, 'PROTOCOL', err.message);
  assert.match(err.message, /renegotiation_info.*RFC 5746.*handshake_failure/);
  await waitFor(() => server.engine.alerts.some((a) => a.description === 40 && a.epoch === 0), 'handshake_failure alert at the server', 2000);
  assert.equal(server.engine.master, undefined, 'no ClientKeyExchange was sent');

  const ref = await reference(t, script);
  if (ref) {
    assert.equal(ref.gotPing, false, ref.out);
    assert.match(ref.out, /unsafe legacy renegotiation disabled/);
    assert.ok(ref.alerts.some((a) => a.description === 40));
  }
});

test('the hostile server itself: an unmodified script completes with s_client and with our client (the deviations above are the only difference)', async (t) => {
  const { conn, server } = await ours({ helloVerify: true });
  assert.ok(conn);
  await waitFor(() => server.engine.appData.some((d) => String(d) === SECRET), 'application data', 3000);
  assert.equal(server.engine.clientFinishedOk, true);
  const ref = await reference(t, { helloVerify: true });
  if (ref) assert.equal(ref.gotPing, true, ref.out);
  assert.equal(HT.finished, 20);
});
