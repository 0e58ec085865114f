'use strict';
// End to end against real DTLS servers from Debian: openssl s_server (CertificateRequest,
// fragmentation at MTU 400, intermediate sent), coap-server-openssl (P-256 chain with an
// intermediate, P-384 / ecdsa-with-SHA384 chain), coap-server-gnutls (RSA-2048), the `coap`
// package's Agent over our dgram adapter, and the seed's coap-client-openssl as the reference.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const coap = require('coap');
const { connectDtls } = require('../../nodes/lib/dtls');
const { DtlsDgramSocket } = require('../../nodes/lib/transports/coap/dtls-dgram-adapter');
const { requirePeer } = require('../support/peers');
const { freeUdpPort, freeUdpPortPair } = require('../support/ports');
const { startSServer, startCoapServer, coapExchange, CoapCode } = require('../support/dtls-peers');
const { startLossyRelay } = require('../support/lossy-relay');
const { makeDtlsPki } = require('./fixtures');

let pki;
const running = new Set();
test.before(async () => { pki = await makeDtlsPki(); });
test.after(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  pki?.remove();
});
async function track(promise) { const p = await promise; running.add(p); return p; }

const telemetryPath = ['api', 'v1', 'SECRET-TOKEN', 'telemetry'];
let nextMessageId = 1000;
function post(conn, payload, path = telemetryPath) {
  const messageId = nextMessageId++;
  return coapExchange(conn, { code: CoapCode.POST, messageId, token: Buffer.from([messageId >> 8, messageId & 0xff]), path, contentFormat: 50, payload: Buffer.from(payload) });
}
function get(conn, path = telemetryPath) {
  const messageId = nextMessageId++;
  return coapExchange(conn, { code: CoapCode.GET, messageId, token: Buffer.from([messageId >> 8, messageId & 0xff]), path });
}

test('openssl s_server: CertificateRequest answered with an empty Certificate, handshake fragmented at MTU 400, 25 records delivered', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const port = await freeUdpPort();
  const server = await track(startSServer({ port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], chain: pki.files['inter.pem'], mtu: 400, extra: ['-state'] }));
  const conn = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'], mtu: 400 });
  assert.match(conn.cipherSuite, /^TLS_ECDHE_ECDSA_WITH_AES_/);
  assert.equal(conn.peerCertificates.length, 2, 'the server sent leaf + intermediate');
  for (let i = 0; i < 25; i++) await conn.send(Buffer.from(`record-${i}-from-node\n`));
  await server.waitFor(/record-24-from-node/);
  const out = server.output();
  for (let i = 0; i < 25; i++) assert.ok(out.includes(`record-${i}-from-node`), `record ${i} reached the server`);
  assert.match(out, /write certificate request/, 'the server asked for a client certificate');
  assert.match(out, /read client certificate/, 'and accepted our empty Certificate');
  await conn.close();
  await server.waitFor(/DONE/);
});

test('openssl s_server: every offered cipher suite and group completes a handshake', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const cases = [
    ['ECDHE-ECDSA-AES128-GCM-SHA256', 'X25519', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ec'],
    ['ECDHE-ECDSA-AES256-GCM-SHA384', 'P-384', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ec'],
    ['ECDHE-ECDSA-AES128-CCM8', 'P-256', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', 'ec'],
    ['ECDHE-ECDSA-AES128-CCM', 'P-256', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 'ec'],
    ['ECDHE-RSA-AES128-GCM-SHA256', 'P-256', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'rsa'],
    ['ECDHE-RSA-AES256-GCM-SHA384', 'X25519', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'rsa'],
  ];
  for (const [cipher, groups, expected, kind] of cases) {
    const port = await freeUdpPort();
    const cert = kind === 'rsa' ? pki.files['rsa-leaf.pem'] : pki.files['leaf.pem'];
    const key = kind === 'rsa' ? pki.files['rsa-leaf.key'] : pki.files['leaf.key'];
    const server = await track(startSServer({ port, cert, key, chain: kind === 'rsa' ? undefined : pki.files['inter.pem'], cipher, groups, mtu: 1200 }));
    const conn = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'] + pki.pem['rsa-root.pem'] });
    assert.equal(conn.cipherSuite, expected);
    await conn.send(Buffer.from(`suite ${expected}\n`));
    await server.waitFor(new RegExp(`suite ${expected}`));
    await conn.close();
    await server.stop();
    running.delete(server);
  }
});

test('openssl s_server: every signature algorithm family verifies (ECDSA SHA-256/384/512, RSA PKCS#1 v1.5 and PSS)', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const cases = [
    ['ECDSA+SHA256', 'ec', 'ecdsa_secp256r1_sha256'], ['ECDSA+SHA384', 'ec', 'ecdsa_secp384r1_sha384'], ['ECDSA+SHA512', 'ec', 'ecdsa_secp521r1_sha512'],
    ['RSA+SHA256', 'rsa', 'rsa_pkcs1_sha256'], ['RSA+SHA512', 'rsa', 'rsa_pkcs1_sha512'], ['RSA-PSS+SHA256', 'rsa', 'rsa_pss_rsae_sha256'], ['RSA-PSS+SHA384', 'rsa', 'rsa_pss_rsae_sha384'],
  ];
  for (const [sigalgs, kind, traced] of cases) {
    const port = await freeUdpPort();
    const cert = kind === 'rsa' ? pki.files['rsa-leaf.pem'] : pki.files['leaf.pem'];
    const key = kind === 'rsa' ? pki.files['rsa-leaf.key'] : pki.files['leaf.key'];
    const server = await track(startSServer({ port, cert, key, chain: kind === 'rsa' ? undefined : pki.files['inter.pem'], sigalgs, mtu: 1200, extra: ['-trace'] }));
    const conn = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'] + pki.pem['rsa-root.pem'] });
    await conn.send(Buffer.from(`signed with ${sigalgs}\n`));
    await server.waitFor(new RegExp(`signed with ${sigalgs.replace('+', '\\+')}`));
    assert.match(server.output(), new RegExp(`ServerKeyExchange[\\s\\S]*Signature Algorithm: ${traced} `), 'the server really signed with it');
    await conn.close();
    await server.stop();
    running.delete(server);
  }
});

test('extended master secret is used when the server supports it, and the classic one when it does not', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const fs = require('node:fs');
  const path = require('node:path');
  const conf = path.join(pki.dir, 'no-ems.cnf');
  fs.writeFileSync(conf, 'openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n[sys]\nOptions = -ExtendedMasterSecret\n');
  for (const [env, expected] of [[undefined, true], [{ OPENSSL_CONF: conf }, false]]) {
    const port = await freeUdpPort();
    const server = await track(startSServer({ port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], chain: pki.files['inter.pem'], env }));
    const conn = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'] });
    assert.equal(conn.extendedMasterSecret, expected);
    await conn.send(Buffer.from(`ems ${expected}\n`));
    await server.waitFor(new RegExp(`ems ${expected}`));
    await conn.close();
    await server.stop();
    running.delete(server);
  }
});

async function coapsRoundTrip(t, { flavor, cert, key, serverCa, ca, posts = 20 }) {
  if (!requirePeer(t, `coap-server-${flavor}`)) return;
  const port = await freeUdpPortPair();
  const server = await track(startCoapServer({ flavor, port, cert, key, ca: serverCa }));
  const conn = await connectDtls({ host: '127.0.0.1', port: port + 1, ca });
  for (let i = 0; i < posts; i++) {
    const res = await post(conn, JSON.stringify({ temperature: 20 + i }));
    assert.match(res.code, /^2\.0[14]$/, `POST ${i}: 2.01 Created, then 2.04 Changed`);
  }
  const res = await get(conn);
  assert.equal(res.code, '2.05');
  assert.deepEqual(JSON.parse(res.payload.toString()), { temperature: 20 + posts - 1 });
  await conn.close();
  await server.stop();
  running.delete(server);
  return conn;
}

test('coap-server-openssl, EC P-256 chain with an intermediate: 20 POSTs over one session, GET returns the last', async (t) => {
  const conn = await coapsRoundTrip(t, { flavor: 'openssl', cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], serverCa: pki.files['root+inter.pem'], ca: pki.pem['root.pem'] });
  if (conn) assert.ok(conn.peerCertificates.length >= 2, 'the intermediate came from the server');
  // libcoap's OpenSSL server takes the client's order, as Californium does: our first choice,
  // AES-128-CCM (src/dtls/crypto/aes-ccm.ts, no cipher object per record), carried the 20 POSTs.
  if (conn) assert.equal(conn.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM');
});

test('coap-server-openssl, P-384 chain signed with ecdsa-with-SHA384', async (t) => {
  const conn = await coapsRoundTrip(t, { flavor: 'openssl', cert: pki.files['leaf384.pem'], key: pki.files['leaf384.key'], serverCa: pki.files['root384+inter384.pem'], ca: pki.pem['root384.pem'], posts: 5 });
  if (conn) assert.match(conn.peerCertificates[0].publicKey.asymmetricKeyDetails.namedCurve, /secp384r1/);
});

test('coap-server-openssl that sends no intermediate: the intermediate from our CA bundle completes the chain', async (t) => {
  await coapsRoundTrip(t, { flavor: 'openssl', cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], serverCa: undefined, ca: pki.pem['root+inter.pem'], posts: 2 });
});

test('coap-server-gnutls with an RSA-2048 certificate', async (t) => {
  const conn = await coapsRoundTrip(t, { flavor: 'gnutls', cert: pki.files['rsa-leaf.pem'], key: pki.files['rsa-leaf.key'], ca: pki.pem['rsa-root.pem'], posts: 5 });
  if (conn) assert.match(conn.cipherSuite, /ECDHE_RSA/);
});

test('the coap package Agent over DtlsDgramSocket POSTs and GETs through coap-server-openssl; coap-client-openssl (the seed command) sees the same data', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl') || !requirePeer(t, 'coap-client-openssl')) return;
  const port = await freeUdpPortPair();
  await track(startCoapServer({ flavor: 'openssl', port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], ca: pki.files['root+inter.pem'] }));
  const conn = await connectDtls({ host: '127.0.0.1', serverName: 'localhost', port: port + 1, ca: pki.pem['root.pem'] });
  const socket = new DtlsDgramSocket(conn);
  const agent = new coap.Agent({ socket });
  const request = (opts, body) => new Promise((resolve, reject) => {
    const req = agent.request({ hostname: '127.0.0.1', port: port + 1, ...opts });
    req.on('response', (res) => resolve(res));
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
  for (let i = 0; i < 5; i++) {
    const res = await request({ method: 'POST', pathname: '/api/v1/AGENT-TOKEN/telemetry', options: { 'Content-Format': 'application/json' } }, JSON.stringify({ n: i }));
    assert.match(res.code, /^2\.0[14]$/);
  }
  const res = await request({ method: 'GET', pathname: '/api/v1/AGENT-TOKEN/telemetry' });
  assert.equal(res.code, '2.05');
  assert.deepEqual(JSON.parse(res.payload.toString()), { n: 4 });

  // The reference: the seed's own command against the same server reads what we posted, and
  // what it posts we read back over our session.
  const caFile = pki.files['root.pem'];
  const run = (args) => new Promise((resolve) => execFile('coap-client-openssl', args, { timeout: 20000 }, (err, stdout, stderr) => resolve(`${stdout}\n${stderr}`)));
  const got = await run(['-R', caFile, '-m', 'get', `coaps://127.0.0.1:${port + 1}/api/v1/AGENT-TOKEN/telemetry`]);
  assert.match(got, /\{"n":4\}/);
  await run(['-R', caFile, '-m', 'post', '-t', 'json', '-e', '{"from":"coap-client"}', `coaps://127.0.0.1:${port + 1}/api/v1/AGENT-TOKEN/telemetry`]);
  const back = await request({ method: 'GET', pathname: '/api/v1/AGENT-TOKEN/telemetry' });
  assert.deepEqual(JSON.parse(back.payload.toString()), { from: 'coap-client' });

  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.close(resolve));
  await closed;
  agent.close(); // with a socket it was given, the Agent never calls close's callback
});

/**
 * A DTLS connection to coap-server-openssl through a relay that applies `transform` to every
 * datagram, and the list of what the connection delivers.
 */
async function throughRelay(transform) {
  const port = await freeUdpPortPair();
  await track(startCoapServer({ flavor: 'openssl', port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], ca: pki.files['root+inter.pem'] }));
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port: port + 1 }, transform });
  running.add({ stop: () => relay.close() });
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, ca: pki.pem['root.pem'] });
  const received = [];
  conn.on('message', (m) => received.push(m));
  return { conn, received };
}

test('every server datagram arrives twice (handshake and data): the handshake completes and each record is delivered once', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const { conn, received } = await throughRelay((dir, d) => (dir === 'toClient' ? Buffer.concat([d, d]) : d));
  for (let i = 0; i < 5; i++) await post(conn, `{"dup":${i}}`);
  assert.equal(received.length, 5, 'one CoAP response per request: the replayed copies were dropped');
  await conn.close();
});

test('each server data datagram also carries the record before it, first: the new record, second in its datagram, is delivered once', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  let previous = null;
  const { conn, received } = await throughRelay((dir, d) => {
    if (dir !== 'toClient' || d[0] !== 23) return d;
    const out = previous ? Buffer.concat([previous, d]) : d;
    previous = Buffer.from(d);
    return out;
  });
  for (let i = 0; i < 5; i++) await post(conn, `{"pair":${i}}`);
  assert.equal(received.length, 5, 'one CoAP response per request: each earlier record was a replay');
  await conn.close();
});

test('serverName: a certificate that only names device-api.example is accepted for 127.0.0.1 with serverName, rejected without', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const port = await freeUdpPort();
  const rejected = await track(startSServer({ port, cert: pki.files['name-only.pem'], key: pki.files['name-only.key'], chain: pki.files['inter.pem'] }));
  await assert.rejects(connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'] }), { code: 'HOST_MISMATCH' });
  await rejected.waitFor(/SSL alert number 42/); // bad_certificate reached the server; s_server exits after a failed handshake
  await rejected.stop();
  const server = await track(startSServer({ port, cert: pki.files['name-only.pem'], key: pki.files['name-only.key'], chain: pki.files['inter.pem'] }));
  const conn = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'], serverName: 'device-api.example' });
  await conn.send(Buffer.from('via serverName\n'));
  await server.waitFor(/via serverName/);
  await conn.close();
});

test('verify: false still encrypts (self-signed server), and the session is usable', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const port = await freeUdpPort();
  const server = await track(startSServer({ port, cert: pki.files['self-signed.pem'], key: pki.files['self-signed.key'] }));
  const conn = await connectDtls({ host: '127.0.0.1', port, verify: false });
  await conn.send(Buffer.from('unverified but encrypted\n'));
  await server.waitFor(/unverified but encrypted/);
  await conn.close();
});

test('a dead session is detected: the server goes away → close with NETWORK; a new handshake works after it is back', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const port = await freeUdpPortPair();
  const opts = { flavor: 'openssl', port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], ca: pki.files['root+inter.pem'] };
  let server = await track(startCoapServer(opts));
  const conn = await connectDtls({ host: '127.0.0.1', port: port + 1, ca: pki.pem['root.pem'] });
  assert.equal((await post(conn, '{"before":1}')).code, '2.01');
  // A crash: no close_notify. The next record meets a closed port (ICMP port unreachable).
  process.kill(server.pid, 'SIGKILL');
  await server.stop();
  running.delete(server);
  const closed = new Promise((resolve) => conn.once('close', resolve));
  await conn.send(Buffer.from([0x40, 0, 0, 1]));
  const err = await closed;
  assert.equal(err.code, 'NETWORK');
  assert.match(err.message, /nothing listens/);
  await assert.rejects(conn.send(Buffer.from('x')), { code: 'CLOSED' });

  // An orderly stop: the server says close_notify, which ends the session at once.
  server = await track(startCoapServer(opts));
  const again = await connectDtls({ host: '127.0.0.1', port: port + 1, ca: pki.pem['root.pem'] });
  assert.match((await post(again, '{"after":1}')).code, /^2\.0[14]$/);
  const closedAgain = new Promise((resolve) => again.once('close', resolve));
  await server.stop();
  running.delete(server);
  const err2 = await closedAgain;
  assert.equal(err2.code, 'ALERT_RECEIVED');
  assert.equal(err2.alert, 'close_notify');
});
