'use strict';
// MqttTransport's receive side against aedes in the role of ThingsBoard (test/support/tb-broker.js):
// only the filters needed, QoS 1, refused SUBACK as 'rejected', pushes and RPC as events, one
// delivery per RPC id per connection, replies on PUBACK, attribute requests and client-side RPC
// with unique ids, timeouts, late answers dropped, requests failed 'closed' by a drop.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib, TOKEN, mqttSettings, waitFor } = require('./common');
const { startTbBroker } = require('../support/tb-broker');
const { RpcBook } = lib('device/rpc-book.js');

const { MqttTransport } = lib('transports/mqtt/transport.js');

let tb;
const transports = [];
test.before(async () => {
  tb = await startTbBroker({ tokens: [TOKEN] });
});
test.after(async () => {
  for (const t of transports) await t.close();
  await tb.close();
});

async function connected() {
  const t = new MqttTransport(mqttSettings({ port: tb.port }));
  transports.push(t);
  await t.connect();
  return t;
}

const subsOf = () => tb.state.subscriptions.filter((s) => s.token === TOKEN).map((s) => s.topic);

test('subscribes only what is asked, at QoS 1, once per channel; pushes arrive as events', { timeout: 10000 }, async () => {
  const t = await connected();
  tb.state.subscriptions.length = 0;
  assert.equal(await tb.pushAttributes(TOKEN, { a: 1 }), 0, 'nothing subscribed yet: ThingsBoard sends nothing');
  await t.subscribe('attributes');
  await t.subscribe('attributes');
  assert.deepEqual(subsOf(), ['v1/devices/me/attributes'], 'one SUBSCRIBE for two calls');
  const client = Object.values(tb.broker.clients).find((c) => c.tbToken === TOKEN);
  assert.equal(client.subscriptions['v1/devices/me/attributes'].qos, 1);

  const updates = [];
  t.on('attributes', (u) => updates.push(u));
  await tb.pushAttributes(TOKEN, { setpoint: 21, mode: 'eco' });
  await tb.pushAttributes(TOKEN, { deleted: ['mode'] });
  await waitFor(() => updates.length === 2, 'two updates');
  assert.deepEqual(updates[0], { values: { setpoint: 21, mode: 'eco' } });
  assert.deepEqual(updates[1], { values: {}, deleted: ['mode'] });

  await t.subscribe('rpc');
  assert.deepEqual(subsOf(), ['v1/devices/me/attributes', 'v1/devices/me/rpc/request/+']);
  const rpcs = [];
  t.on('rpc', (r) => rpcs.push(r));
  await tb.sendRpc(TOKEN, 5, 'setLed', { on: true });
  await waitFor(() => rpcs.length === 1, 'an RPC');
  assert.deepEqual(rpcs[0], { id: 5, method: 'setLed', params: { on: true } });
  // The same id again on this connection (a redelivery) is not a new command: the transport
  // passes it on, and the one de-duplication, the device layer's RpcBook, hands the flow it once.
  await tb.sendRpc(TOKEN, 5, 'setLed', { on: true });
  await tb.sendRpc(TOKEN, 6, 'getState');
  await waitFor(() => rpcs.length === 3, 'the redelivery and the next RPC');
  assert.deepEqual(rpcs.map((r) => r.id), [5, 5, 6]);
  const book = new RpcBook();
  assert.deepEqual(rpcs.filter((r) => book.arrived(r)).map((r) => r.id), [5, 6]);

  // A reply resolves after PUBACK, on the topic with the request's id.
  await t.respondRpc(5, Buffer.from('{"led":true}'));
  assert.deepEqual(tb.publishedOn('v1/devices/me/rpc/response/5', TOKEN).map((p) => p.payload), ['{"led":true}']);

  const warnings = [];
  t.on('warning', (w) => warnings.push(w));
  await tb.push(TOKEN, 'v1/devices/me/attributes', 'not json{');
  await waitFor(() => warnings.length === 1, 'a warning for a body that is not JSON');
  assert.match(warnings[0], /not JSON/);

  await t.unsubscribe('attributes');
  assert.equal(await tb.pushAttributes(TOKEN, { a: 2 }), 0, 'unsubscribed');
  await t.close();
});

test('a refused subscription rejects with kind rejected and the SUBACK code', { timeout: 10000 }, async () => {
  const t = await connected();
  tb.refuse.add('v1/devices/me/rpc/request/+');
  try {
    await assert.rejects(t.subscribe('rpc'), (err) => err.kind === 'rejected' && err.code === 'SUBACK_128' && /refused the subscription/.test(err.message));
    await t.subscribe('attributes'); // the other channel is unaffected
  } finally {
    tb.refuse.clear();
  }
  await t.subscribe('rpc'); // asked again, now granted
  await t.close();
});

test('attribute requests and client-side RPC: unique ids, answers, timeouts, late answers dropped', { timeout: 10000 }, async () => {
  const t = await connected();
  const seen = [];
  tb.onAttributeRequest = (token, id, req) => {
    seen.push({ id, req });
    if (req.sharedKeys === 'slow') return undefined; // no answer
    return { client: { fw: '1.0' }, shared: { mode: 'eco' } };
  };
  const a = await t.requestAttributes({ clientKeys: ['fw'], sharedKeys: ['mode', 'x'] }, 2000);
  assert.deepEqual(a, { client: { fw: '1.0' }, shared: { mode: 'eco' } });
  assert.deepEqual(seen[0].req, { clientKeys: 'fw', sharedKeys: 'mode,x' });
  await t.requestAttributes({ clientKeys: [], sharedKeys: [] }, 2000);
  assert.deepEqual(seen[1].req, {}, 'empty lists are left out');
  assert.ok(subsOf().includes('v1/devices/me/attributes/response/+'));

  const started = Date.now();
  await assert.rejects(t.requestAttributes({ clientKeys: [], sharedKeys: ['slow'] }, 300), (err) => err.kind === 'timeout' && err.code === 'NO_ANSWER');
  assert.ok(Date.now() - started >= 280);
  const lateId = seen[2].id;
  // The late answer to the timed-out request comes now, then a new request: it must get its own.
  await tb.push(TOKEN, `v1/devices/me/attributes/response/${lateId}`, { shared: { late: true } });
  tb.onAttributeRequest = (token, id) => ({ shared: { fresh: id } });
  const fresh = await t.requestAttributes({ clientKeys: [], sharedKeys: ['fresh'] }, 2000);
  assert.deepEqual(fresh.shared.fresh !== undefined && !fresh.shared.late, true);

  tb.onClientRpc = (token, id, req) => (req.method === 'getCurrentTime' ? { time: 42, id } : req.method === 'text' ? 'plain' : undefined);
  const r = await t.callRpc('getCurrentTime', {}, 2000);
  assert.equal(r.time, 42);
  assert.equal(await t.callRpc('text', null, 2000), 'plain');
  await assert.rejects(t.callRpc('nobody', {}, 200), (err) => err.code === 'NO_ANSWER');
  const ids = tb.publishedOn(/request\/\d+$/, TOKEN).map((p) => Number(p.topic.split('/').pop()));
  assert.equal(new Set(ids).size, ids.length, `request ids unique: ${ids}`);

  // A drop fails what waits with kind 'closed' (the device layer sends it again).
  tb.onClientRpc = () => undefined;
  const before = tb.publishedOn(/rpc\/request/, TOKEN).length;
  const cut = t.callRpc('nobody', {}, 5000);
  await waitFor(() => tb.publishedOn(/rpc\/request/, TOKEN).length === before + 1, 'the request at the broker');
  for (const c of Object.values(tb.broker.clients)) if (c.tbToken === TOKEN) c.conn.destroy();
  await assert.rejects(cut, (err) => err.kind === 'closed');
  await t.close();
});
