'use strict';
// Which of our components have been built (compiled into nodes/lib by `npm run build`), so the
// bench measures what exists and prints "n/a (not built yet)" for the rest.
const fs = require('node:fs');
const path = require('node:path');

const lib = path.join(__dirname, '..', '..', 'nodes', 'lib');
const has = (rel) => fs.existsSync(path.join(lib, rel));

function available() {
  return {
    nodes: has('nodes/thingsboard-out.js') && has('nodes/thingsboard-device.js'),
    coapTransport: has('transports/coap/transport.js'),
    dtls: has('dtls/index.js'),
    transportsIndex: has('transports/index.js'),
  };
}

/** Full ConnectionSettings (src/transports/transport.ts) for a bench device. */
function connectionSettings(o) {
  return {
    transport: o.transport, host: o.host || '127.0.0.1', port: o.port, accessToken: o.accessToken,
    caCert: o.caCert || '', verifyServer: o.verifyServer ?? true, serverName: o.serverName || '',
    maxPayloadBytes: 65536,
    mqtt: { clientId: o.clientId || `bench-${process.pid}`, keepaliveSeconds: 60, cleanSession: true, protocolVersion: 4 },
    coap: { confirmable: true, maxInFlight: o.maxInFlight || 4 },
  };
}

/**
 * Our CoAP transport for plain CoAP or CoAPS. For CoAPS it plugs src/dtls into the CoAP transport
 * exactly as datagram.ts / dtls/index.ts document (connectDtls + DtlsDgramSocket as createSocket),
 * so the figures measure our DTLS client and CoAP transport whether or not index.ts wires them yet.
 */
function createCoapTransport(settings) {
  const { CoapTransport } = require(path.join(lib, 'transports', 'coap', 'transport.js'));
  if (settings.transport === 'coap') return new CoapTransport(settings);
  // The shipped DTLS socket (its datagram budget, the session kept for resumption) when built.
  const shipped = path.join(lib, 'transports', 'coap', 'dtls-socket.js');
  if (fs.existsSync(shipped)) return new CoapTransport(settings, { createSocket: require(shipped).dtlsSocketFactory(settings) });
  const { connectDtls } = require(path.join(lib, 'dtls', 'index.js'));
  const { DtlsDgramSocket } = require(path.join(lib, 'transports', 'coap', 'dtls-dgram-adapter.js'));
  return new CoapTransport(settings, {
    createSocket: async (peer) => new DtlsDgramSocket(await connectDtls({
      host: peer.address, port: peer.port, ca: settings.caCert, verify: settings.verifyServer,
      serverName: settings.serverName || peer.host,
    })),
  });
}

module.exports = { available, connectionSettings, createCoapTransport, lib };
