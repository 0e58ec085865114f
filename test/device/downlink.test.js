'use strict';
// The device layer's downlink without Node-RED: RpcBook's decisions (a repeat vs a new command
// with a reused id, one reply, expiry, bound) on an injected clock, and DeviceDownlink over the
// real MQTT transport and aedes as ThingsBoard: the request bound, requests cancelled by their
// owner, a stopped connection failing what waits, a transport that refuses the receive side.
const test = require('node:test');
const assert = require('node:assert/strict');
const { EventEmitter } = require('node:events');
const { lib, TOKEN, mqttSettings, waitFor } = require('../mqtt/common');
const { startTbBroker } = require('../support/tb-broker');

const { DeviceConnection } = lib('device/connection.js');
const { RpcBook, RpcBooks, RPC_LIFETIME_MS, RPC_MEMORY, BOOK_SWEEP_MS } = lib('device/rpc-book.js');
const { MAX_PENDING } = lib('device/requests.js');
const { createTransport } = lib('transports/index.js');

const FAST = { backoffInitialMs: 50, backoffMaxMs: 400, statusThrottleMs: 10 };
const log = { warn: () => {}, info: () => {} };

test('RpcBook: repeats are not new, a reused id with another command is; one reply; expiry; bound', () => {
  let now = 0;
  const book = new RpcBook(() => now);
  assert.equal(book.arrived({ id: 1, method: 'm', params: { a: 1 } }), true);
  assert.equal(book.arrived({ id: 1, method: 'm', params: { a: 1 } }), false, 'a repeat');
  assert.deepEqual(book.beginReply(2), { ok: false, code: 'UNKNOWN_RPC', reason: book.beginReply(2).reason });
  assert.equal(book.beginReply(1).ok, true);
  assert.equal(book.beginReply(1).code, 'ALREADY_ANSWERED', 'a second reply while the first is on its way');
  book.endReply(1, false);
  assert.equal(book.beginReply(1).ok, true, 'a reply that failed may be sent again');
  book.endReply(1, true);
  assert.equal(book.beginReply(1).code, 'ALREADY_ANSWERED');
  assert.equal(book.arrived({ id: 1, method: 'm', params: { a: 2 } }), true, 'same id, other params: a new command');
  assert.equal(book.beginReply(1).ok, true);
  now += RPC_LIFETIME_MS + 1;
  assert.equal(book.beginReply(1).code, 'UNKNOWN_RPC', 'expired');
  for (let i = 0; i < RPC_MEMORY + 50; i++) book.arrived({ id: 1000 + i, method: 'm' });
  assert.ok(book.size <= RPC_MEMORY + 1, `bounded: ${book.size}`);
  assert.equal(book.beginReply(1000 + RPC_MEMORY + 49).ok, true, 'the newest kept');
});

test('RpcBooks (a gateway, one book per sub-device): books whose commands all expired are forgotten; a book with a live command stays, open or answered', () => {
  let now = 0;
  const books = new RpcBooks(() => now);
  for (let i = 0; i < 500; i++) books.of(`sensor-${i}`).arrived({ id: 1, method: 'm' });
  assert.equal(books.size, 500);
  now += RPC_LIFETIME_MS - 1000;
  books.of('recent-open').arrived({ id: 7, method: 'm' });
  books.of('recent-answered').arrived({ id: 8, method: 'm' });
  assert.equal(books.of('recent-answered').beginReply(8).ok, true);
  books.get('recent-answered').endReply(8, true);
  assert.equal(books.size, 502, 'nothing expired yet (the look when recent-open got its book found none)');
  now += BOOK_SWEEP_MS; // the 500 first commands are past their lifetime, the recent ones not
  books.of('another').arrived({ id: 1, method: 'm' });
  assert.equal(books.size, 3, 'the 500 expired books forgotten when a new sub-device got one');
  assert.equal(books.get('recent-open').beginReply(7).ok, true, 'an open command is still answerable');
  assert.equal(books.get('recent-answered').arrived({ id: 8, method: 'm' }), false, 'an answered one still tells its repeat');
  assert.equal(books.get('sensor-0'), undefined);
  // Looked for at most once per BOOK_SWEEP_MS: books that expire within that time wait for the next look.
  now += RPC_LIFETIME_MS + 1;
  books.of('soon-after').arrived({ id: 1, method: 'm' });
  assert.equal(books.size, 1, 'every command expired: all but the new book forgotten');
  now += BOOK_SWEEP_MS - 1;
  books.of('x').arrived({ id: 1, method: 'm' });
  now += RPC_LIFETIME_MS + 1;
  books.of('y');
  assert.equal(books.size, 1, 'only y: the look came after BOOK_SWEEP_MS');
  books.of('z');
  assert.equal(books.size, 2, 'no second look within BOOK_SWEEP_MS (y is empty but kept)');
});

test('DeviceDownlink over MQTT: at most MAX_PENDING requests, cancel by owner, stop fails what waits', async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  tb.onAttributeRequest = () => undefined; // never answers
  const conn = new DeviceConnection(mqttSettings({ port: tb.port }), { createTransport, log, queueSize: 10, timing: FAST });
  const user = { onStatus() {} };
  conn.register(user);
  await waitFor(() => conn.status().state === 'connected', 'connected');
  const owner = {};
  const pending = [];
  for (let i = 0; i < MAX_PENDING; i++) pending.push(conn.downlink.requestAttributes({ clientKeys: [], sharedKeys: ['k'] }, 30_000, i < 10 ? owner : undefined).catch((e) => e));
  await assert.rejects(conn.downlink.callRpc('m', {}, 1000), (err) => err.code === 'TOO_MANY_REQUESTS' && /100 requests are already waiting/.test(err.message));
  await waitFor(() => tb.publishedOn(/attributes\/request/).length === MAX_PENDING, 'all sent');
  conn.downlink.cancel(owner);
  const cancelled = await Promise.all(pending.slice(0, 10));
  assert.ok(cancelled.every((e) => e.code === 'STOPPED'), 'the owner\'s ten ended at once');
  // The transport forgot them too: their answers, should they come, match nothing.
  const transport = conn.sendingTransport;
  assert.equal(transport.downlink.attributeAnswersMap.size, MAX_PENDING - 10);
  await conn.deregister(user);
  const rest = await Promise.all(pending.slice(10));
  assert.ok(rest.every((e) => e.code === 'STOPPED'), 'stopping the connection ends every request');
  await assert.rejects(conn.downlink.requestAttributes({ clientKeys: [], sharedKeys: [] }, 1000), (err) => err.code === 'STOPPED');
});

test('attribute memory: a value is compared by content, not by the order of its keys; a flow changing what it was given changes nothing', () => {
  const { AttributeMemory } = lib('device/attribute-memory.js');
  const memory = new AttributeMemory();
  const listener = {};
  const given = { mode: { a: 1, b: [1, 2] }, level: 3 };
  memory.replace(listener, given);
  given.mode.a = 99; // the flow mutates the msg.payload it got
  assert.deepEqual(memory.difference(listener, { mode: { b: [1, 2], a: 1 }, level: 3 }), { values: {}, deleted: [] });
  assert.deepEqual(memory.difference(listener, { mode: { a: 2, b: [1, 2] } }), { values: { mode: { a: 2, b: [1, 2] } }, deleted: ['level'] });
});

test('a transport that refuses the receive side: listeners get its clear error, requests fail at once', async () => {
  // Every transport implements the receive side (transport.ts); one that cannot serve it says so
  // by rejecting, and the device layer passes that on instead of waiting.
  const { TransportError } = lib('transports/transport.js');
  const refuse = (what) => Promise.reject(new TransportError(`COAP cannot do ${what} in this version`, 'rejected', 'UNSUPPORTED'));
  class SendOnly extends EventEmitter {
    constructor() { super(); this.name = 'coap'; this.maxInFlight = 1; }
    async connect() {}
    async send() {}
    async close() {}
    subscribe(channel) { return refuse(channel === 'rpc' ? 'server-side RPC' : 'shared-attribute updates'); }
    async unsubscribe() {}
    respondRpc() { return refuse('RPC replies'); }
    requestAttributes() { return refuse('attribute requests'); }
    callRpc() { return refuse('client-side RPC'); }
  }
  const conn = new DeviceConnection(mqttSettings(), { createTransport: () => new SendOnly(), log, queueSize: 10, timing: FAST });
  const errors = [];
  conn.downlink.listen({ channel: 'rpc', names: [], onError: (e) => errors.push(e) });
  const user = { onStatus() {} };
  conn.register(user);
  await waitFor(() => errors.length === 1, 'the listener told');
  assert.equal(errors[0].code, 'UNSUPPORTED');
  assert.match(errors[0].message, /COAP cannot do server-side RPC/);
  await assert.rejects(conn.downlink.requestAttributes({ clientKeys: [], sharedKeys: [] }, 1000), (err) => err.code === 'UNSUPPORTED');
  await conn.close();
});

test('CoAP renewals: the re-fetched shared attributes pass on only what changed while the observation was dead, once, as a change', async (t) => {
  const { DeviceStore } = require('../../emulator/store');
  const { startCoapEmulator } = require('../../emulator/coap');
  const { CoapTransport, settings, fastTiming } = require('../coap/common');
  fastTiming();
  const token = 'renewal-memory-token';
  const store = new DeviceStore({ devices: [{ name: 'pump', token }] });
  const emu = await startCoapEmulator({ store });
  t.after(() => emu.close());
  t.after(() => store.closeDownlink());
  store.setShared('pump', { speed: 1, mode: 'auto', gone: true });
  const renewals = [];
  const conn = new DeviceConnection(settings(emu.port, { accessToken: token }), {
    createTransport: (s) => {
      const tr = new CoapTransport(s, { downlink: { refreshMs: 150, answerTimeoutMs: 3000 } });
      tr.on('resubscribed', (channel) => renewals.push(channel));
      return tr;
    },
    log,
    queueSize: 10,
    timing: FAST,
  });
  t.after(() => conn.close());
  const all = [];
  const speedOnly = [];
  const record = (into) => (values, deleted, initial) => into.push({ values, deleted, initial });
  conn.downlink.listen({ channel: 'attributes', names: [], initial: true, onAttributes: record(all), onError: () => {} });
  conn.downlink.listen({ channel: 'attributes', names: ['speed'], initial: true, onAttributes: record(speedOnly), onError: () => {} });
  conn.register({ onStatus() {} });
  await waitFor(() => all.length === 1 && speedOnly.length === 1, 'the initial values', 5000);
  assert.deepEqual(all[0], { values: { speed: 1, mode: 'auto', gone: true }, deleted: undefined, initial: true });
  assert.deepEqual(speedOnly[0], { values: { speed: 1 }, deleted: undefined, initial: true });

  // Renewals with nothing changed: nothing more (before, every renewal repeated every value).
  await waitFor(() => renewals.filter((c) => c === 'attributes').length >= 3, 'three renewals', 5000);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(all.length, 1, `after renewals with no change: ${JSON.stringify(all.slice(1))}`);

  // A change pushed through the observation: once, not again after the next renewal.
  store.setShared('pump', { speed: 2 });
  await waitFor(() => all.length === 2, 'the pushed change', 3000);
  const seen = renewals.length;
  await waitFor(() => renewals.length >= seen + 2, 'two more renewals', 5000);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(all.slice(1), [{ values: { speed: 2 }, deleted: undefined, initial: false }]);
  assert.deepEqual(speedOnly.slice(1), [{ values: { speed: 2 }, deleted: undefined, initial: false }]);

  // The observation dies silently at the server (ThingsBoard cannot tell); changes made meanwhile
  // reach the flow after the next renewal, as a change: new values and the deleted key.
  for (const s of store.devices.get('pump').sessions) s.channels.delete('attributes');
  store.setShared('pump', { mode: 'manual' });
  store.deleteShared('pump', ['gone']);
  await waitFor(() => all.length === 3, 'the missed changes after a renewal', 5000);
  assert.deepEqual(all[2], { values: { mode: 'manual' }, deleted: ['gone'], initial: false });
  assert.equal(speedOnly.length, 2, 'a listener whose keys did not change hears nothing');
});
