'use strict';
// DeviceConnection without Node-RED: over the real MQTT transport and the in-process emulator
// (order and at-least-once across a broker restart, unauthorized then fixed on the server,
// another client with the same token, a message the server keeps refusing, backoff, in-flight
// limit), and over a scripted Transport for the contract's per-message failure kinds.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { lib, TOKEN, mqttSettings, emulator, waitFor } = require('../mqtt/common');
const { freeTcpPort } = require('../support/ports');
const { startMqttEmulator } = require('../../emulator/mqtt');

const { DeviceConnection, DeviceError } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');
const { TransportError } = lib('transports/transport.js');

const FAST = { backoffInitialMs: 50, backoffMaxMs: 400, stableAfterMs: 60_000, quickDropMs: 5000, statusThrottleMs: 10 };

function recorder() {
  const statuses = [];
  const warnings = [];
  const infos = [];
  return {
    statuses,
    warnings,
    infos,
    user: { onStatus: (s) => statuses.push(s) },
    log: { warn: (t) => warnings.push(t), info: (t) => infos.push(t) },
    states: () => statuses.map((s) => s.state),
  };
}

function connection(settings, rec, extra = {}) {
  return new DeviceConnection(settings, { createTransport, log: rec.log, queueSize: 1000, timing: FAST, ...extra });
}

const tele = (obj, qos = 1) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify(obj)), qos });

test('messages sent while connecting wait and go out in order; status connecting → connected', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const rec = recorder();
  const conn = connection(mqttSettings({ port: emu.port }), rec);
  conn.register(rec.user);
  const seen = [];
  store.on('telemetry', (e) => seen.push(e.entries[0].values.n));
  await Promise.all(Array.from({ length: 50 }, (_, n) => conn.send(tele({ n }))));
  assert.deepEqual(seen, Array.from({ length: 50 }, (_, n) => n), 'in order');
  assert.ok(rec.states().includes('connecting'));
  assert.equal(rec.states().at(-1), 'connected');
  await conn.deregister(rec.user);
  assert.equal(emu.broker.connectedClients, 0);
  await assert.rejects(conn.send(tele({ late: 1 })), (err) => err instanceof DeviceError && err.code === 'STOPPED');
});

test('broker restart: queued messages wait, in-flight ones are resent, order of first arrival kept', { timeout: 60000 }, async (t) => {
  const port = await freeTcpPort();
  let { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const rec = recorder();
  const conn = connection(mqttSettings({ port }), rec);
  conn.register(rec.user);
  await conn.send(tele({ n: -1 }));
  const arrived = [];
  store.on('telemetry', (e) => arrived.push(e.entries[0].values.n));
  await emu.close();
  await waitFor(() => rec.states().at(-1) === 'reconnecting', 'reconnecting');
  const sends = Array.from({ length: 30 }, (_, n) => conn.send(tele({ n })));
  await waitFor(() => rec.statuses.at(-1).queued === 30, 'queued: 30 in the status');
  ({ emu } = await emulator({ store, port }));
  await Promise.all(sends);
  const firstArrival = [...new Set(arrived)];
  assert.deepEqual(firstArrival, Array.from({ length: 30 }, (_, n) => n));
  assert.ok(rec.infos.some((i) => /lost/.test(i)) && rec.infos.some((i) => /again/.test(i)));
  await conn.close();
});

test('unauthorized: queued and new messages fail at once; fixing the token on the server recovers', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const rec = recorder();
  const settings = mqttSettings({ port: emu.port, accessToken: 'NEW_DEVICE_TOKEN_q1' });
  const conn = connection(settings, rec);
  conn.register(rec.user);
  const queued = conn.send(tele({ a: 1 }));
  await assert.rejects(queued, (err) => /unauthorized/.test(err.message) && err.code === 'CONNACK_5');
  await waitFor(() => rec.states().at(-1) === 'unauthorized', 'unauthorized state');
  await assert.rejects(conn.send(tele({ a: 2 })), /unauthorized/);
  assert.equal(rec.warnings.filter((w) => /CONNACK 5/.test(w)).length, 1, 'logged once, not per retry');
  const connectsBefore = emu.stats.connects;
  // The user registers the device in ThingsBoard: the slow retry picks it up.
  store.addDevice('new', 'NEW_DEVICE_TOKEN_q1');
  await waitFor(() => rec.states().at(-1) === 'connected', 'connected after the fix');
  assert.ok(emu.stats.connects - connectsBefore <= 3, 'slow retries, no hot loop');
  await conn.send(tele({ a: 3 }));
  assert.equal(store.latest('new').a.value, 3);
  for (const text of [...rec.warnings, ...rec.infos]) assert.ok(!text.includes('NEW_DEVICE_TOKEN_q1'));
  await conn.close();
});

test('two clients with one token kick each other off: one "used by another client" warning', { timeout: 60000 }, async (t) => {
  const { emu } = await emulator();
  t.after(() => emu.close());
  const recA = recorder();
  const recB = recorder();
  const timing = { ...FAST, backoffInitialMs: 30, backoffMaxMs: 60, quickDropsForWarning: 3 };
  const a = connection(mqttSettings({ port: emu.port, mqtt: { clientId: 'client-a' } }), recA, { timing });
  const b = connection(mqttSettings({ port: emu.port, mqtt: { clientId: 'client-b' } }), recB, { timing });
  a.register(recA.user);
  b.register(recB.user);
  await waitFor(() => [...recA.warnings, ...recB.warnings].some((w) => /another client/.test(w)), 'the warning');
  await a.close();
  await b.close();
  const all = [...recA.warnings, ...recB.warnings].filter((w) => /another client/.test(w));
  assert.ok(all.length <= 2 && recA.warnings.filter((w) => /another client/.test(w)).length <= 1, 'at most once per connection');
  assert.match(all[0], /one session per device/);
});

test('a message the server keeps refusing by closing the session fails after a few resends; the next one goes through', { timeout: 60000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const rec = recorder();
  const conn = connection(mqttSettings({ port: emu.port }), rec, { timing: { ...FAST, maxResends: 2 } });
  conn.register(rec.user);
  // Not JSON: the emulator (like ThingsBoard) closes the session instead of acknowledging.
  const poison = conn.send({ kind: 'telemetry', body: Buffer.from('not json'), qos: 1 });
  const good = conn.send(tele({ after: 1 }));
  await assert.rejects(poison, (err) => err.code === 'RESENDS_EXHAUSTED' && /refusing/.test(err.message));
  await good;
  assert.equal(store.latest('dev1').after.value, 1);
  await conn.close();
});

test('backoff doubles from the initial delay up to the maximum, with jitter of at most 25 %', { timeout: 30000 }, async (t) => {
  const port = await freeTcpPort();
  const rec = recorder();
  const timing = { ...FAST, backoffInitialMs: 40, backoffMaxMs: 320 };
  // Several random values, both bounds included: 0 must give 75 % of the cap (not less: a wider
  // jitter fails here), 0.9999 the cap itself (a narrower one fails), the others lie in between.
  const randoms = [0.9999, 0, 0.5, 0.25, 0.9999, 0, 0.75, 0.1];
  let call = 0;
  const conn = connection(mqttSettings({ port }), rec, { timing, random: () => randoms[call++ % randoms.length] });
  t.after(() => conn.close());
  conn.register(rec.user);
  await waitFor(() => rec.statuses.filter((s) => s.state === 'reconnecting').length >= randoms.length, `${randoms.length} retries`);
  const delays = rec.statuses.filter((s) => s.state === 'reconnecting').map((s) => s.retryInMs).slice(0, randoms.length);
  const caps = [40, 80, 160, 320, 320, 320, 320, 320];
  delays.forEach((d, i) => {
    assert.ok(d >= caps[i] * 0.75 && d <= caps[i], `retry ${i + 1}: ${d} ms is not within 75-100 % of ${caps[i]} ms (random ${randoms[i]})`);
  });
  assert.equal(delays[0], 40, 'random 0.9999: the cap');
  assert.equal(delays[1], 60, 'random 0: 75 % of the cap (80 ms)');
  assert.equal(delays[5], 240, 'random 0: 75 % of the maximum (320 ms)');
  assert.ok(delays[2] > 120 && delays[2] < 160, `random 0.5 lies strictly between the bounds: ${delays[2]}`);
  assert.equal(rec.warnings.filter((w) => /ECONNREFUSED|refused/.test(w)).length, 1, 'logged once');
  t.diagnostic(`delays ${delays.join(', ')}`);
});

test('at most transport.maxInFlight messages are outstanding at once', { timeout: 60000 }, async (t) => {
  const store = new (require('../../emulator/store').DeviceStore)({ devices: [{ name: 'dev1', token: TOKEN }] });
  const emu = await startMqttEmulator({ store });
  t.after(() => emu.close());
  const held = [];
  const rec = recorder();
  const conn = connection(mqttSettings({ port: emu.port }), rec);
  conn.register(rec.user);
  await conn.send(tele({ warmup: 1 }));
  // Only telemetry is held: the client-side RPC getSessionLimits (asked after every connect) passes.
  emu.broker.authorizePublish = (client, packet, cb) => (packet.topic.includes('/rpc/') ? cb(null) : held.push(cb));
  const sends = Array.from({ length: 40 }, (_, n) => conn.send(tele({ n })));
  await waitFor(() => held.length >= 16, 'the first window');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(held.length, 16, 'MQTT transport window: 16');
  while (held.length < 40) {
    const batch = held.splice(0, held.length);
    batch.forEach((cb) => cb(null));
    await new Promise((r) => setTimeout(r, 20));
    if (held.length === 0) break;
  }
  held.forEach((cb) => cb(null));
  await Promise.all(sends);
  await conn.close();
});

test('queue full rejects at once with QUEUE_FULL, the others still go out', { timeout: 60000 }, async (t) => {
  const port = await freeTcpPort();
  const rec = recorder();
  const conn = connection(mqttSettings({ port }), rec, { queueSize: 5 });
  conn.register(rec.user);
  const waiting = Array.from({ length: 5 }, (_, n) => conn.send(tele({ n })));
  await assert.rejects(conn.send(tele({ n: 5 })), (err) => err.code === 'QUEUE_FULL' && /queue is full/.test(err.message));
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  await Promise.all(waiting);
  assert.equal(store.latest('dev1').n.value, 4);
  await conn.close();
});

// ---- the contract's failure kinds, with a scripted transport ----------------------------------

class ScriptedTransport extends EventEmitter {
  constructor(script) {
    super();
    this.name = 'coap';
    this.maxInFlight = 2;
    this.script = script;
    this.sent = [];
    this.connects = 0;
    this.closed = false;
  }
  async connect() {
    this.connects++;
  }
  async send(message) {
    this.shapes = [...(this.shapes || []), Object.keys(message).sort()];
    const body = JSON.parse(message.body.toString());
    this.sent.push(body);
    const outcome = this.script(body, this);
    if (outcome) throw outcome;
  }
  async close() {
    this.closed = true;
  }
}

test('rejected and timeout fail only that message; unauthorized mid-session fails the queue', { timeout: 60000 }, async () => {
  const transport = new ScriptedTransport((body) => {
    if (body.bad) return new TransportError('ThingsBoard answered 4.00 Bad Request', 'rejected', 'COAP_4.00');
    if (body.slow) return new TransportError('no answer', 'timeout', 'TIMEOUT');
    if (body.revoked) return new TransportError('unauthorized: 4.01', 'unauthorized', 'COAP_4.01');
    return undefined;
  });
  const rec = recorder();
  const conn = new DeviceConnection(mqttSettings({ transport: 'coap' }), { createTransport: () => transport, log: rec.log, queueSize: 100, timing: FAST });
  conn.register(rec.user);
  await assert.rejects(conn.send(tele({ bad: 1 })), (err) => err.code === 'COAP_4.00');
  await assert.rejects(conn.send(tele({ slow: 1 })), (err) => err.code === 'TIMEOUT');
  await conn.send(tele({ fine: 1 }));
  // Window of 2: revoked and fine:2 go out together, fine:3 and fine:4 wait in the queue.
  const revoked = conn.send(tele({ revoked: 1 }));
  const inFlightWithIt = conn.send(tele({ fine: 2 }));
  const queued = [conn.send(tele({ fine: 3 })), conn.send(tele({ fine: 4 }))];
  await assert.rejects(revoked, /unauthorized/);
  await inFlightWithIt; // it was answered 2.xx: done
  for (const q of queued) await assert.rejects(q, /unauthorized/);
  await assert.rejects(conn.send(tele({ fine: 5 })), /unauthorized/, 'new messages fail at once');
  assert.equal(conn.status().state, 'unauthorized');
  await conn.close();
  assert.ok(transport.closed);
  assert.equal(transport.listenerCount('down'), 0, 'its listeners removed');
});

test('a transport is handed {kind, body, qos}: when the node received a message and its batch shape stay in the outbox', { timeout: 30000 }, async () => {
  const transport = new ScriptedTransport(() => undefined);
  const conn = new DeviceConnection(mqttSettings({ transport: 'coap' }), { createTransport: () => transport, log: recorder().log, queueSize: 100, timing: FAST });
  conn.register({ onStatus() {} });
  await conn.send({ kind: 'attributes', body: Buffer.from('{"b":2}'), qos: 1 });
  // Connected now: this reading goes out the moment it arrives, as the node gave it (one that
  // waited would be rebuilt with its ts, which hides what the transport is handed).
  await conn.send({ ...tele({ a: 1 }), receivedAt: Date.now(), batchShape: 'wrap' });
  assert.deepEqual(transport.shapes, [['body', 'kind', 'qos'], ['body', 'kind', 'qos']]);
  assert.deepEqual(transport.sent.at(-1), { a: 1 }, 'sent as it arrived, not rebuilt');
  await conn.close();
});

test('a status handler that throws does not break the others', { timeout: 60000 }, async () => {
  const transport = new ScriptedTransport(() => undefined);
  const rec = recorder();
  const conn = new DeviceConnection(mqttSettings(), { createTransport: () => transport, log: rec.log, queueSize: 10, timing: FAST });
  conn.register({ onStatus: () => { throw new Error('boom'); } });
  conn.register(rec.user);
  await conn.send(tele({ x: 1 }));
  assert.ok(rec.states().includes('connected'));
  await conn.close();
});

test('stopping with a message in flight ends it with STOPPED at once; it is not kept for a later session', { timeout: 60000 }, async (t) => {
  const { emu } = await emulator();
  t.after(() => emu.close());
  const rec = recorder();
  const conn = connection(mqttSettings({ port: emu.port }), rec);
  t.after(() => conn.close());
  conn.register(rec.user);
  await conn.send(tele({ warm: 1 }));
  // The broker holds the PUBACK: the message is in flight when the last user leaves.
  const held = [];
  // Only telemetry is held: the client-side RPC getSessionLimits (asked after every connect) passes.
  emu.broker.authorizePublish = (client, packet, cb) => (packet.topic.includes('/rpc/') ? cb(null) : held.push(cb));
  const inFlight = conn.send(tele({ n: 1 })).then(() => 'done', (err) => err);
  await waitFor(() => held.length === 1, 'the publish at the broker');
  await conn.deregister(rec.user);
  const ended = await Promise.race([inFlight, new Promise((r) => setTimeout(() => r('still waiting after 3 s'), 3000))]);
  assert.ok(ended instanceof Error, `the in-flight message ended with an error, not: ${ended}`);
  assert.equal(ended.code, 'STOPPED', ended.message);
});
