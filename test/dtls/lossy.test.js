'use strict';
// 30 % loss in each direction (seeded, so reproducible): flights are retransmitted and
// reassembled from whatever fragments arrive, and CoAP exchanges over the session complete.
const test = require('node:test');
const assert = require('node:assert/strict');
const { connectDtls } = require('../../nodes/lib/dtls');
const { requirePeer } = require('../support/peers');
const { freeUdpPort, freeUdpPortPair } = require('../support/ports');
const { startSServer, startCoapServer, coapExchange, CoapCode } = require('../support/dtls-peers');
const { startLossyRelay, seededRandom } = require('../support/lossy-relay');
const { makeDtlsPki } = require('./fixtures');

let pki;
const cleanups = [];
test.before(async () => { pki = await makeDtlsPki(); });
test.after(async () => {
  for (const c of cleanups.reverse()) await c();
  pki?.remove();
});

test('coap-server-openssl behind a relay losing 30 % each way: handshake, 10 POSTs and a GET complete', async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const port = await freeUdpPortPair();
  const server = await startCoapServer({ flavor: 'openssl', port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], ca: pki.files['root+inter.pem'] });
  cleanups.push(() => server.stop());
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port: port + 1 }, dropToServer: 0.3, dropToClient: 0.3, random: seededRandom(7) });
  cleanups.push(() => relay.close());
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, serverName: 'localhost', ca: pki.pem['root.pem'], handshakeTimeoutMs: 60000 });
  for (let i = 0; i < 10; i++) {
    const res = await coapExchange(conn, { code: CoapCode.POST, messageId: 200 + i, token: Buffer.from([i]), path: ['api', 'v1', 'T', 'telemetry'], contentFormat: 50, payload: Buffer.from(`{"i":${i}}`) }, { retryMs: 500, timeoutMs: 30000 });
    assert.match(res.code, /^2\.0[14]$/);
  }
  const res = await coapExchange(conn, { code: CoapCode.GET, messageId: 300, token: Buffer.from([0x30]), path: ['api', 'v1', 'T', 'telemetry'] }, { retryMs: 500, timeoutMs: 30000 });
  assert.equal(res.payload.toString(), '{"i":9}');
  assert.ok(relay.stats.toServer.dropped > 0 && relay.stats.toClient.dropped > 0, 'the relay really lost datagrams both ways');
  await conn.close();
});

test('openssl s_server (CertificateRequest, flights fragmented at MTU 400) behind a relay losing 30 % each way', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const port = await freeUdpPort();
  const server = await startSServer({ port, cert: pki.files['leaf.pem'], key: pki.files['leaf.key'], chain: pki.files['inter.pem'], mtu: 400 });
  cleanups.push(() => server.stop());
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port }, dropToServer: 0.3, dropToClient: 0.3, random: seededRandom(11) });
  cleanups.push(() => relay.close());
  const conn = await connectDtls({ host: '127.0.0.1', port: relay.port, ca: pki.pem['root.pem'], mtu: 400, handshakeTimeoutMs: 60000 });
  // Application data is not retransmitted by DTLS: send each line until the server shows it.
  for (let i = 0; i < 5; i++) {
    const line = `lossy-line-${i}`;
    for (let tries = 0; tries < 40 && !server.output().includes(line); tries++) {
      await conn.send(Buffer.from(`${line}\n`));
      await server.waitFor(new RegExp(line), 250).catch(() => {});
    }
    assert.ok(server.output().includes(line), `${line} arrived`);
  }
  assert.ok(relay.stats.dropped > 0);
  await conn.close();
});
