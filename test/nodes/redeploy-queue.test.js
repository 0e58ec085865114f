'use strict';
// Readings queued during an outage and a redeploy: a redeploy that keeps the config node (same
// id, same settings) keeps its connection and queue; a changed config node for the same device
// hands its queue to the new one; a config node for another device drops the queue and says how
// many readings that was. Counted at the broker, with each reading's own ts.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor } = require('./common');
const { redeploy } = require('./downlink-common');
const { TOKEN, TOKEN2, emulator } = require('../mqtt/common');
const { freeTcpPort } = require('../support/ports');

const N = 20;
const creds = { dev: { accessToken: TOKEN } };

function flow(port, config = {}, out = {}) {
  return [
    { id: 'tab', type: 'tab' },
    deviceConfig({ port: String(port), ...config }),
    ...outsWithProbes([['out1', out]]),
  ];
}

/** Readings at the broker by n, with the ts the broker kept. */
function arrivals(store) {
  const seen = new Map();
  store.on('telemetry', (e) => { for (const entry of e.entries) if (entry.values.n !== undefined) seen.set(entry.values.n, entry.ts); });
  return seen;
}

function warnings() {
  return helper._NodePrototype.warn.args.map((a) => String(a[0]));
}

/** Loads the flow, takes the broker away, queues N readings; returns what the test needs next. */
async function queuedDuringOutage(t) {
  const port = await freeTcpPort();
  const env = await emulator({ port });
  const state = { emu: env.emu, store: env.store, port, seen: arrivals(env.store) };
  t.after(async () => {
    await helper.unload();
    await state.emu.close();
  });
  await helper.load(allModules(), flow(port), creds);
  await waitFor(() => /status\.connected/.test((lastStatus('out1') || {}).text || ''), 'connected');
  state.connection = helper.getNode('dev').connection;
  await state.emu.close();
  await waitFor(() => /status\.reconnecting/.test((lastStatus('out1') || {}).text || ''), 'reconnecting');
  const out = probe('out1');
  state.sentAt = Date.now();
  for (let n = 0; n < N; n++) void out.send({ payload: { n } });
  await waitFor(() => state.connection.waiting === N, `${N} queued`);
  state.restart = async () => {
    state.restartedAt = Date.now();
    state.emu = (await emulator({ store: state.store, port })).emu;
  };
  return state;
}

async function allArrive(state) {
  await waitFor(() => state.seen.size >= N, `all ${N} readings at the broker (${state.seen.size})`, 20000);
  for (let n = 0; n < N; n++) {
    const ts = state.seen.get(n);
    assert.ok(ts >= state.sentAt && ts < state.restartedAt, `reading ${n} carries its receive time (${ts}), not its arrival`);
  }
  assert.ok(!warnings().some((w) => /droppedOnClose/.test(w)), 'nothing reported dropped');
}

test('a full redeploy with the same config node keeps its connection and queue', { timeout: 60000 }, async (t) => {
  const state = await queuedDuringOutage(t);
  await redeploy(flow(state.port), 'full', creds);
  assert.equal(helper.getNode('dev').connection, state.connection, 'the same connection');
  await state.restart();
  await allArrive(state);
  // The new out node uses it: a new reading goes through and completes.
  assert.equal((await probe('out1').send({ payload: { after: 1 } })).ok, true);
});

test('a partial redeploy that changes only the out node keeps the queue', { timeout: 60000 }, async (t) => {
  const state = await queuedDuringOutage(t);
  await redeploy(flow(state.port, {}, { name: 'renamed' }), 'nodes', creds);
  assert.equal(helper.getNode('dev').connection, state.connection, 'the same connection');
  await state.restart();
  await allArrive(state);
});

test('a changed config node for the same device takes over the queue', { timeout: 60000 }, async (t) => {
  const state = await queuedDuringOutage(t);
  await redeploy(flow(state.port, { keepalive: '30' }), 'nodes', creds);
  const next = helper.getNode('dev').connection;
  assert.notEqual(next, state.connection, 'a new connection for the new settings');
  assert.equal(next.waiting, N, 'the queue moved to it');
  await state.restart();
  await allArrive(state);
});

test('a config node changed to another device drops the queue and says how many readings', { timeout: 60000 }, async (t) => {
  const state = await queuedDuringOutage(t);
  await redeploy(flow(state.port), 'full', { dev: { accessToken: TOKEN2 } });
  await waitFor(() => warnings().some((w) => /droppedOnClose/.test(w)), 'the dropped warning');
  assert.equal(helper.getNode('dev').connection.waiting, 0, 'nothing handed to the other device');
  assert.equal(state.connection.waiting, 0, 'the old queue ended');
});
