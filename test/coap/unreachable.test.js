'use strict';
// No server: every confirmable message fails with 'timeout' after the RFC 7252 retransmissions
// (never hangs), DOWN_AFTER_TIMEOUTS in a row take the transport 'down' (unreachable), and a
// reconnect only succeeds once a CoAP ping is answered. 
const { test } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { freeUdpPort } = require('../support/ports');
const {
  CoapTransport, DOWN_AFTER_TIMEOUTS, TOKEN, fastTiming, settings, telemetry, recordTexts, outcome, assertNoToken,
} = require('./common');

const timing = fastTiming(0.05); // RFC 7252 timing scaled down 40×
const budgetMs = timing.ackTimeout * (2 ** (timing.maxRetransmit + 1) - 1) * timing.ackRandomFactor * 1000;

/** A UDP socket that counts what reaches it and never answers: a host with no CoAP server. */
async function blackHole() {
  const sock = dgram.createSocket('udp4');
  const arrivals = [];
  sock.on('message', (msg) => arrivals.push({ at: Date.now(), messageId: msg.readUInt16BE(2) }));
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, arrivals, close: () => new Promise((r) => sock.close(r)) };
}

test('a lost message ends with timeout after 1 + MAX_RETRANSMIT transmissions, then down', { timeout: 60000 }, async () => {
  const hole = await blackHole();
  const texts = [];
  const t = new CoapTransport(settings(hole.port));
  recordTexts(t, texts);
  const downs = [];
  t.on('down', (err) => downs.push(err));
  await t.connect(); // connectionless: binding is enough the first time

  const started = Date.now();
  const first = await outcome(t.send(telemetry({ n: 1 })), texts);
  const elapsed = Date.now() - started;
  assert.equal(first.err.kind, 'timeout');
  assert.equal(first.err.code, 'COAP_TIMEOUT');
  assert.equal(first.err.message, `no response from 127.0.0.1:${hole.port} after ${timing.maxRetransmit + 1} attempts`);
  // Same message ID sent 1 + MAX_RETRANSMIT times, and it gave up no earlier than the RFC's
  // budget allows for the drawn initial timeout (not a speed assertion: a lower bound).
  assert.equal(hole.arrivals.length, timing.maxRetransmit + 1);
  assert.equal(new Set(hole.arrivals.map((a) => a.messageId)).size, 1);
  assert.ok(elapsed >= timing.ackTimeout * 1000 * (2 ** (timing.maxRetransmit + 1) - 1) * 0.9, `gave up after ${elapsed} ms`);
  assert.equal(downs.length, 0, 'one timeout alone is not down');

  for (let i = 1; i < DOWN_AFTER_TIMEOUTS; i++) {
    const r = await outcome(t.send(telemetry({ n: 1 + i })), texts);
    assert.equal(r.err.kind, 'timeout');
  }
  assert.equal(downs.length, 1);
  assert.equal(downs[0].kind, 'unreachable');
  assert.match(downs[0].message, /no response from 127\.0\.0\.1:\d+ to \d+ messages in a row/);

  // Down: send() refuses at once, so the device layer queues instead.
  const refused = await outcome(t.send(telemetry({ n: 99 })), texts);
  assert.equal(refused.err.kind, 'closed');

  // Reconnecting needs an answered ping: the black hole never answers → unreachable.
  const before = hole.arrivals.length;
  const reconnect = await outcome(t.connect(), texts);
  assert.equal(reconnect.err.kind, 'unreachable');
  assert.match(reconnect.err.message, /CoAP ping/);
  assert.equal(hole.arrivals.length - before, timing.maxRetransmit + 1);
  await t.close();
  await hole.close();
  assertNoToken(assert, texts);
  assert.ok(budgetMs > 0);
});

test('in-flight messages reject with closed when the run of timeouts takes the transport down', { timeout: 60000 }, async () => {
  const hole = await blackHole();
  const t = new CoapTransport(settings(hole.port, { coap: { maxInFlight: 4 } }));
  const downs = [];
  t.on('down', (err) => downs.push(err));
  await t.connect();
  const results = await Promise.all([1, 2, 3, 4].map((n) => outcome(t.send(telemetry({ n })))));
  const kinds = results.map((r) => r.err.kind).sort();
  // Each message ends, none hangs: the first ones time out, the rest are handed back as 'closed'.
  assert.equal(kinds.filter((k) => k === 'timeout').length, DOWN_AFTER_TIMEOUTS);
  assert.equal(kinds.filter((k) => k === 'closed').length, 4 - DOWN_AFTER_TIMEOUTS);
  assert.equal(downs.length, 1);
  await t.close();
  await hole.close();
});

test('server comes back: the reconnect ping succeeds and messages flow again', { timeout: 60000 }, async () => {
  const port = await freeUdpPort();
  const store = new DeviceStore({ devices: [{ name: 'dev', token: TOKEN }] });
  const t = new CoapTransport(settings(port));
  const downs = [];
  t.on('down', (err) => downs.push(err));
  await t.connect();
  for (let i = 0; i < DOWN_AFTER_TIMEOUTS; i++) {
    const r = await outcome(t.send(telemetry({ lost: i })));
    assert.equal(r.err.kind, 'timeout');
  }
  assert.equal(downs.length, 1);
  const emu = await startCoapEmulator({ store, port });
  await t.connect();
  await t.send(telemetry({ back: true }));
  assert.equal(store.latest('dev').back.value, true);
  assert.equal(store.latest('dev').lost, undefined);
  await t.close();
  await emu.close();
});

test('close() during the reconnect ping ends it with closed', { timeout: 60000 }, async () => {
  const hole = await blackHole();
  const t = new CoapTransport(settings(hole.port));
  await t.connect();
  for (let i = 0; i < DOWN_AFTER_TIMEOUTS; i++) await outcome(t.send(telemetry({ i })));
  const pending = outcome(t.connect());
  while (hole.arrivals.length < DOWN_AFTER_TIMEOUTS * (timing.maxRetransmit + 1) + 1) await new Promise((r) => setTimeout(r, 10));
  await t.close();
  const r = await pending;
  assert.equal(r.err.kind, 'closed');
  await hole.close();
});
