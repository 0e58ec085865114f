'use strict';
// What the status says over CoAP, with the real CoapTransport and the in-process CoAP emulator:
// a wrong token shows "unauthorized" before any message is sent (the token check at connect, or
// the answer to a message that was waiting at connect, in the same words), and
// stays so across the slow retry and a redeploy until the server knows the token; and "reconnecting in N s" counts down once a second, with no timer left after stop.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { freeUdpPort } = require('../support/ports');
const { waitFor } = require('../support/wait');
const { settings, fastTiming, timingForTest } = require('../coap/common');
const { startTbPeer } = require('../coap/tb-coap-peer');

const root = path.join(__dirname, '..', '..');
const { DeviceConnection, DeviceRegistry } = require(path.join(root, 'nodes', 'lib', 'device'));
const { createTransport } = require(path.join(root, 'nodes', 'lib', 'transports'));

fastTiming(0.5);
const FAST = { backoffInitialMs: 50, backoffMaxMs: 300, stableAfterMs: 60_000, quickDropMs: 5000, statusThrottleMs: 10 };
const tele = (obj) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify(obj)), qos: 1 });

function recorder() {
  const statuses = [];
  return { statuses, user: { onStatus: (s) => statuses.push(s) }, log: { warn: () => {}, info: () => {} }, states: () => statuses.map((s) => s.state) };
}

test('CoAP wrong token: "unauthorized" before any message is sent, through retries and a redeploy, until the token is known', async (t) => {
  const store = new DeviceStore({ devices: [] });
  const emu = await startCoapEmulator({ store });
  t.after(() => emu.close());
  const token = 'NotYetKnownTok3n';
  const s = settings(emu.port, { accessToken: token });
  const rec = recorder();
  // One runtime: its config nodes share one registry (thingsboard-device.ts makes it).
  const registry = new DeviceRegistry();
  const conn = new DeviceConnection(s, { createTransport, registry, log: rec.log, queueSize: 100, timing: FAST });
  t.after(() => conn.close());
  conn.register(rec.user);
  // The token check at connect (a read of one shared attribute) is refused: no message was sent.
  await waitFor(() => rec.states().includes('unauthorized'), 'unauthorized with no message sent', 5000);
  assert.ok(!rec.states().includes('connected'), rec.states().join(' '));
  assert.equal(rec.statuses.at(-1).code, 'COAP_4.01');
  await assert.rejects(conn.send(tele({ a: 1 })), /unauthorized/);
  // Several slow retries (backoffMax 300 ms): each checks the token again, none shows "connected".
  await new Promise((r) => setTimeout(r, 1000));
  await assert.rejects(conn.send(tele({ a: 2 })), /unauthorized/);
  assert.deepEqual(rec.states().filter((st) => st === 'connected'), [], rec.states().join(' '));
  assert.equal(rec.statuses.at(-1).code, 'COAP_4.01');

  // A redeploy: a new connection for the same device starts out "unauthorized", not green.
  await conn.close();
  const rec2 = recorder();
  const conn2 = new DeviceConnection(s, { createTransport, registry, log: rec2.log, queueSize: 100, timing: FAST });
  t.after(() => conn2.close());
  conn2.register(rec2.user);
  await waitFor(() => rec2.states().includes('unauthorized'), 'unauthorized after the redeploy');
  assert.ok(!rec2.states().includes('connected'), rec2.states().join(' '));

  // Another runtime (its own memory of refusals) finds out by itself, through the token check.
  const other = recorder();
  const elsewhere = new DeviceConnection(s, { createTransport, registry: new DeviceRegistry(), log: other.log, queueSize: 100, timing: FAST });
  elsewhere.register(other.user);
  await waitFor(() => other.states().includes('unauthorized'), 'another runtime: unauthorized too', 5000);
  assert.ok(!other.states().includes('connected'), other.states().join(' '));
  await elsewhere.close();

  // The token is added on the server: the next retry's check passes, the status turns green on
  // its own, and a message is delivered.
  store.addDevice('late', token);
  await waitFor(() => rec2.states().at(-1) === 'connected', 'connected once the token is known');
  await conn2.send(tele({ a: 3 }));
  assert.equal(store.latest('late').a.value, 3);
  await conn2.close();

  // A known token: plainly connected, never "unauthorized".
  const rec3 = recorder();
  const conn3 = new DeviceConnection(s, { createTransport, registry, log: rec3.log, queueSize: 100, timing: FAST });
  t.after(() => conn3.close());
  conn3.register(rec3.user);
  await waitFor(() => rec3.states().at(-1) === 'connected', 'connected');
  assert.ok(!rec3.states().includes('unauthorized'));
  await conn3.close();
});

test('CoAP wrong token answered late (after connect): the status turns "unauthorized", not "reconnecting"', async (t) => {
  // "Late" is after the token check's window of one ACK_TIMEOUT (× 1.5): 75 ms here, the peer
  // answers after 400 ms. The file's 0.5 s would make that answer arrive in time.
  timingForTest(t, 0.05);
  const peer = await startTbPeer({ token: 'the-right-token', tokenCheckDelayMs: 400 });
  t.after(() => peer.close());
  const rec = recorder();
  const conn = new DeviceConnection(settings(peer.port, { accessToken: 'a-wrong-token' }), { createTransport, log: rec.log, queueSize: 100, timing: FAST });
  t.after(() => conn.close());
  conn.register(rec.user);
  await waitFor(() => rec.states().includes('connected'), 'connected before the answer came');
  await waitFor(() => rec.states().includes('unauthorized'), 'unauthorized once the late 4.01 came', 5000);
  assert.equal(rec.statuses.find((s) => s.state === 'unauthorized').code, 'COAP_4.01');
  assert.ok(!rec.states().includes('reconnecting'), rec.states().join(' '));
  await conn.close();
});

test('CoAP token deleted on the server while connected: a refused message turns the status "unauthorized", and the slow retry does not turn it green again', async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'deleted-later', token: 'DeletedLaterTok3n' }] });
  const emu = await startCoapEmulator({ store });
  t.after(() => emu.close());
  const rec = recorder();
  const conn = new DeviceConnection(settings(emu.port, { accessToken: 'DeletedLaterTok3n' }), { createTransport, log: rec.log, queueSize: 100, timing: FAST });
  t.after(() => conn.close());
  conn.register(rec.user);
  await waitFor(() => rec.states().at(-1) === 'connected', 'connected (the token check at connect passed)');
  await conn.send(tele({ a: 1 }));
  // The device (its token) is deleted in ThingsBoard: the next message is answered 4.01.
  store.byToken.delete('DeletedLaterTok3n');
  const from = rec.statuses.length;
  await assert.rejects(conn.send(tele({ a: 2 })), /unauthorized/);
  await waitFor(() => rec.states().slice(from).includes('unauthorized'), 'unauthorized after the refused message');
  // Several slow retries (backoffMax 300 ms): the server still refuses the token, so the status
  // must not go back to "connected".
  await new Promise((r) => setTimeout(r, 1200));
  const after = rec.states().slice(from);
  assert.ok(!after.includes('connected'), after.join(' '));
  assert.equal(conn.status().state, 'unauthorized');
  assert.equal(conn.status().code, 'COAP_4.01');
  // The token is back: a message is accepted again (the refusal no longer blocks sending), and
  // the delivery turns the status green.
  store.byToken.set('DeletedLaterTok3n', store.devices.get('deleted-later'));
  await conn.send(tele({ a: 3 }));
  assert.equal(store.latest('deleted-later').a.value, 3);
  await waitFor(() => rec.states().at(-1) === 'connected', 'connected after a delivered message');
  await conn.close();
});

test('CoAP with a message waiting at connect: the message is the token check; a wrong token fails it with the usual words and the status says "unauthorized"', async (t) => {
  const peer = await startTbPeer({ token: 'the-right-token' });
  t.after(() => peer.close());
  const posts = () => peer.requests((m) => m.code === '0.02');
  const rec = recorder();
  // No resend allowed: the refused message never reached the data path, so it is no resend.
  const conn = new DeviceConnection(settings(peer.port, { accessToken: 'WaitingWrongTok3n' }), { createTransport, log: rec.log, queueSize: 100, timing: { ...FAST, maxResends: 0 } });
  t.after(() => conn.close());
  conn.register(rec.user);
  // Queued while the connection is still being made: it goes with the connect.
  const first = await conn.send(tele({ a: 1 })).then(() => null, (err) => err);
  assert.equal(peer.tokenChecks().length, 0, 'a token check of its own was sent although a message was waiting');
  assert.equal(posts().length, 1);
  assert.match(first?.message ?? '', /^not sent: the access token check at connect: unauthorized: ThingsBoard refused the access token/);
  assert.equal(first.code, 'COAP_4.01');
  assert.ok(!first.message.includes('WaitingWrongTok3n'));
  await waitFor(() => rec.states().includes('unauthorized'), 'unauthorized');
  assert.ok(!rec.states().includes('connected'), rec.states().join(' '));
  assert.equal(rec.statuses.at(-1).code, 'COAP_4.01');
  // The words of every later message while the token stays refused.
  const later = await conn.send(tele({ a: 2 })).then(() => null, (err) => err);
  assert.equal(later?.message, first.message);
  await conn.close();

  // The right token: the waiting message is delivered with the connect, no token check of its own.
  const good = recorder();
  const ok = new DeviceConnection(settings(peer.port, { accessToken: 'the-right-token' }), { createTransport, log: good.log, queueSize: 100, timing: FAST });
  t.after(() => ok.close());
  ok.register(good.user);
  const checks = peer.tokenChecks().length;
  await ok.send(tele({ b: 1 }));
  assert.equal(peer.tokenChecks().length, checks);
  await waitFor(() => good.states().at(-1) === 'connected', 'connected');
  assert.ok(!good.states().includes('unauthorized'));
  await ok.close();

  // Nothing waiting (a listen-only device): the token check is still made at connect.
  const quiet = new DeviceConnection(settings(peer.port, { accessToken: 'the-right-token' }), { createTransport, log: recorder().log, queueSize: 100, timing: FAST });
  t.after(() => quiet.close());
  const quietRec = recorder();
  quiet.register(quietRec.user);
  await waitFor(() => quietRec.states().at(-1) === 'connected', 'connected');
  assert.equal(peer.tokenChecks().length, checks + 1);
  await quiet.close();
});

test('CoAP with a message waiting at connect answered 4.01 late (after connect): the message fails "unauthorized", the status turns "unauthorized", not "reconnecting"', async (t) => {
  timingForTest(t, 0.05); // the token check's window: 75 ms; the peer answers the POST after 400 ms
  const peer = await startTbPeer({
    token: 'the-right-token',
    handle: (req, p) => {
      if (req.code !== '0.02' || req.path[2] === 'the-right-token') return false;
      p.ackEmpty(req);
      setTimeout(() => p.respondSeparately(req, '4.01'), 400);
      return true;
    },
  });
  t.after(() => peer.close());
  const rec = recorder();
  const conn = new DeviceConnection(settings(peer.port, { accessToken: 'LateWrongTok3n' }), { createTransport, log: rec.log, queueSize: 100, timing: FAST });
  t.after(() => conn.close());
  conn.register(rec.user);
  const err = await conn.send(tele({ a: 1 })).then(() => null, (e) => e);
  assert.match(err?.message ?? '', /^not sent: .*unauthorized: ThingsBoard refused the access token/);
  assert.equal(peer.tokenChecks().length, 0);
  await waitFor(() => rec.states().includes('unauthorized'), 'unauthorized once the late 4.01 came');
  const states = rec.states();
  assert.ok(states.includes('connected') && states.indexOf('connected') < states.indexOf('unauthorized'), states.join(' '));
  assert.ok(!rec.states().includes('reconnecting'), rec.states().join(' '));
  await conn.close();
});

test('"reconnecting in N s" counts down once a second; stop leaves no timer behind', async () => {
  const port = await freeUdpPort(); // nothing listens: every connect fails at once (ICMP)
  const rec = recorder();
  const conn = new DeviceConnection(settings(port), {
    createTransport, log: rec.log, queueSize: 100, random: () => 0.999,
    timing: { ...FAST, backoffInitialMs: 3500, backoffMaxMs: 3500 },
  });
  conn.register(rec.user);
  await waitFor(() => rec.states().at(-1) === 'reconnecting', 'reconnecting');
  const start = rec.statuses.length - 1;
  const stalls = monitorEventLoopDelay({ resolution: 20 });
  stalls.enable();
  await waitFor(() => rec.states().slice(start).includes('connecting'), 'the next attempt', 6000);
  stalls.disable();
  // Up to the attempt: its failure starts the next countdown at once.
  const cycle = rec.statuses.slice(start);
  const shown = cycle.slice(0, cycle.findIndex((s) => s.state === 'connecting')).filter((s) => s.state === 'reconnecting').map((s) => s.retryInSeconds);
  if (stalls.max < 500e6) {
    assert.deepEqual(shown, [4, 3, 2, 1], `shown: ${shown.join(', ')}`);
  } else {
    // The event loop stood still for half a second or more (4 test files share 2 cores in CI): a
    // tick that late shows the number of its own moment and the one it slept through is never
    // shown (seen once: 4, 3, 2, then the attempt). What was shown still counts down from 4.
    const why = `shown: ${shown.join(', ')} (the event loop stalled up to ${Math.round(stalls.max / 1e6)} ms)`;
    assert.equal(shown[0], 4, why);
    assert.ok(shown.length >= 2 && shown.every((n, i) => n >= 1 && (i === 0 || n < shown[i - 1])), why);
  }
  await waitFor(() => rec.states().at(-1) === 'reconnecting', 'reconnecting again');
  await conn.close();
  const count = rec.statuses.length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(rec.statuses.length, count, 'no status (no countdown timer) after close');
});
