'use strict';
// MQTT 5 reason codes ThingsBoard uses, turned into words a user can act on. The peer is a small
// MQTT 5 server written with mqtt-packet (the parser mqtt.js itself uses) that answers the way
// ThingsBoard's MqttTransportHandler does: PUBACK 0x99 for a payload it cannot parse, DISCONNECT
// 0x97 when the device went over its rate limits (aedes speaks MQTT 3.1.1 only).
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const mqttPacket = require('mqtt-packet');
const { lib, mqttSettings, waitFor } = require('./common');

const { MqttTransport } = lib('transports/mqtt/transport.js');
const { DeviceConnection } = lib('device/connection.js');
const { createTransport } = lib('transports/index.js');

/** An MQTT 5 server: CONNACK 0; a publish whose body holds "refuse" gets PUBACK 0x99, "over" DISCONNECT 0x97. */
async function thingsboardLike() {
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const send = (packet) => socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
    parser.on('packet', (p) => {
      if (p.cmd === 'connect') send({ cmd: 'connack', sessionPresent: false, reasonCode: 0 });
      else if (p.cmd === 'subscribe') send({ cmd: 'suback', messageId: p.messageId, granted: p.subscriptions.map(() => 1) });
      else if (p.cmd === 'publish') {
        const body = String(p.payload);
        if (body.includes('refuse')) send({ cmd: 'puback', messageId: p.messageId, reasonCode: 0x99 });
        else if (body.includes('over')) {
          send({ cmd: 'disconnect', reasonCode: 0x97 });
          socket.end();
        } else if (p.qos === 1) send({ cmd: 'puback', messageId: p.messageId, reasonCode: 0 });
      } else if (p.cmd === 'pingreq') send({ cmd: 'pingresp' });
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

const tele = (obj) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify(obj)), qos: 1 });

test('MQTT 5: PUBACK 0x99 says the payload was refused; DISCONNECT 0x97 names the rate limit', { timeout: 30000 }, async (t) => {
  const peer = await thingsboardLike();
  t.after(() => peer.close());
  const transport = new MqttTransport(mqttSettings({ port: peer.port, mqtt: { protocolVersion: 5 } }));
  t.after(() => transport.close());
  await transport.connect();
  await transport.send(tele({ a: 1 }));
  await assert.rejects(transport.send(tele({ refuse: 1 })), (err) => err.code === 'PUBACK_153' && /0x99 payload format invalid/.test(err.message));
  const down = new Promise((resolve) => transport.once('down', resolve));
  void transport.send(tele({ over: 1 })).catch(() => {});
  const err = await down;
  assert.equal(err.code, 'DISCONNECT_151');
  assert.match(err.message, /0x97 quota exceeded: the device .* went over its rate limits/);
});

test('MQTT 5: a session closed for a rate limit is logged as one, with the hint to set rateLimits', { timeout: 30000 }, async (t) => {
  const peer = await thingsboardLike();
  t.after(() => peer.close());
  const warnings = [];
  const conn = new DeviceConnection(mqttSettings({ port: peer.port, mqtt: { protocolVersion: 5 } }), {
    createTransport,
    queueSize: 100,
    timing: { backoffInitialMs: 50, backoffMaxMs: 100 },
    log: { warn: (w) => warnings.push(w), info: (w) => warnings.push(`info: ${w}`) },
  });
  t.after(() => conn.close());
  conn.register({ onStatus() {} });
  await conn.send(tele({ a: 1 }));
  void conn.send(tele({ over: 1 })).catch(() => {});
  await waitFor(() => warnings.some((w) => /ThingsBoard reports a rate limit/.test(w)), `the rate-limit warning (${warnings.join(' | ')})`);
  assert.match(warnings.find((w) => /rate limit/.test(w)), /set "rate limits" on the device/);
});
