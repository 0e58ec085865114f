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
const { settings, fastTiming } = require('./common');

const root = path.join(__dirname, '..', '..');
const { DeviceConnection } = require(path.join(root, 'nodes', 'lib', 'device', 'connection'));
const { createTransport } = require(path.join(root, 'nodes', 'lib', 'transports'));

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
