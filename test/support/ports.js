'use strict';
// Free loopback ports for peers a test starts (TCP and UDP checked separately).
const net = require('node:net');
const dgram = require('node:dgram');

function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

/** A port free for UDP on both `port` and `port + 1` (libcoap's DTLS listener uses port + 1). */
async function freeUdpPortPair() {
  for (let i = 0; i < 50; i++) {
    const port = await freeUdpPort();
    if (port >= 65535) continue;
    try {
      await new Promise((resolve, reject) => {
        const s = dgram.createSocket('udp4');
        s.once('error', reject);
        s.bind(port + 1, '127.0.0.1', () => s.close(resolve));
      });
      return port;
    } catch { /* taken: try another */ }
  }
  throw new Error('no free UDP port pair');
}

module.exports = { freeTcpPort, freeUdpPort, freeUdpPortPair };
