'use strict';
// The extra PUBACKs of packed gateway publishes are counted on the socket and never reach mqtt.js
// (transports/mqtt/extra-acks.ts). First the framing on its own (every way a read can cut the
// stream), then end to end against the emulator in ThingsBoard's role: mqtt.js sees ONE PUBACK per
// packed publish, and each publish still completes only when every entry was acknowledged.
const test = require('node:test');
const assert = require('node:assert/strict');
const mqttPacket = require('mqtt-packet');
const { lib, mqttSettings, waitFor } = require('./common');
const { DeviceStore } = require('../../emulator/store');
const { startMqttEmulator } = require('../../emulator/mqtt');

const { ExtraAckFilter } = lib('transports/mqtt/extra-acks.js');
const { MqttTransport } = lib('transports/mqtt/transport.js');

const gen = (p) => mqttPacket.generate(p);
const puback = (id) => gen({ cmd: 'puback', messageId: id });

test('the filter takes out exactly the claimed 4-byte PUBACKs, whatever the reads cut, and keeps everything else in order', () => {
  // A publish whose payload holds PUBACK-looking bytes, PUBACKs (7 is a pack: first kept, then
  // two extra), a PUBACK with a reason code (never taken), a ping response, a large publish
  // (two-byte remaining length).
  const tricky = gen({ cmd: 'publish', topic: 'v1/gateway/rpc', qos: 0, retain: false, dup: false, payload: Buffer.from([0x40, 0x02, 0x00, 0x07, 0x40, 0x02]) });
  const refused = Buffer.from([0x40, 0x03, 0x00, 0x07, 0x97]);
  const big = gen({ cmd: 'publish', topic: 'v1/gateway/attributes', qos: 0, retain: false, dup: false, payload: Buffer.alloc(300, 0x40) });
  const parts = [tricky, puback(7), puback(9), puback(7), refused, gen({ cmd: 'pingresp' }), puback(7), big, puback(9)];
  const stream = Buffer.concat(parts);
  const expected = Buffer.concat([tricky, puback(7), puback(9), refused, gen({ cmd: 'pingresp' }), big, puback(9)]);
  const run = (cuts) => {
    const seen = new Map();
    const asked = [];
    const filter = new ExtraAckFilter({
      extraAck(id) {
        asked.push(id);
        if (id !== 7) return false;
        const n = (seen.get(id) ?? 0) + 1;
        seen.set(id, n);
        return n > 1;
      },
    });
    const out = [];
    let from = 0;
    for (const cut of [...cuts, stream.length]) {
      out.push(filter.filter(stream.subarray(from, cut)));
      from = cut;
    }
    return { out: Buffer.concat(out), asked };
  };
  const whole = run([]);
  assert.deepEqual(whole.out, expected);
  // Asked once per 4-byte PUBACK, in order; never about bytes inside a publish or a PUBACK with a reason code.
  assert.deepEqual(whole.asked, [7, 9, 7, 7, 9]);
  // No extra PUBACK in a chunk: the same Buffer back, no copy.
  const plain = new ExtraAckFilter({ extraAck: () => false });
  assert.equal(plain.filter(stream), stream);
  for (let a = 1; a < stream.length; a++) {
    assert.deepEqual(run([a]).out, expected, `one cut at ${a}`);
  }
  const everyByte = run(Array.from({ length: stream.length - 1 }, (_, i) => i + 1));
  assert.deepEqual(everyByte.out, expected, 'one byte per read');
  assert.deepEqual(everyByte.asked, [7, 9, 7, 7, 9]);
});

test('end to end: mqtt.js sees one PUBACK per packed publish; the publish completes once every entry is acknowledged', { timeout: 20000 }, async (t) => {
  const GW = 'extra-acks-gw-5ecret';
  const store = new DeviceStore({ devices: [{ name: 'gw', token: GW, gateway: true }] });
  const emu = await startMqttEmulator({ store });
  t.after(() => emu.close());
  const transport = new MqttTransport(mqttSettings({ port: emu.port, accessToken: GW }));
  t.after(() => transport.close());
  await transport.connect();
  const pubacks = [];
  transport.client.on('packetreceive', (p) => { if (p.cmd === 'puback') pubacks.push(p.messageId); });
  const body = (names) => Buffer.from(JSON.stringify(Object.fromEntries(names.map((n, i) => [n, [{ ts: 1000 + i, values: { v: i } }]]))));
  const done = [];
  const send = (names) => new Promise((resolve) => transport.publishGateway('telemetry', body(names), 1, (err) => { done.push(names[0]); resolve(err); }, names.length));
  const results = await Promise.all([send(['a1', 'a2', 'a3', 'a4', 'a5']), send(['b1', 'b2', 'b3']), send(['c1', 'c2'])]);
  assert.deepEqual(results, [undefined, undefined, undefined]);
  assert.equal(transport.packsProven, true, 'one PUBACK per entry was counted');
  for (const name of ['a1', 'a2', 'a3', 'a4', 'a5', 'b1', 'b2', 'b3', 'c1', 'c2']) assert.ok(store.latest(name).v !== undefined, `${name} stored`);
  await waitFor(() => pubacks.length >= 3, 'the first PUBACKs');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(pubacks.length, 3, `mqtt.js parsed only each publish's first PUBACK (${pubacks.length})`);
  assert.equal(new Set(pubacks).size, 3);
  // A single-device publish is untouched.
  assert.equal(await new Promise((resolve) => transport.publishGateway('telemetry', body(['d1']), 1, resolve)), undefined);
  await waitFor(() => pubacks.length === 4, 'its PUBACK reaches mqtt.js');
});
