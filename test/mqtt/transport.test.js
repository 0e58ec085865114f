'use strict';
// MqttTransport against the in-process ThingsBoard emulator (aedes), plain and TLS: CONNACK
// handling, TLS verification (and that no CONNECT reaches a server we did not trust), QoS 0/1,
// 'down' on a broker that goes away, and clear error texts without the token.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { lib, TOKEN, mqttSettings, testPki, emulator, deferred, waitFor } = require('./common');
const { freeTcpPort } = require('../support/ports');

const { MqttTransport } = lib('transports/mqtt/transport.js');
const { TransportError } = lib('transports/transport.js');

const closers = [];
test.after(async () => {
  for (const close of closers.reverse()) await close();
});

async function plainEmulator(opts) {
  const e = await emulator(opts);
  closers.push(() => e.emu.close());
  return e;
}

async function tlsEmulator(tlsOpts, opts) {
  const e = await emulator({ tls: tlsOpts, ...opts });
  closers.push(() => e.emu.close());
  return e;
}

async function connectError(settings) {
  const t = new MqttTransport(settings);
  try {
    await t.connect();
  } catch (err) {
    await t.close();
    return err;
  }
  await t.close();
  assert.fail('connect() should have failed');
}

function assertNoToken(text) {
  assert.ok(!String(text).includes(TOKEN), `token leaked in: ${text}`);
}

test('plain MQTT: connect, QoS 1 and QoS 0 telemetry and attributes reach the store', { timeout: 60000 }, async () => {
  const { store, emu } = await plainEmulator();
  const t = new MqttTransport(mqttSettings({ port: emu.port }));
  assert.equal(t.name, 'mqtt');
  assert.ok(t.maxInFlight >= 1);
  await t.connect();
  await t.send({ kind: 'telemetry', body: Buffer.from('{"temperature":25}'), qos: 1 });
  assert.equal(store.latest('dev1').temperature.value, 25, 'QoS 1 resolves after PUBACK: stored already');
  await t.send({ kind: 'attributes', body: Buffer.from('{"fw":"1.2"}'), qos: 1 });
  assert.deepEqual(store.devices.get('dev1').attributes, { fw: '1.2' });
  await t.send({ kind: 'telemetry', body: Buffer.from('{"q0":1}'), qos: 0 });
  await waitFor(() => store.latest('dev1').q0, 'QoS 0 message at the broker');
  assert.equal(emu.stats.connects, 1);
  await t.close();
  await t.close(); // twice is safe
  await assert.rejects(t.send({ kind: 'telemetry', body: Buffer.from('{}'), qos: 1 }), (err) => err.kind === 'closed');
});

test('CONNACK 5 (unknown token) and 4 (empty token) → unauthorized, token not in the message', { timeout: 60000 }, async () => {
  const { emu } = await plainEmulator();
  const err5 = await connectError(mqttSettings({ port: emu.port, accessToken: 'NOT_A_KNOWN_TOKEN_xyz' }));
  assert.ok(err5 instanceof TransportError);
  assert.equal(err5.kind, 'unauthorized');
  assert.equal(err5.code, 'CONNACK_5');
  assert.ok(err5.permanent);
  assert.match(err5.message, /access token/);
  assert.ok(!err5.message.includes('NOT_A_KNOWN_TOKEN_xyz'));
  const err4 = await connectError(mqttSettings({ port: emu.port, accessToken: '' }));
  assert.equal(err4.kind, 'unauthorized');
  assert.equal(err4.code, 'CONNACK_4');
});

test('CONNACK codes: MQTT 5 0x86/0x87/0x8C are unauthorized; others are retried', { timeout: 60000 }, () => {
  const { classifyConnack } = lib('transports/mqtt/errors.js');
  for (const code of [4, 5, 134, 135, 140]) assert.equal(classifyConnack(code).kind, 'unauthorized', `code ${code}`);
  for (const code of [1, 2, 3, 136, 137, 151]) assert.equal(classifyConnack(code).kind, 'unreachable', `code ${code}`);
  assert.match(classifyConnack(1).message, /MQTT 3\.1\.1/);
});

test('connection refused → unreachable with a clear message', { timeout: 60000 }, async () => {
  const port = await freeTcpPort();
  const err = await connectError(mqttSettings({ port }));
  assert.equal(err.kind, 'unreachable');
  assert.equal(err.code, 'ECONNREFUSED');
  assert.match(err.message, /connection refused by 127\.0\.0\.1:\d+/);
});

test('unknown host name → unreachable, names the host', { timeout: 60000 }, async () => {
  const err = await connectError(mqttSettings({ host: 'no-such-host.invalid', port: 1883 }));
  assert.equal(err.kind, 'unreachable');
  assert.match(err.message, /no-such-host\.invalid/);
});

test('a TCP server that closes without CONNACK → unreachable', { timeout: 60000 }, async () => {
  const server = net.createServer((s) => s.destroy());
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => server.close(r)));
  const err = await connectError(mqttSettings({ port: server.address().port }));
  assert.equal(err.kind, 'unreachable');
});

test('MQTTS with the right CA (root only; server sends the intermediate) connects and publishes', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { store, emu } = await tlsEmulator(pki.server);
  const t = new MqttTransport(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: pki.caPem }));
  assert.equal(t.name, 'mqtts');
  await t.connect();
  await t.send({ kind: 'telemetry', body: Buffer.from('{"secure":1}'), qos: 1 });
  assert.equal(store.latest('dev1').secure.value, 1);
  await t.close();
});

test('MQTTS: a CA bundle with several certificates works when the right one is inside', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { emu } = await tlsEmulator(pki.server);
  const t = new MqttTransport(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: pki.otherCaPem + pki.caPem }));
  await t.connect();
  await t.close();
});

test('MQTTS with the wrong CA → certificate error, and the broker never saw a CONNECT', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { emu } = await tlsEmulator(pki.server);
  const err = await connectError(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: pki.otherCaPem }));
  assert.equal(err.kind, 'certificate');
  assert.equal(err.code, 'UNKNOWN_CA');
  assert.ok(err.permanent);
  assert.match(err.message, /server certificate not trusted/);
  assert.match(err.message, /not issued by a CA in the configured CA certificate/); // one was pasted
  assertNoToken(err.message);
  assert.ok(emu.stats.connectAttempts >= 1, 'the TCP connection was made');
  assert.equal(emu.stats.connects, 0, 'no CONNECT (which carries the token) reached the broker');
});

test('MQTTS with no CA (system trust store) rejects a private CA', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { emu } = await tlsEmulator(pki.server);
  const err = await connectError(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: '' }));
  assert.equal(err.kind, 'certificate');
  // Says what was used (none was configured), not "a CA in the configured CA certificate".
  assert.match(err.message, /no CA certificate is configured, so the system's trusted CAs were used/);
  assert.doesNotMatch(err.message, /in the configured CA certificate/);
  assert.match(err.message, /Paste the CA certificate/);
  assert.equal(emu.stats.connects, 0);
});

test('MQTTS host name mismatch → certificate error HOST_MISMATCH; serverName fixes it', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { emu } = await tlsEmulator(pki.wrongHost);
  const err = await connectError(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: pki.caPem }));
  assert.equal(err.kind, 'certificate');
  assert.equal(err.code, 'HOST_MISMATCH');
  assert.match(err.message, /host name mismatch/);
  assert.match(err.message, /Server name/);
  assert.equal(emu.stats.connects, 0);
  const t = new MqttTransport(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: pki.caPem, serverName: 'other.example' }));
  await t.connect();
  await t.close();
  assert.equal(emu.stats.connects, 1);
});

test('MQTTS expired server certificate → certificate error EXPIRED', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { emu } = await tlsEmulator(pki.expired);
  const err = await connectError(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: pki.caPem }));
  assert.equal(err.kind, 'certificate');
  assert.equal(err.code, 'EXPIRED');
  assert.match(err.message, /expired/);
  assert.equal(emu.stats.connects, 0);
});

test('MQTTS with verification off connects to an untrusted server', { timeout: 60000 }, async () => {
  const pki = await testPki();
  const { emu } = await tlsEmulator(pki.wrongHost);
  const t = new MqttTransport(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: '', verifyServer: false }));
  await t.connect();
  await t.close();
});

test('MQTTS against a plain MQTT port → unreachable "did not answer with TLS"', { timeout: 60000 }, async () => {
  const { emu } = await plainEmulator();
  const err = await connectError(mqttSettings({ transport: 'mqtts', port: emu.port, caCert: '' }));
  assert.ok(['unreachable'].includes(err.kind), err.message);
  // The diagnosis, not only the kind: the user is told this port speaks plain MQTT, and which.
  assert.equal(err.code, 'NOT_TLS', err.message);
  assert.match(err.message, /this port probably speaks plain MQTT \(1883\), not MQTTS \(usually 8883\)/);
  assert.match(err.message, new RegExp(`\\b${emu.port}\\b`), err.message);
  assert.doesNotMatch(err.message, /cipher|TLS version/i);
  assertNoToken(err.message);
  assert.equal(emu.stats.connects, 0, 'a plain broker must not receive the token either');
});

test('broker going away: in-flight sends reject "closed", then "down"; connect() again works', { timeout: 60000 }, async () => {
  const { store, emu } = await plainEmulator();
  const t = new MqttTransport(mqttSettings({ port: emu.port }));
  const down = deferred();
  t.on('down', down.resolve);
  await t.connect();
  // Block the broker from acknowledging: hold authorizePublish.
  const held = [];
  emu.broker.authorizePublish = (client, packet, cb) => held.push(cb);
  const sending = t.send({ kind: 'telemetry', body: Buffer.from('{"x":1}'), qos: 1 });
  await waitFor(() => held.length === 1, 'the publish at the broker');
  for (const c of Object.values(emu.broker.clients)) c.conn.destroy();
  await assert.rejects(sending, (err) => err.kind === 'closed');
  const err = await down.promise;
  assert.equal(err.kind, 'closed');
  assertNoToken(err.message);
  emu.broker.authorizePublish = (client, packet, cb) => {
    store.accept(client.tbToken, 'telemetry', packet.payload, 'mqtt');
    cb(null);
  };
  await t.connect();
  await t.send({ kind: 'telemetry', body: Buffer.from('{"again":1}'), qos: 1 });
  assert.equal(store.latest('dev1').again.value, 1);
  await t.close();
});

test('close() while connecting rejects connect() with "closed"', { timeout: 60000 }, async () => {
  // A server that accepts TCP and never answers CONNECT.
  const sockets = new Set();
  let closedAtServer = 0;
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.resume(); // read (and drop) the CONNECT, so the FIN is seen
    s.on('close', () => { closedAtServer++; });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }));
  const t = new MqttTransport(mqttSettings({ port: server.address().port }));
  const connecting = t.connect();
  const outcome = connecting.then(() => null, (err) => err); // handled from the start
  await waitFor(() => sockets.size === 1, 'the TCP connection');
  await t.close();
  // close() closed the socket itself (not mqtt.js's CONNECT timeout, seconds later).
  await waitFor(() => closedAtServer === 1, 'the socket closed at the server right after close()', 2000);
  const err = await outcome;
  assert.ok(err && err.kind === 'closed', `connect() rejects with closed: ${err && err.message}`);
});

test('connect() after close() rejects with "closed" and opens no connection', { timeout: 60000 }, async () => {
  const { emu } = await plainEmulator();
  const t = new MqttTransport(mqttSettings({ port: emu.port }));
  await t.connect();
  await t.close();
  const attempts = emu.stats.connectAttempts;
  await assert.rejects(t.connect(), (err) => err.kind === 'closed');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(emu.stats.connectAttempts, attempts, 'no new TCP connection after close()');
});

test('DEBUG=mqttjs* shows nothing of mqtt.js (its log names the access token), and the connection works', { timeout: 60000 }, async () => {
  const { spawn } = require('node:child_process');
  // In a child: the `debug` package reads DEBUG when it is loaded.
  const script = `
    const { mqttSettings, emulator, lib } = require(${JSON.stringify(require.resolve('./common'))});
    const { MqttTransport } = lib('transports/mqtt/transport.js');
    (async () => {
      const { store, emu } = await emulator();
      const t = new MqttTransport(mqttSettings({ port: emu.port }));
      await t.connect();
      await t.send({ kind: 'telemetry', body: Buffer.from('{"d":1}'), qos: 1 });
      await t.close();
      await emu.close();
      process.stdout.write(String(store.latest('dev1').d.value));
    })().catch((err) => { console.error(err); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, DEBUG: 'mqttjs*' } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((resolve) => child.once('close', resolve));
  assert.equal(code, 0, err);
  assert.equal(out, '1', 'stored');
  assertNoToken(err);
  assert.ok(!/mqttjs:client/.test(err), `mqtt.js logged: ${err.slice(0, 300)}`);
});
