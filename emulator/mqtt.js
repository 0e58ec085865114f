'use strict';
// The MQTT / MQTTS front end of the local ThingsBoard device-API emulator: an aedes broker that
// authenticates like ThingsBoard (username = access token; CONNACK 4 for an empty one, 5 for an
// unknown one) and hands every publish on v1/devices/me/telemetry|attributes to the store before
// it acknowledges it (so a PUBACK means "stored", as with ThingsBoard). A body the store rejects
// closes the session, which is what ThingsBoard does with a publish it cannot process.
//
// Like ThingsBoard, it keeps one session per access token: a second client with the same token
// closes the first (turn off with oneSessionPerToken: false).
//
// It counts what a test needs to prove at the broker: TCP connections accepted, CONNECT packets
// seen (none must arrive when the client rejected our TLS certificate) and accepted publishes.
const net = require('node:net');
const tls = require('node:tls');

const TOPIC_KIND = {
  'v1/devices/me/telemetry': 'telemetry',
  'v1/devices/me/attributes': 'attributes',
};

/** A ThingsBoard-like CONNACK refusal: aedes sends err.returnCode in the CONNACK. */
function refusal(returnCode, message) {
  const err = new Error(message);
  err.returnCode = returnCode;
  return err;
}

/**
 * @param {{store: import('./store').DeviceStore, host?: string, port?: number,
 *          tls?: {certPem: string, keyPem: string}, oneSessionPerToken?: boolean}} opts
 * @returns {Promise<{port: number, host: string, close(): Promise<void>, broker: any,
 *          stats: {connects: number, connectAttempts: number, publishes: number}}>}
 */
async function startMqttEmulator({ store, host = '127.0.0.1', port = 0, tls: tlsOpts, oneSessionPerToken = true } = {}) {
  if (!store) throw new Error('startMqttEmulator: a store is required');
  // aedes 1.x is an ES module; a dynamic import keeps this file plain CommonJS.
  const { Aedes } = await import('aedes');
  const transport = tlsOpts ? 'mqtts' : 'mqtt';
  const stats = { connects: 0, connectAttempts: 0, publishes: 0 };

  const broker = await Aedes.createBroker({
    // A generous heartbeat: the default 60 s interval would be a timer a test has to wait for.
    heartbeatInterval: 60 * 60 * 1000,
    preConnect(client, packet, callback) {
      stats.connects++;
      callback(null, true);
    },
    authenticate(client, username, password, callback) {
      const token = username == null ? '' : String(username);
      if (!token) return callback(refusal(4, 'bad user name or password (empty access token)'), false);
      if (!store.authorize(token)) return callback(refusal(5, 'not authorized (unknown access token)'), false);
      // ThingsBoard keeps one session per device credentials: a new one closes the older one.
      if (oneSessionPerToken) {
        for (const other of Object.values(broker.clients)) {
          if (other !== client && other.tbToken === token) other.close();
        }
      }
      client.tbToken = token;
      callback(null, true);
    },
    authorizePublish(client, packet, callback) {
      const kind = TOPIC_KIND[packet.topic];
      // ThingsBoard ignores topics it does not serve for a device; accept without storing.
      if (!kind || !client || !client.tbToken) return callback(null);
      const result = store.accept(client.tbToken, kind, packet.payload, transport);
      if (!result.ok) return callback(new Error(result.reason));
      stats.publishes++;
      callback(null);
    },
    authorizeSubscribe(client, sub, callback) {
      callback(null, sub);
    },
  });

  const sockets = new Set();
  const track = (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = tlsOpts
    ? tls.createServer({ cert: tlsOpts.certPem, key: tlsOpts.keyPem }, (socket) => broker.handle(socket))
    : net.createServer((socket) => broker.handle(socket));
  // 'connection' fires for every TCP connection, also the ones whose TLS handshake then fails.
  server.on('connection', (socket) => {
    stats.connectAttempts++;
    track(socket);
  });
  // A handshake the client aborts (it did not trust us) is expected here, not a crash.
  server.on('tlsClientError', () => {});
  server.on('error', () => {});

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    const serverClosed = new Promise((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => broker.close(() => resolve()));
    await serverClosed;
  }

  return { port: server.address().port, host, close, broker, stats };
}

module.exports = { startMqttEmulator, TOPIC_KIND };
