'use strict';
// Closing the CoAP emulator while an answer is held back (separateResponses, as `npm start` runs
// it): the held answer goes out before the socket closes. Left unanswered, the coap library's
// empty-ACK timer fires on the closed socket and throws out of a timer, stopping the process
// (`npm start` stopped with SIGTERM exited 1 that way when a demo reading arrived as it stopped).
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const coapPacket = require('coap-packet');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');

const TOKEN = 'held-token-1';
const uri = (...segments) => segments.map((value) => ({ name: 'Uri-Path', value: Buffer.from(value) }));

/** A CoAP emulator (answers held back) and a client socket that collects what comes back. */
async function heldEmulator(t) {
  const store = new DeviceStore({ devices: [{ name: 'held', token: TOKEN }] });
  const emu = await startCoapEmulator({ store, separateResponses: true });
  const client = dgram.createSocket('udp4');
  t.after(() => client.close());
  const replies = [];
  client.on('message', (m) => replies.push(coapPacket.parse(m)));
  const send = (packet) => client.send(coapPacket.generate({ confirmable: true, messageId: 4711, token: Buffer.from([1, 2, 3, 4]), ...packet }), emu.port, '127.0.0.1');
  return { emu, store, replies, send };
}

/** Calls `close` when the first request arrives; resolves once the emulator has closed. */
function closeOnRequest(emu, close) {
  return new Promise((resolve) => emu.server.once('request', () => close().then(resolve)));
}

// Well past the library's empty-ACK delay (5 ms here): a throw from its timer would fail the test.
const pastAckTimers = () => new Promise((resolve) => setTimeout(resolve, 100));

test('closing the CoAP emulator with a separate answer still held: the answer is sent, no timer fires on the closed socket', async (t) => {
  const { emu, replies, send } = await heldEmulator(t);
  const closed = closeOnRequest(emu, () => emu.close());
  send({ code: 'POST', options: uri('api', 'v1', TOKEN, 'telemetry'), payload: Buffer.from('{"t":1}') });
  await closed;
  await pastAckTimers();
  assert.deepEqual(replies.map((r) => r.code), ['2.01'], 'the held answer was sent when the emulator closed');
});

test('a request that arrives after close() began (before the socket closes) is answered at once, no timer fires on the closed socket', async (t) => {
  const { emu, replies, send } = await heldEmulator(t);
  // close() runs before the emulator's own request handler: the request finds it closing.
  let closing;
  emu.server.prependOnceListener('request', () => { closing = emu.close(); });
  const closed = new Promise((resolve) => emu.server.once('close', resolve));
  send({ code: 'POST', options: uri('api', 'v1', TOKEN, 'telemetry'), payload: Buffer.from('{"t":2}') });
  await closed;
  await closing;
  await pastAckTimers();
  assert.deepEqual(replies.map((r) => r.code), ['2.01'], 'answered before the socket closed');
});

test('an observation registered after close() began gets its first answer and is ended: no notification goes to the closed socket', async (t) => {
  const { emu, store, replies, send } = await heldEmulator(t);
  let closing;
  emu.server.prependOnceListener('request', () => { closing = emu.close(); });
  const closed = new Promise((resolve) => emu.server.once('close', resolve));
  send({ code: 'GET', options: [{ name: 'Observe', value: Buffer.alloc(0) }, ...uri('api', 'v1', TOKEN, 'attributes')] });
  await closed;
  await closing;
  assert.equal(replies[0]?.code, '2.05', 'the first answer (the shared attributes)');
  // A shared attribute update after the close: the ended observation does not take it.
  assert.doesNotThrow(() => store.setShared('held', { target: 21 }));
  await pastAckTimers();
  assert.equal(replies.length, 1, 'nothing after the first answer');
});
