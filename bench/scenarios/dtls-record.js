'use strict';
// Our DTLS work per CoAPS message, alone: what an established session does to each message, the
// POST's record sealed (RecordLayer.seal) and the ACK's record opened (RecordLayer.openLone, the
// path an established session's datagram takes), in a loop in a fresh process after a warm-up;
// CPU time per message. No socket and no peer: the figure is our client's own DTLS cost, which
// the CoAPS-vs-CoAP ratios mix with the server's (a slower server makes the client wait and wake
// more often). The records are the sizes the coap-transport scenario sends and gets back.
const path = require('node:path');
const crypto = require('node:crypto');
const coapPacket = require('coap-packet');
const { scenario } = require('../lib/child.js');
const { reading, tokenFor } = require('../lib/flows.js');
const { lib } = require('../lib/ours.js');

const APPLICATION_DATA = 23;

/**
 * A CON POST of one bench reading and its piggybacked 2.01 ACK, as CoAP datagrams, shaped as our
 * transport sends them (an 8-byte token, Content-Format application/json: src/transports/coap/blocks.ts).
 */
function benchExchange() {
  const token = crypto.randomBytes(8);
  const uriPath = ['api', 'v1', tokenFor(0), 'telemetry'].map((value) => ({ name: 'Uri-Path', value: Buffer.from(value) }));
  const post = coapPacket.generate({
    confirmable: true, code: 'POST', messageId: 1, token,
    options: [...uriPath, { name: 'Content-Format', value: Buffer.of(50) }],
    payload: Buffer.from(JSON.stringify(reading(1))),
  });
  const ack = coapPacket.generate({ ack: true, code: '2.01', messageId: 1, token });
  return { post, ack };
}

scenario(async ({ suite = 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', count = 100000, warmup = 20000 }) => {
  const { RecordLayer } = require(path.join(lib, 'dtls', 'record-layer.js'));
  const { CIPHER_SUITES } = require(path.join(lib, 'dtls', 'crypto', 'ciphersuites.js'));
  const cipherSuite = CIPHER_SUITES.find((s) => s.name === suite);
  if (!cipherSuite) throw new Error(`unknown cipher suite ${suite}`);
  const keys = (salt) => ({ suite: cipherSuite, key: crypto.randomBytes(cipherSuite.keyLength), salt });
  // Ours (client write = server read) and the server's direction, each with its own key.
  const clientWrite = keys(crypto.randomBytes(4));
  const serverWrite = keys(crypto.randomBytes(4));
  const client = new RecordLayer();
  client.setWriteKeys(1, clientWrite);
  client.setReadKeys(1, serverWrite);
  client.readEpoch = 1;
  const server = new RecordLayer();
  server.setWriteKeys(1, serverWrite);
  const { post, ack } = benchExchange();
  // The server's records are made beforehand: only our side's work is timed.
  const acks = Array.from({ length: warmup + count }, () => server.seal(APPLICATION_DATA, 1, ack));
  let next = 0;
  const message = () => {
    client.seal(APPLICATION_DATA, 1, post);
    const opened = client.openLone(acks[next++], APPLICATION_DATA);
    if (!Buffer.isBuffer(opened) || opened.length !== ack.length) throw new Error('the ACK record did not open');
  };
  for (let i = 0; i < warmup; i++) message();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < count; i++) message();
  const cpu = process.cpuUsage(cpu0);
  return { suite, postBytes: post.length, ackBytes: ack.length, count, cpuUsPerMsg: (cpu.user + cpu.system) / count };
});
