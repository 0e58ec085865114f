'use strict';
// The plain UDP socket of src/transports/coap/datagram.ts: address() is cached (the coap Agent asks on
// every received datagram), so the cached answer must be the real bound address.
const test = require('node:test');
const assert = require('node:assert/strict');
const dgram = require('node:dgram');
const { createUdpSocket } = require('../../nodes/lib/transports/coap/datagram');

test('plain UDP socket: the cached address() is the bound port a peer sees, one frozen object', { timeout: 60000 }, async () => {
  const peer = dgram.createSocket('udp4');
  await new Promise((resolve) => peer.bind(0, '127.0.0.1', resolve));
  const socket = await createUdpSocket({ host: '127.0.0.1', address: '127.0.0.1', family: 4, port: peer.address().port });
  try {
    const first = socket.address();
    assert.equal(first, socket.address(), 'the same object each time');
    assert.ok(Object.isFrozen(first));
    const seen = new Promise((resolve) => peer.once('message', (_msg, rinfo) => resolve(rinfo)));
    await new Promise((resolve, reject) => socket.send(Buffer.from('hi'), 0, 2, peer.address().port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
    assert.equal((await seen).port, first.port, 'the cached port is the one datagrams come from');
  } finally {
    await new Promise((resolve) => socket.close(resolve));
    await new Promise((resolve) => peer.close(resolve));
  }
});
