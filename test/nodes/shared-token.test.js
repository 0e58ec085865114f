'use strict';
// Two thingsboard-device config nodes with one MQTT token in one Node-RED: ThingsBoard keeps one
// session per device, so they would close each other in turns. The runtime sees both credentials
// at deploy: both devices' nodes say so at once (no connection, no reconnect loop first), the log
// names both, messages fail saying why; removing one lets the other connect and deliver. Another
// token, or another runtime, is not a conflict.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outNode, outsWithProbes, probe, statusTexts, lastStatus, waitFor, scanForTokens } = require('./common');
const { TOKEN, TOKEN2, emulator } = require('../mqtt/common');

let store;
let emu;

test.before(async () => {
  ({ store, emu } = await emulator());
});

test.after(async () => {
  await emu.close();
});

test.afterEach(async () => {
  scanForTokens([], [TOKEN, TOKEN2]);
  await helper.unload();
});

const at = { x: 100, y: 100 };

function flow(devices) {
  const nodes = [{ id: 'tab', type: 'tab', label: 'shared token' }];
  for (const id of devices) nodes.push(deviceConfig({ id, name: `device ${id}`, port: String(emu.port) }));
  nodes.push(...outsWithProbes([['out1', { device: devices[0] }]]));
  if (devices[1]) nodes.push(outNode('out2', { device: devices[1] }));
  return nodes;
}

const logText = () => helper.log().args.map((a) => a.map((x) => (x && typeof x === 'object' ? String(x.msg) : String(x))).join(' ')).join('\n');

test('two config nodes with one token: both say so at deploy, nothing connects, messages fail at once; removing one lets the other deliver', { timeout: 60000 }, async () => {
  const attemptsBefore = emu.stats.connectAttempts;
  const started = Date.now();
  await helper.load(allModules(), flow(['devA', 'devB']), { devA: { accessToken: TOKEN }, devB: { accessToken: TOKEN } });
  await waitFor(() => /:status\.tokenShared$/.test((lastStatus('out1') || {}).text || '') && /:status\.tokenShared$/.test((lastStatus('out2') || {}).text || ''), 'both devices show the shared token', 2000);
  assert.ok(Date.now() - started < 2000, 'said at deploy, not after a reconnect loop');
  assert.equal(lastStatus('out1').fill, 'red');
  assert.ok(!statusTexts('out1').some((t) => /status\.(connected|reconnecting)/.test(t)), `no connection attempt: ${statusTexts('out1')}`);
  assert.ok(!statusTexts('out2').some((t) => /status\.(connected|reconnecting)/.test(t)), `no connection attempt: ${statusTexts('out2')}`);
  const log = logText();
  assert.match(log, /"device devA" is also used by "device devB"/, 'the log says it for the first');
  assert.match(log, /"device devB" is also used by "device devA"/, 'and for the second');
  const r = await probe('out1').send({ payload: { shared: 1 } });
  assert.equal(r.ok, false);
  assert.match(r.error, /also used by "device devB"/);
  assert.equal(store.latest('dev1').shared, undefined, 'nothing was sent');
  assert.equal(emu.stats.connectAttempts, attemptsBefore, 'neither configuration tried to connect');

  // One configuration goes (a redeploy without it): the other connects and delivers.
  await helper.setFlows(flow(['devA']), 'full', { devA: { accessToken: TOKEN } });
  await waitFor(() => /:status\.connected$/.test((lastStatus('out1') || {}).text || ''), 'the remaining device connected');
  assert.deepEqual(await probe('out1').send({ payload: { shared: 2 } }), { ok: true, count: 1 });
  assert.equal(store.latest('dev1').shared.value, 2);
});

test('a config node added later with the same token: the connected one stops and both say so; different tokens do not conflict', { timeout: 60000 }, async () => {
  await helper.load(allModules(), flow(['devA', 'devC']), { devA: { accessToken: TOKEN }, devC: { accessToken: TOKEN2 } });
  await waitFor(() => /:status\.connected$/.test((lastStatus('out1') || {}).text || '') && /:status\.connected$/.test((lastStatus('out2') || {}).text || ''), 'two tokens, two connections');
  // A partial deploy adds devD with devA's token (devA itself unchanged, connected): a conflict from then on.
  const next = flow(['devA', 'devD']);
  await helper.setFlows(next, 'nodes', { devA: { accessToken: TOKEN }, devD: { accessToken: TOKEN } });
  await waitFor(() => /:status\.tokenShared$/.test((lastStatus('out1') || {}).text || '') && /:status\.tokenShared$/.test((lastStatus('out2') || {}).text || ''), 'both show the shared token');
  // The connected one closed its session: nothing left to be kicked off in turns.
  await waitFor(() => Object.keys(emu.broker.clients).length === 0, 'no session left open', 5000);
  const attempts = emu.stats.connectAttempts;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(emu.stats.connectAttempts, attempts, 'no reconnect loop');
});
