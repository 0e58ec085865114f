'use strict';
// 200 redeploys (full and partial, config node changed and not) must leave no sockets, timers
// or listeners behind: the process's active resources and listener counts return to what they
// were with one deployed flow, and the broker has exactly one connection.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outsWithProbes, probe, waitFor } = require('./common');
const { TOKEN, emulator } = require('../mqtt/common');

const REDEPLOYS = 200;

function snapshot() {
  const resources = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] || 0) + 1;
  const processListeners = process.eventNames().reduce((sum, e) => sum + process.listenerCount(e), 0);
  return { resources, processListeners };
}

test(`${REDEPLOYS} redeploys leak no sockets, timers or listeners`, { timeout: 180000 }, async (t) => {
  const { emu, store } = await emulator();
  t.after(async () => {
    await helper.unload();
    await emu.close();
  });
  const flowFor = (i) => [
    { id: 'tab', type: 'tab' },
    // Every 4th deploy changes the config node (its connection restarts); the others change
    // only an out node (it deregisters, the last-user logic stops and restarts the connection).
    deviceConfig({ port: String(emu.port), keepalive: String(60 + (Math.floor(i / 4) % 2)) }),
    ...outsWithProbes([['a', { name: `a${i % 2}` }], ['b', { kind: 'attributes' }]]),
  ];
  const creds = { dev: { accessToken: TOKEN } };
  await helper.load(allModules(), flowFor(0), creds);
  assert.equal((await probe('a').send({ payload: { i: 0 } })).ok, true);
  await waitFor(() => emu.broker.connectedClients === 1, 'one connection');
  const before = snapshot();

  for (let i = 1; i <= REDEPLOYS; i++) {
    await helper.setFlows(flowFor(i), i % 3 === 0 ? 'full' : 'nodes', creds);
    if (i % 10 === 0) assert.equal((await probe('a').send({ payload: { i } })).ok, true, `send after redeploy ${i}`);
  }
  assert.equal((await probe('b').send({ payload: { last: REDEPLOYS } })).ok, true);
  assert.equal(store.latest('dev1').i.value, REDEPLOYS);

  // Closing is asynchronous on both ends (FIN, broker cleanup): wait for it to settle, then compare.
  let after;
  try {
    await waitFor(() => {
      after = snapshot();
      return emu.broker.connectedClients === 1 && JSON.stringify(after) === JSON.stringify(before);
    }, 'resources back to the baseline', 10000);
  } catch {
    assert.deepEqual(after, before, 'active resources and process listeners after the redeploys');
  }
  assert.equal(emu.broker.connectedClients, 1);
  t.diagnostic(`baseline ${JSON.stringify(before)}`);
  t.diagnostic(`broker saw ${emu.stats.connects} CONNECTs for ${REDEPLOYS} redeploys`);
});
