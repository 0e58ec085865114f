'use strict';
// CoapTransport's receive side against the emulator's CoAP server (emulator/coap.js, which answers
// as ThingsBoard's CoapTransportResource does): shared attributes, server-side RPC with the reply
// seen as SUCCESSFUL, attribute request, client-side RPC by the emulator's rules; renewals do not
// pile up observer sessions in the emulator nor deliver a change twice; close deregisters.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { waitFor } = require('../support/wait');
const { assertNoSecrets } = require('../support/scan');
const { CoapTransport, fastTiming, settings, recordTexts } = require('./common');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
const TOKEN = 'emu-downlink-tok-4';

test('emulator: shared attributes, RPC reply SUCCESSFUL, attribute request, client-side RPC; renewals keep one observer each', async (t) => {
  const store = new DeviceStore({ devices: [{ name: 'pump', token: TOKEN }] });
  const emu = await startCoapEmulator({ store });
  t.after(() => emu.close());
  t.after(() => store.closeDownlink());
  const tr = new CoapTransport(settings(emu.port, { accessToken: TOKEN }), { downlink: { refreshMs: 300, answerTimeoutMs: 3000 } });
  const texts = recordTexts(tr);
  const events = { attributes: [], rpc: [], resubscribed: [] };
  for (const name of Object.keys(events)) tr.on(name, (e) => events[name].push(e));
  t.after(() => tr.close());
  await tr.connect();
  store.setShared('pump', { speed: 1 });
  await tr.subscribe('attributes');
  await tr.subscribe('rpc');
  store.setShared('pump', { speed: 2 });
  await waitFor(() => events.attributes.length === 1, 'attribute update', 3000);
  assert.deepEqual(events.attributes[0], { values: { speed: 2 } });

  const { done } = store.sendRpc('pump', { method: 'setSpeed', params: { value: 3 }, timeout: 3000 });
  await waitFor(() => events.rpc.length === 1, 'rpc', 3000);
  assert.equal(events.rpc[0].method, 'setSpeed');
  await tr.respondRpc(events.rpc[0].id, Buffer.from('{"speed":3}'));
  const final = await done;
  assert.equal(final.state, 'SUCCESSFUL');
  assert.deepEqual(final.reply, { speed: 3 });

  assert.deepEqual(await tr.requestAttributes({ clientKeys: [], sharedKeys: ['speed'] }, 3000), { shared: { speed: 2 } });
  const time = await tr.callRpc('getCurrentTime', {}, 3000);
  assert.equal(typeof time.time, 'number');

  // Several renewals later: one observer per channel in the emulator, each change once.
  await waitFor(() => events.resubscribed.filter((c) => c === 'attributes').length >= 3, 'three renewals', 5000);
  await waitFor(() => store.devices.get('pump').sessions.size === 2, 'the replaced observations deregistered', 3000);
  store.setShared('pump', { speed: 4 });
  await waitFor(() => events.attributes.length === 2, 'update after renewals', 3000);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(events.attributes.map((u) => u.values.speed), [2, 4]);

  await tr.close();
  await waitFor(() => store.devices.get('pump').sessions.size === 0, 'close deregistered both', 3000);
  assertNoSecrets(texts, [TOKEN]);
});
