'use strict';
// 200 redeploys (full and partial, config node changed and not), each of which really restarts
// the device connection, must leave no sockets, timers or listeners behind. Counted where leaks
// hide (test/support/leaks.js): every timer and socket alive by async_hooks, ref'd or not, in any
// state; listeners on process, RED.events and the coap global agent. Broker side: every
// connection the broker saw ended with the client's DISCONNECT — a socket we left open would
// otherwise be hidden by the broker closing it when the next connection takes the session over.
const { leakSnapshot, settledSnapshot, sharedEmitters } = require('../support/leaks');
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, redeploy, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor } = require('./common');
const { TOKEN, emulator } = require('../mqtt/common');

const REDEPLOYS = 200;

test(`${REDEPLOYS} redeploys, each restarting the connection, leak no sockets, timers or listeners`, { timeout: 180000 }, async (t) => {
  const { emu, store } = await emulator();
  t.after(async () => {
    await helper.unload();
    await emu.close();
  });
  // Broker side: how each connection ended.
  const endedWithoutDisconnect = [];
  let ended = 0;
  emu.broker.on('clientDisconnect', (client) => {
    ended++;
    if (!client._disconnected) endedWithoutDisconnect.push(client.id);
  });
  const flowFor = (i) => [
    { id: 'tab', type: 'tab' },
    // Every 4th deploy changes the config node (its connection restarts); the others change
    // both out nodes (both deregister: the last-user logic stops the connection, and the new
    // nodes start it again). A full deploy restarts everything.
    deviceConfig({ port: String(emu.port), keepalive: String(60 + (Math.floor(i / 4) % 2)) }),
    ...outsWithProbes([['a', { name: `a${i}` }], ['b', { kind: 'attributes', name: `b${i}` }]]),
  ];
  const creds = { dev: { accessToken: TOKEN } };
  const shared = () => sharedEmitters(helper);
  await helper.load(allModules(), flowFor(0), creds);
  assert.equal((await probe('a').send({ payload: { i: 0 } })).ok, true);
  await waitFor(() => emu.broker.connectedClients === 1, 'one connection');
  const before = await settledSnapshot(shared);

  for (let i = 1; i <= REDEPLOYS; i++) {
    await redeploy(flowFor(i), i % 3 === 0 ? 'full' : 'nodes', creds);
    // The restart really happened: one more CONNECT at the broker for every deploy.
    await waitFor(() => emu.stats.connects === i + 1, `the CONNECT after redeploy ${i} (broker saw ${emu.stats.connects})`, 5000);
    // ... and is up (CONNACK received) before the next deploy stops it: a connection stopped while
    // its CONNECT is unanswered ends without DISCONNECT, rightly, and would look like a takeover.
    await waitFor(() => /:status\.connected$/.test((lastStatus('a') || {}).text || ''), `connected after redeploy ${i}`, 5000);
    if (i % 10 === 0) assert.equal((await probe('a').send({ payload: { i } })).ok, true, `send after redeploy ${i}`);
  }
  assert.equal((await probe('b').send({ payload: { last: REDEPLOYS } })).ok, true);
  assert.equal(store.latest('dev1').i.value, REDEPLOYS);

  // Closing is asynchronous on both ends (FIN, broker cleanup): wait for it to settle, then compare.
  let after;
  try {
    await waitFor(() => {
      after = leakSnapshot(shared());
      return emu.broker.connectedClients === 1 && ended === REDEPLOYS && JSON.stringify(after) === JSON.stringify(before);
    }, 'resources back to the baseline', 10000);
  } catch {
    assert.deepEqual(after, before, 'timers and sockets alive, active resources and shared listeners after the redeploys');
  }
  assert.equal(emu.broker.connectedClients, 1);
  assert.equal(emu.stats.connects, REDEPLOYS + 1, 'one connection per deploy');
  assert.equal(ended, REDEPLOYS, 'every old connection ended at the broker');
  assert.deepEqual(endedWithoutDisconnect, [], 'every old connection was closed by us with DISCONNECT, none taken over or dropped');
  t.diagnostic(`baseline ${JSON.stringify(before)}`);
  t.diagnostic(`broker saw ${emu.stats.connects} CONNECTs for ${REDEPLOYS} redeploys`);
});
