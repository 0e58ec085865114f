'use strict';
// The gateway bodies (src/payload/gateway.ts): names checked before anything is queued, bodies
// exactly as ThingsBoard takes them, and the downlink parsed strictly, so an echo of the
// gateway's own publish (a broker such as mosquitto sends it back) is never a command.
const test = require('node:test');
const assert = require('node:assert/strict');
const gw = require('../../nodes/lib/payload/gateway.js');
const gwDown = require('../../nodes/lib/transports/mqtt/gateway.js');

test('sub-device names: text, not empty, at most 255 characters; the type defaults to "default"', () => {
  assert.equal(gw.deviceName('boiler 1', 'msg.device'), 'boiler 1');
  for (const bad of ['', '  ', 7, null, undefined, {}, ['a'], 'x'.repeat(256)]) {
    assert.throws(() => gw.deviceName(bad, 'msg.device'), (err) => err.name === 'PayloadError' && /^msg\.device is/.test(err.message), JSON.stringify(bad));
  }
  assert.equal(gw.deviceType(undefined, 't'), 'default');
  assert.equal(gw.deviceType('', 't'), 'default');
  assert.equal(gw.deviceType('meter', 't'), 'meter');
  assert.throws(() => gw.deviceType(5, 'msg.deviceType'), /msg\.deviceType is 5/);
});

test('bodies: connect, disconnect, telemetry always an array per device, attributes an object, RPC reply', () => {
  const json = (b) => JSON.parse(b.toString());
  assert.deepEqual(json(gw.connectBody('A "1"', 'meter')), { device: 'A "1"', type: 'meter' });
  assert.deepEqual(json(gw.disconnectBody('A')), { device: 'A' });
  assert.deepEqual(json(gw.deviceBody('A', Buffer.from('{"t":1}'), true)), { A: [{ t: 1 }] });
  assert.deepEqual(json(gw.deviceBody('A', Buffer.from('[{"t":1},{"t":2}]'), true)), { A: [{ t: 1 }, { t: 2 }] });
  assert.deepEqual(json(gw.deviceBody('A', Buffer.from('{"fw":"1"}'), false)), { A: { fw: '1' } });
  assert.deepEqual(json(gw.rpcReplyBody('A', 7, Buffer.from('{"ok":true}'))), { device: 'A', id: 7, data: { ok: true } });
  // The wrapper size the outbox reserves: exact, also for a name that is not ASCII.
  const inner = Buffer.from('{"v":1}');
  for (const name of ['ü', 'boiler-1', 'A "1"', 'a\\b', 'tab\there', '~ ok ~', '\u007f', 'emoji 🌡']) {
    assert.equal(gw.deviceBody(name, inner, false).length, inner.length + gw.wrapperBytes(name), name);
  }
});

test('downlink: only ThingsBoard\'s own shapes are commands; echoes of our publishes are not', () => {
  assert.deepEqual(gwDown.parseGatewayRpc({ device: 'A', data: { id: 7, method: 'setLed', params: { on: true } } }), { ok: true, value: { device: 'A', id: 7, method: 'setLed', params: { on: true } } });
  for (const echo of [
    { device: 'A', id: 7, data: { id: 7, method: 'setLed' } }, // our own RPC reply, echoed
    { device: 'A', data: { method: 'setLed' } },
    { device: 'A', data: { id: '7', method: 'setLed' } },
    { device: '', data: { id: 7, method: 'm' } },
    { A: [{ ts: 1, values: {} }] },
    [1],
    null,
  ]) assert.equal(gwDown.parseGatewayRpc(echo).ok, false, JSON.stringify(echo));
  assert.deepEqual(gwDown.parseGatewayAttributes({ device: 'A', data: { mode: 'eco', deleted: ['x'] } }), { ok: true, value: { device: 'A', values: { mode: 'eco' }, deleted: ['x'] } });
  for (const echo of [{ A: { fw: '1' } }, { device: { data: 1 } }, { device: 'A', data: 5 }, { device: 'A', data: {}, extra: 1 }]) {
    assert.equal(gwDown.parseGatewayAttributes(echo).ok, false, JSON.stringify(echo));
  }
  assert.deepEqual(gwDown.parseGatewayAttributesResponse({ id: 1, device: 'A', value: 5 }), { ok: true, value: { id: 1, device: 'A', value: 5 } });
  assert.deepEqual(gwDown.parseGatewayAttributesResponse({ id: 1, device: 'A', values: { a: 1 } }), { ok: true, value: { id: 1, device: 'A', values: { a: 1 } } });
  assert.equal(gwDown.parseGatewayAttributesResponse({ device: 'A', value: 5 }).ok, false);
});
