'use strict';
// "connected" means "the server answered": connect() pings (a closed port answers with ICMP,
// which fails it at once; silence fails it after the RFC retransmissions). A server that answers
// the ping but no request: every confirmable message fails with 'timeout' after the RFC 7252
// retransmissions (never hangs), DOWN_AFTER_TIMEOUTS in a row take the transport 'down'
// (unreachable), and a reconnect only succeeds once a CoAP ping is answered again.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { freeUdpPort } = require('../support/ports');
const {
  CoapTransport, DOWN_AFTER_TIMEOUTS, TOKEN, pingOnlyServer, fastTiming, settings, telemetry, recordTexts, outcome, assertNoToken,
} = require('./common');

const timing = fastTiming(0.05); // RFC 7252 timing scaled down 40×
const budgetMs = timing.ackTimeout * (2 ** (timing.maxRetransmit + 1) - 1) * timing.ackRandomFactor * 1000;

/** A UDP socket that counts what reaches it and never answers (not even a ping). */
async function blackHole() {
  const sock = dgram.createSocket('udp4');
  const arrivals = [];
  sock.on('message', (msg) => arrivals.push({ at: Date.now(), messageId: msg.readUInt16BE(2) }));
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, arrivals, close: () => new Promise((r) => sock.close(r)) };
}

test('connect() to a closed port fails at once with unreachable (ICMP), never "connected"', { timeout: 60000 }, async () => {
  const port = await freeUdpPort();
  const t = new CoapTransport(settings(port));
  const started = Date.now();
  const r = await outcome(t.connect());
  assert.equal(r.ok, false);
  assert.equal(r.err.kind, 'unreachable');
  assert.equal(r.err.code, 'ECONNREFUSED');
  assert.match(r.err.message, /nothing listens on 127\.0\.0\.1:\d+ \(ICMP port unreachable\)/);
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  const refused = await outcome(t.send(telemetry({ n: 1 })));
  assert.equal(refused.err.kind, 'closed');
  await t.close();
});

test('connect() to a host that answers nothing fails after the ping retransmissions', { timeout: 60000 }, async () => {
  const hole = await blackHole();
  const t = new CoapTransport(settings(hole.port));
  const r = await outcome(t.connect());
  assert.equal(r.err.kind, 'unreachable');
  assert.equal(r.err.code, 'COAP_TIMEOUT');
  assert.match(r.err.message, /CoAP ping/);
  assert.equal(hole.arrivals.length, timing.maxRetransmit + 1);
  await t.close();
  await hole.close();
});

test('an open transport goes down at once when the server stops (ICMP), in-flight → closed', { timeout: 60000 }, async () => {
  const store = new DeviceStore({ devices: [{ name: 'dev', token: TOKEN }] });
  const emu = await startCoapEmulator({ store, port: 0 });
  const t = new CoapTransport(settings(emu.port));
  const downs = [];
  t.on('down', (err) => downs.push(err));
  await t.connect();
  await t.send(telemetry({ n: 1 }));
  await emu.close();
  const r = await outcome(t.send(telemetry({ n: 2 })));
  assert.equal(r.err.kind, 'closed');
  assert.equal(downs.length, 1);
  assert.equal(downs[0].code, 'ECONNREFUSED');
  await t.close();
});

test('a lost message ends with timeout after 1 + MAX_RETRANSMIT transmissions, then down', { timeout: 60000 }, async () => {
  const hole = await pingOnlyServer();
  const texts = [];
  const t = new CoapTransport(settings(hole.port));
  recordTexts(t, texts);
  const downs = [];
  t.on('down', (err) => downs.push(err));
  await t.connect(); // the ping is answered

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

  // Reconnecting needs an answered ping: this one answers pings, so it reconnects.
  const pingsBefore = hole.pings();
  await t.connect();
  assert.equal(hole.pings(), pingsBefore + 1);
  await t.close();
  await hole.close();
  assertNoToken(assert, texts);
  assert.ok(budgetMs > 0);
});

test('in-flight messages reject with closed when the run of timeouts takes the transport down', { timeout: 60000 }, async () => {
  const hole = await pingOnlyServer();
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
  const down = await outcome(t.connect());
  assert.equal(down.err.kind, 'unreachable');
  const emu = await startCoapEmulator({ store, port });
  await t.connect();
  await t.send(telemetry({ back: true }));
  assert.equal(store.latest('dev').back.value, true);
  await t.close();
  await emu.close();
});

test('close() during the connect ping ends it with closed', { timeout: 60000 }, async () => {
  const hole = await blackHole();
  const t = new CoapTransport(settings(hole.port));
  const pending = outcome(t.connect());
  while (hole.arrivals.length < 2) await new Promise((r) => setTimeout(r, 10));
  await t.close();
  const r = await pending;
  assert.equal(r.err.kind, 'closed');
  await hole.close();
});
