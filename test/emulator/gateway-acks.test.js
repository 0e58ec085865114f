'use strict';
// The emulator's PUBACKs for a gateway publish that carries several sub-devices, as ThingsBoard
// sends them: one per device entry, all with the publish's packet id, and each publish's written
// as soon as its entries are stored, so they are on their way while the next publish, already
// read from the same socket, is still being stored (a later turn would hold them behind it).
// The device side is a raw MQTT stream (mqtt-packet), so two publishes can arrive in ONE write.
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const mqttPacket = require('mqtt-packet');
const { DeviceStore } = require('../../emulator/store');
const { startMqttEmulator } = require('../../emulator/mqtt');
const { waitFor } = require('../support/wait');

const GW = 'gw-acks-token-5ecret';

test('a multi-device publish: one PUBACK per entry, written before the next publish of the same read is stored', { timeout: 20000 }, async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'gw', token: GW, gateway: true }] });
  const emu = await startMqttEmulator({ store });
  t.after(() => emu.close());
  // What the server does, in order: entries stored, PUBACKs written (by packet id).
  const events = [];
  store.on('telemetry', (e) => events.push(`stored ${e.device}`));
  emu.broker.on('clientReady', (client) => {
    const write = client.conn.write.bind(client.conn);
    client.conn.write = (chunk, ...rest) => {
      const parser = mqttPacket.parser();
      parser.on('packet', (p) => { if (p.cmd === 'puback') events.push(`puback ${p.messageId}`); });
      parser.parse(Buffer.from(chunk));
      return write(chunk, ...rest);
    };
  });

  const socket = net.connect(emu.port, '127.0.0.1');
  t.after(() => socket.destroy());
  const received = [];
  const parser = mqttPacket.parser();
  parser.on('packet', (p) => received.push(p));
  socket.on('data', (d) => parser.parse(d));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'gw-acks', keepalive: 60, username: GW }));
  await waitFor(() => received.some((p) => p.cmd === 'connack'), 'CONNACK');
  assert.equal(received.find((p) => p.cmd === 'connack').returnCode, 0);

  const pack = (id, names) => mqttPacket.generate({
    cmd: 'publish', topic: 'v1/gateway/telemetry', qos: 1, messageId: id, retain: false, dup: false,
    payload: Buffer.from(JSON.stringify(Object.fromEntries(names.map((n, i) => [n, [{ v: i }]])))),
  });
  // Both publishes in one TCP write: the server reads them together.
  socket.write(Buffer.concat([pack(7, ['a1', 'a2', 'a3']), pack(8, ['b1', 'b2'])]));
  await waitFor(() => received.filter((p) => p.cmd === 'puback').length >= 5, 'five PUBACKs');
  await new Promise((r) => setTimeout(r, 50)); // nothing more comes

  const pubacks = received.filter((p) => p.cmd === 'puback').map((p) => p.messageId);
  assert.deepEqual(pubacks.filter((id) => id === 7).length, 3, 'one PUBACK per device entry of the first publish');
  assert.deepEqual(pubacks.filter((id) => id === 8).length, 2, 'one PUBACK per device entry of the second publish');
  assert.equal(pubacks.length, 5);
  for (const name of ['a1', 'a2', 'a3', 'b1', 'b2']) assert.ok(store.latest(name).v !== undefined, `${name} stored`);
  // Every PUBACK of a publish follows its last entry's storing; the first publish's extra ones
  // are written before the second publish's first entry is stored.
  const at = (e) => events.indexOf(e);
  assert.ok(at('stored a3') < at('puback 7'), events.join(', '));
  assert.ok(at('puback 7') < at('stored b1'), `the first publish's extra PUBACKs wait behind the second publish: ${events.join(', ')}`);
  assert.ok(at('stored b2') < at('puback 8'), events.join(', '));
});
