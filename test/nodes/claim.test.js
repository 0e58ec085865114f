'use strict';
// thingsboard-out kind 'claim': msg.payload {secretKey, durationMs} (both optional) → MQTT
// v1/devices/me/claim (a broker in ThingsBoard's role sees it) and CoAP POST /api/v1/$TOKEN/claim
// (libcoap's server stores what a POST brings, a GET shows it). A payload that is not a claiming
// request fails with a message naming the field.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outsWithProbes, probe, scanForTokens } = require('./common');
const { startTbBroker } = require('../support/tb-broker');
const { requirePeer } = require('../support/peers');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { freeTcpPort } = require('../support/ports');

const TOKEN = 'claim-T0ken-abc';
const caught = [];
function flow(devOverrides) {
  return [{ id: 'tab', type: 'tab' }, deviceConfig(devOverrides), ...outsWithProbes([['claim1', { kind: 'claim' }]])];
}
test.afterEach(async () => {
  scanForTokens(caught.splice(0), [TOKEN]);
  await helper.unload();
});

test('claim over MQTT: the body goes to v1/devices/me/claim; both fields optional; bad payloads name the field', { timeout: 60000 }, async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  await helper.load(allModules(), flow({ port: String(tb.port) }), { dev: { accessToken: TOKEN } });
  const claim = probe('claim1');
  assert.equal((await claim.send({ payload: { secretKey: 'abc', durationMs: 60000 } })).ok, true);
  assert.equal((await claim.send({ payload: {} })).ok, true);
  assert.equal((await claim.send({})).ok, true);
  assert.deepEqual(tb.publishedOn('v1/devices/me/claim', TOKEN).map((p) => JSON.parse(p.payload)), [{ secretKey: 'abc', durationMs: 60000 }, {}, {}]);
  for (const [payload, re] of [[{ secretKey: 5 }, /payload\.secretKey must be a string/], [{ durationMs: -1 }, /payload\.durationMs must be a whole number/], [{ other: 1 }, /only secretKey and durationMs/], ['x', /takes msg.payload \{secretKey, durationMs\}/]]) {
    const r = await claim.send({ payload });
    assert.equal(r.ok, false);
    assert.match(r.error, re);
    caught.push(r.error);
  }
  assert.equal(tb.publishedOn('v1/devices/me/claim', TOKEN).length, 3, 'nothing sent for a bad payload');
});

test('claim over CoAP: POST /api/v1/$TOKEN/claim', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const server = await startCoapServer();
  t.after(() => server.stop());
  await helper.load(allModules(), flow({ transport: 'coap', port: String(server.port) }), { dev: { accessToken: TOKEN } });
  assert.equal((await probe('claim1').send({ payload: { secretKey: 'k1', durationMs: 1000 } })).ok, true);
  assert.equal(await coapGet(server.port, `api/v1/${TOKEN}/claim`), JSON.stringify({ secretKey: 'k1', durationMs: 1000 }));
});

test("claim: a node's done(err) hides every secret of its device, not only the access token (MQTT basic password quoted by the payload check)", { timeout: 30000 }, async () => {
  const PASSWORD = 'claim-Basic-pw-77';
  const port = await freeTcpPort(); // nothing listens: the payload fails before anything is sent
  await helper.load(allModules(), flow({ port: String(port), credentialsType: 'mqttBasic' }), { dev: { username: 'claim-user', password: PASSWORD } });
  const r = await probe('claim1').send({ payload: { [PASSWORD]: 1 } });
  assert.equal(r.ok, false);
  // Only done(err)'s text: Node-RED's own log quotes the user's msg, whose key this is.
  assert.match(r.error, /only secretKey and durationMs \(payload\.\*\*\* is not one of them\)/);
  assert.ok(!r.error.includes(PASSWORD), r.error);
});
