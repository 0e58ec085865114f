'use strict';
// The downlink nodes against the local ThingsBoard emulator (emulator/downlink.js), MQTT, MQTTS
// and CoAP (CoAPS: the coap-downlink tests, with their DTLS peers): shared attributes set on the emulator reach thingsboard-in (initial values first), an
// RPC sent as from ThingsBoard's RPC widget ends SUCCESSFUL with the flow's reply, attribute
// requests are answered from its store, and client-side RPC by its rules.
const test = require('node:test');
const assert = require('node:assert/strict');
const { waitFor, scanForTokens } = require('./common');
const { helper, modules, dev, inNode, sink, collect, takeSeenTexts, at } = require('./downlink-common');
const { TOKEN, emulator, testPki } = require('../mqtt/common');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');

async function start(transport) {
  if (transport === 'coap') {
    const store = new DeviceStore({ devices: [{ name: 'dev1', token: TOKEN }] });
    const emu = await startCoapEmulator({ store });
    return { store, emu, caPem: '' };
  }
  const pki = transport === 'mqtts' ? await testPki() : undefined;
  const { store, emu } = await emulator(pki ? { tls: pki.server } : {});
  return { store, emu, caPem: pki ? pki.caPem : '' };
}

test.afterEach(async () => {
  scanForTokens(takeSeenTexts(), [TOKEN]);
  await helper.unload();
});

for (const transport of ['mqtt', 'mqtts', 'coap']) {
  test(`emulator over ${transport}: shared attributes, RPC reply seen as SUCCESSFUL, attribute request, client-side RPC`, async (t) => {
    const { store, emu, caPem } = await start(transport);
    t.after(async () => {
      store.closeDownlink();
      await emu.close();
    });
    store.setShared('dev1', { setpoint: 20, mode: 'eco' });
    await helper.load(modules(), [
      { id: 'tab', type: 'tab' },
      dev('dev', emu.port, { transport }),
      inNode('attr', 'dev', { keys: 'setpoint' }),
      inNode('rpc', 'dev', { receive: 'rpc', methods: 'setLed' }, [['fn']]),
      { id: 'fn', type: 'function', z: 'tab', ...at, func: 'msg.payload = { led: msg.payload.on, via: msg.rpc.method }; return msg;', outputs: 1, wires: [['resp']] },
      { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
      { id: 'ra', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'attributes', sharedKeys: 'setpoint,mode', wires: [['answers']] },
      { id: 'rr', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'rpc', method: 'getCurrentTime', wires: [['answers']] },
      sink('attr-sink'),
      sink('answers'),
    ], { dev: { accessToken: TOKEN, caCert: caPem } });
    const attrs = collect('attr-sink');
    const answers = collect('answers');
    await waitFor(() => attrs.length === 1, 'initial values');
    assert.deepEqual([attrs[0].payload, attrs[0].initial], [{ setpoint: 20 }, true]);

    store.setShared('dev1', { setpoint: 21.5 });
    await waitFor(() => attrs.length === 2, 'the change');
    assert.deepEqual(attrs[1].payload, { setpoint: 21.5 });

    await waitFor(() => store.downlinkSnapshot(store.find('dev1')).online.length >= 1, 'a session (CoAP: one per observation)');
    const { done } = store.sendRpc('dev1', { method: 'setLed', params: { on: true }, timeout: 5000 });
    const record = await done;
    assert.equal(record.state, 'SUCCESSFUL');
    assert.deepEqual(record.reply, { led: true, via: 'setLed' });

    helper.getNode('ra').receive({ payload: {} });
    helper.getNode('rr').receive({ payload: {} });
    await waitFor(() => answers.length === 2, 'two answers');
    const attrAnswer = answers.find((m) => m.payload.shared);
    const timeAnswer = answers.find((m) => typeof m.payload.time === 'number');
    assert.deepEqual(attrAnswer.payload, { client: {}, shared: { setpoint: 21.5, mode: 'eco' } });
    assert.ok(Math.abs(timeAnswer.payload.time - Date.now()) < 60000);
  });
}
