'use strict';
// A DTLS server that forgets the session (issue 11, item 2): the emulator's OpenSSL DTLS front
// (socat) is restarted on the same port while readings flow, so our records of the old session
// are discarded without an alert, as ThingsBoard's Scandium does after a restart. The transport
// must notice after the first unanswered confirmable message (not after two CoAP timeouts), put
// the readings in flight back in the queue, and deliver everything over a new handshake: none
// fails, first arrivals in order.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requirePeer } = require('../support/peers');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { startCoapsEmulator } = require('../../emulator/coaps');
const { ensureCerts } = require('../../emulator/certs');
const { waitFor } = require('../support/wait');
const { settings, fastTiming, pingOnlyServer } = require('./common');

const root = path.join(__dirname, '..', '..');
const { DeviceConnection } = require(path.join(root, 'nodes', 'lib', 'device', 'connection'));
const { createTransport } = require(path.join(root, 'nodes', 'lib', 'transports'));
const { probeWaitMs, PROBE_TRANSMISSIONS } = require(path.join(root, 'nodes', 'lib', 'transports', 'coap', 'session-watch'));
const { DEFAULT_KEEPALIVE_SECONDS } = require(path.join(root, 'nodes', 'lib', 'transports', 'coap', 'transport'));

const timing = fastTiming(0.1); // RFC 7252 timing scaled down 20×: a timeout would take 4.65 s
const TOKEN = 'SessionLossTok3n';

test('CoAPS server restarted on the same port while readings flow: all delivered, none failed, in order', { timeout: 120000 }, async (t) => {
  if (!requirePeer(t, 'socat')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-restart-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = await ensureCerts(path.join(dir, 'pki'));
  const store = new DeviceStore({ devices: [{ name: 'dev', token: TOKEN }] });
  const coap = await startCoapEmulator({ store });
  t.after(() => coap.close());
  let dtls = await startCoapsEmulator({ coapPort: coap.port, certs });
  const port = dtls.port;
  t.after(() => dtls.close());

  const infos = [];
  const states = [];
  const conn = new DeviceConnection(settings(port, { transport: 'coaps', accessToken: TOKEN, caCert: certs.caPem }), {
    createTransport,
    log: { warn: (x) => infos.push(x), info: (x) => infos.push(x) },
    queueSize: 1000,
    timing: { backoffInitialMs: 50, backoffMaxMs: 400, statusThrottleMs: 10 },
  });
  conn.register({ onStatus: (s) => states.push(s.state) });

  const arrived = [];
  store.on('telemetry', (e) => { for (const entry of e.entries) arrived.push(entry.values.n); });
  const N = 60;
  const results = [];
  let restartedAt = 0;
  let recoveredAt = 0;
  for (let n = 0; n < N; n++) {
    results.push(conn.send({ kind: 'telemetry', body: Buffer.from(JSON.stringify({ n })), qos: 1 }).then(() => null, (err) => err));
    if (n === 20) {
      await waitFor(() => arrived.includes(20), 'reading 20 delivered before the restart');
      // SIGKILL: a crash sends no close_notify, so the client is told nothing (like Scandium).
      try { process.kill(-dtls.pid, 'SIGKILL'); } catch { /* gone */ }
      await dtls.close();
      dtls = await startCoapsEmulator({ port, coapPort: coap.port, certs }); // same port, no memory of the session
      restartedAt = Date.now();
    }
    if (n > 20 && !recoveredAt && arrived.includes(n - 1)) recoveredAt = Date.now();
    await new Promise((r) => setTimeout(r, 20));
  }
  const failures = (await Promise.all(results)).filter(Boolean);
  assert.deepEqual(failures.map((e) => e.message), [], 'no reading failed');
  const firstArrival = [...new Set(arrived)];
  assert.deepEqual(firstArrival, Array.from({ length: N }, (_, n) => n), 'every reading, first arrivals in order');
  // Found by the session check (after a few retransmissions), well before a CoAP timeout would fire.
  assert.ok(infos.some((i) => /forgotten the session/.test(i)), infos.join('\n'));
  const maxTransmitWait = timing.ackTimeout * (2 ** (timing.maxRetransmit + 1) - 1) * timing.ackRandomFactor * 1000;
  await waitFor(() => arrived.includes(N - 1), 'the last reading');
  assert.ok(states.includes('reconnecting'), 'the lost session showed as reconnecting');
  assert.ok(recoveredAt === 0 || recoveredAt - restartedAt < maxTransmitWait, `recovered ${recoveredAt - restartedAt} ms after the restart`);
  await conn.close();
});

/** A DeviceConnection that only listens (thingsboard-in), with its states and log lines. */
function listener(port, caPem, coap = {}) {
  const infos = [];
  const states = [];
  const updates = [];
  const conn = new DeviceConnection(settings(port, { transport: 'coaps', accessToken: TOKEN, caCert: caPem, coap }), {
    createTransport,
    log: { warn: (x) => infos.push(x), info: (x) => infos.push(x) },
    queueSize: 100,
    timing: { backoffInitialMs: 50, backoffMaxMs: 400, statusThrottleMs: 10 },
  });
  conn.register({ onStatus: (s) => states.push({ state: s.state, at: Date.now() }) });
  conn.downlink.listen({ channel: 'attributes', names: [], onAttributes: (values) => updates.push({ values, at: Date.now() }), onError: (err) => infos.push(`error: ${err.message}`) });
  return { conn, infos, states, updates };
}

async function emulatorPair(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-listen-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = await ensureCerts(path.join(dir, 'pki'));
  const store = new DeviceStore({ devices: [{ name: 'dev', token: TOKEN }] });
  t.after(() => store.closeDownlink());
  const coap = await startCoapEmulator({ store });
  t.after(() => coap.close());
  const front = { dtls: await startCoapsEmulator({ coapPort: coap.port, certs }) };
  t.after(() => front.dtls.close());
  const restart = async () => {
    // SIGKILL: a crash sends no close_notify, so the client is told nothing (like Scandium).
    try { process.kill(-front.dtls.pid, 'SIGKILL'); } catch { /* gone */ }
    await front.dtls.close();
    front.dtls = await startCoapsEmulator({ port: front.dtls.port, coapPort: coap.port, certs });
  };
  return { store, certs, coap, front, restart };
}

test('a device that only listens notices a CoAPS server restart by its keepalive, says "reconnecting", and receives again', { timeout: 120000 }, async (t) => {
  if (!requirePeer(t, 'socat')) return;
  const { store, certs, front, restart } = await emulatorPair(t);
  const keepaliveSeconds = 1;
  const dev = listener(front.dtls.port, certs.caPem, { keepaliveSeconds });
  t.after(() => dev.conn.close());
  await waitFor(() => store.devices.get('dev').sessions.size === 1, 'the attributes observation');
  store.setShared('dev', { v: 0 });
  await waitFor(() => dev.updates.length === 1, 'an update before the restart');

  // Idle for a while first: the keepalive keeps the session (no reconnect while the server is up).
  await new Promise((r) => setTimeout(r, 2500));
  assert.ok(!dev.states.some((s) => s.state === 'reconnecting'), 'no reconnect while the server was up');
  await restart();
  const restartedAt = Date.now();
  // The device sends nothing: only its keepalive can find out. Changes are pushed until one arrives.
  let n = 0;
  const pusher = setInterval(() => { try { store.setShared('dev', { v: ++n }); } catch { /* not yet */ } }, 200);
  t.after(() => clearInterval(pusher));
  await waitFor(() => dev.updates.some((u) => u.at > restartedAt), 'an update after the restart', 20000);
  clearInterval(pusher);
  const recoveredMs = dev.updates.find((u) => u.at > restartedAt).at - restartedAt;
  const reconnecting = dev.states.find((s) => s.state === 'reconnecting' && s.at > restartedAt);
  assert.ok(reconnecting, `the status said reconnecting meanwhile: ${dev.states.map((s) => s.state).join(' ')}`);
  assert.ok(dev.infos.some((i) => /keepalive ping: the server may have forgotten the session/.test(i)), dev.infos.join('\n'));
  // Within the keepalive, the probe's wait and a handshake (generous for a shared CI machine).
  const bound = keepaliveSeconds * 1000 + probeWaitMs() + 2500;
  assert.ok(recoveredMs < bound, `receiving again ${recoveredMs} ms after the restart (bound ${bound} ms)`);
  // With the defaults and RFC 7252 timing: keepalive + probe + first reconnect delay stay under 30 s.
  const rfcProbeMs = 2 * 1.5 * (2 ** PROBE_TRANSMISSIONS - 1) * 1000;
  assert.ok(DEFAULT_KEEPALIVE_SECONDS * 1000 + rfcProbeMs + 1000 < 30000, 'the default keepalive finds a restart within 30 s');
  await dev.conn.close();
});

test('a request the server ignores on a live session ends in done(err) at its deadline, with no new handshakes', { timeout: 120000 }, async (t) => {
  if (!requirePeer(t, 'socat')) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-ignored-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = await ensureCerts(path.join(dir, 'pki'));
  const hole = await pingOnlyServer(); // answers pings, ignores every request
  t.after(() => hole.close());
  const dtls = await startCoapsEmulator({ coapPort: hole.port, certs });
  t.after(() => dtls.close());
  const infos = [];
  const states = [];
  const conn = new DeviceConnection(settings(dtls.port, { transport: 'coaps', accessToken: TOKEN, caCert: certs.caPem }), {
    createTransport,
    log: { warn: (x) => infos.push(x), info: (x) => infos.push(x) },
    queueSize: 100,
    timing: { backoffInitialMs: 50, backoffMaxMs: 400, statusThrottleMs: 10 },
  });
  t.after(() => conn.close());
  conn.register({ onStatus: (s) => states.push(s.state) });
  await waitFor(() => states.at(-1) === 'connected', 'connected');
  const started = Date.now();
  const err = await conn.send({ kind: 'telemetry', body: Buffer.from('{"n":1}'), qos: 1 }).then(() => null, (e) => e);
  const took = Date.now() - started;
  assert.ok(err, 'the message failed');
  assert.match(err.message, /no response from .* after 5 attempts/);
  const maxTransmitWait = timing.ackTimeout * (2 ** (timing.maxRetransmit + 1) - 1) * timing.ackRandomFactor * 1000;
  assert.ok(took < maxTransmitWait + 1000, `done(err) after ${took} ms (MAX_TRANSMIT_WAIT ${maxTransmitWait} ms)`);
  // The probe ping was answered: the session stayed, no new handshake, no "another client" warning.
  assert.equal(dtls.stats.sessions, 1, 'one DTLS session');
  assert.ok(!states.includes('reconnecting'), states.join(' '));
  assert.ok(!infos.some((i) => /another client|forgotten the session/.test(i)), infos.join('\n'));
  await conn.close();
});
