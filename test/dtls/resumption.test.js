'use strict';
// Session resumption (RFC 5246 §7.3, the abbreviated handshake) against real DTLS servers:
// libcoap's coap-server-openssl (OpenSSL 3 with its session cache) resumes the session a second
// connection offers — no certificate, no key exchange — and CoAP flows over it; through a relay
// that delays every datagram, the resumed handshake costs one round trip less than the full one
// (with the cookie exchange: 2 round trips instead of 3). A server that does not know the offered
// session (openssl s_server) makes a full handshake instead; a lost last flight of ours is sent
// again when the server repeats its Finished. (openssl s_server -listen serves one session and
// then stops listening, so it cannot show a resumption itself.)
const test = require('node:test');
const assert = require('node:assert/strict');
const { connectDtls } = require('../../nodes/lib/dtls');
const { requirePeer } = require('../support/peers');
const { freeUdpPort, freeUdpPortPair } = require('../support/ports');
const { startSServer, startCoapServer, coapExchange, CoapCode } = require('../support/dtls-peers');
const { startLossyRelay } = require('../support/lossy-relay');
const { makeDtlsPki } = require('./fixtures');
const { waitFor } = require('../support/wait');

let pki;
const running = new Set();
test.before(async () => { pki = await makeDtlsPki(); });
test.after(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  pki?.remove();
});
async function track(promise) { const p = await promise; running.add(p); return p; }

async function libcoap() {
  const port = await freeUdpPortPair();
  await track(startCoapServer({ port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], ca: pki.files['root+inter.pem'] }));
  return port + 1; // CoAPS
}

async function connect(port, resume, extra = {}) {
  const started = process.hrtime.bigint();
  const conn = await connectDtls({ host: '127.0.0.1', port, ca: pki.pem['root.pem'], serverName: 'localhost', resume, initialRetransmitMs: 3000, ...extra });
  return { conn, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

let mid = 3000;
function post(conn, text) {
  const messageId = mid++;
  return coapExchange(conn, { code: CoapCode.POST, messageId, token: Buffer.from([messageId >> 8, messageId & 0xff]), path: ['api', 'v1', 'RESUME-TOKEN', 'telemetry'], contentFormat: 50, payload: Buffer.from(text) });
}

test('coap-server-openssl resumes the session: abbreviated handshake, CoAP flows, one round trip less than a full handshake', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const port = await libcoap();
  const delayMs = 60; // each way: a round trip is 120 ms, far above the handshake's CPU time
  // Round trips: each time the server answers after our datagrams (a client flight, then a server one).
  let trips = 0;
  let last = 'toClient';
  const relay = await startLossyRelay({
    target: { host: '127.0.0.1', port },
    delayMs,
    transform: (dir, d) => { if (dir === 'toClient' && last === 'toServer') trips++; last = dir; return d; },
  });
  t.after(() => relay.close());

  const full = await connect(relay.port);
  const fullTrips = trips;
  assert.equal(full.conn.resumed, false);
  assert.ok(full.conn.resumable, 'the server gave a session id');
  assert.equal(full.conn.resumable.sessionId.length, 32);
  assert.ok((await post(full.conn, '{"full":1}')).code.startsWith('2.'));
  const resumable = full.conn.resumable;
  await full.conn.close();

  await new Promise((r) => setTimeout(r, 3 * delayMs)); // the close_notify has passed
  trips = 0;
  last = 'toClient';
  const again = await connect(relay.port, resumable);
  const resumedTrips = trips;
  assert.equal(again.conn.resumed, true, 'the server resumed the session');
  assert.equal(again.conn.peerCertificates.length, 0, 'no certificate in an abbreviated handshake');
  assert.ok((await post(again.conn, '{"resumed":1}')).code.startsWith('2.'));
  // Round trips: full = cookie + ClientHello/flight 4 + flight 5/6 = 3; resumed = cookie + 1.
  t.diagnostic(`full handshake ${full.ms.toFixed(0)} ms, ${fullTrips} round trips; resumed ${again.ms.toFixed(0)} ms, ${resumedTrips} round trips (each ${2 * delayMs} ms)`);
  assert.equal(fullTrips, 3, 'full handshake');
  assert.equal(resumedTrips, 2, 'resumed handshake: one round trip after the cookie exchange');
  assert.ok(again.ms < full.ms - 1.5 * delayMs, `the resumed handshake is a round trip faster (${again.ms} vs ${full.ms} ms)`);
  // Resumable again for the next time, with the same session.
  assert.ok(again.conn.resumable.sessionId.equals(resumable.sessionId));
  await again.conn.close();
});

test('a server that does not know the offered session (openssl s_server): a full handshake follows, data flows', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const port = await freeUdpPort();
  const server = await track(startSServer({ port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], chain: pki.files['inter.pem'], mtu: 1200 }));
  const unknown = { sessionId: Buffer.alloc(32, 7), masterSecret: Buffer.alloc(48, 9), cipherSuite: 0xc02b, extendedMasterSecret: true, identity: 'localhost' };
  const { conn } = await connect(port, unknown);
  assert.equal(conn.resumed, false);
  assert.ok(conn.peerCertificates.length > 0, 'a full handshake: the certificate was sent and checked');
  assert.ok(conn.resumable && !conn.resumable.sessionId.equals(unknown.sessionId), 'a new session to resume next time');
  await conn.send(Buffer.from('after-full-fallback\n'));
  await server.waitFor(/after-full-fallback/);
  await conn.close();
});

test('resumed: when our last flight (ChangeCipherSpec, Finished) is lost, the repeated server Finished makes us send it again', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const port = await libcoap();
  const first = await connect(port);
  const resumable = first.conn.resumable;
  await first.conn.close();
  let dropped = 0;
  const relay = await startLossyRelay({
    target: { host: '127.0.0.1', port },
    // Our ChangeCipherSpec record (content type 20) opens our last flight: drop it once.
    transform: (dir, d) => (dir === 'toServer' && d[0] === 20 && dropped++ === 0 ? null : d),
  });
  t.after(() => relay.close());
  const { conn } = await connect(relay.port, resumable, { initialRetransmitMs: 300 });
  assert.equal(conn.resumed, true);
  // The server repeats its flight after its own timer (OpenSSL: 1 s); our answer is that flight again.
  await waitFor(() => dropped >= 2, 'our last flight sent again', 10000);
  // (Data sent before the server had our Finished is not answered by libcoap 4.3.1 even afterwards:
  // the transport's session watch would take such a session down and reconnect.)
  assert.ok((await post(conn, '{"afterLoss":1}')).code.startsWith('2.'), 'CoAP works once the server has our Finished');
  await conn.close();
});

test("the CoAPS transport's socket factory offers the last session on its next handshake (a reconnect)", async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const { dtlsSocketFactory } = require('../../nodes/lib/transports/coap/dtls-socket');
  const port = await libcoap();
  const create = dtlsSocketFactory({ transport: 'coaps', host: 'localhost', port, accessToken: 'x', caCert: pki.pem['root.pem'], verifyServer: true, allowPartialChain: false, serverName: '', maxPayloadBytes: 65536, mqtt: {}, coap: {} });
  const peer = { host: 'localhost', address: '127.0.0.1', family: 4, port };
  const first = await create(peer);
  assert.equal(first.connection.resumed, false);
  await new Promise((r) => first.close(r));
  const second = await create(peer);
  assert.equal(second.connection.resumed, true, 'the reconnect resumed the session');
  await new Promise((r) => second.close(r));
});
