'use strict';
// Closing the CoAP emulator while an answer is held back (separateResponses, as `npm start` runs
// it): the held answer goes out before the socket closes. Left unanswered, the coap library's
// empty-ACK timer fires on the closed socket and throws out of a timer, stopping the process.
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const coapPacket = require('coap-packet');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');

test('closing the CoAP emulator with a separate answer still held: the answer is sent, no timer fires on the closed socket', async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'held', token: 'held-token-1' }] });
  const emu = await startCoapEmulator({ store, separateResponses: true });
  const client = dgram.createSocket('udp4');
  t.after(() => client.close());
  const replies = [];
  client.on('message', (m) => replies.push(coapPacket.parse(m)));
  let closing;
  emu.server.once('request', () => { closing = emu.close(); });
  client.send(coapPacket.generate({
    confirmable: true, messageId: 4711, token: Buffer.from([1, 2, 3, 4]), code: 'POST',
    options: ['api', 'v1', 'held-token-1', 'telemetry'].map((value) => ({ name: 'Uri-Path', value: Buffer.from(value) })),
    payload: Buffer.from('{"t":1}'),
  }), emu.port, '127.0.0.1');
  await new Promise((resolve) => { const wait = () => (closing ? closing.then(resolve) : setTimeout(wait, 1)); wait(); });
  // Well past the library's empty-ACK delay (5 ms here): a throw from its timer would fail this test.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(replies.map((r) => r.code), ['2.01'], 'the held answer was sent when the emulator closed');
});
