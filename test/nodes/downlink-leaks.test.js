'use strict';
// 200 redeploys of a flow with thingsboard-in (attributes and RPC), thingsboard-rpc-response and
// thingsboard-request nodes (full and partial, config node changed and not; requests pending
// while the flow is replaced) leave no sockets, timers or listeners behind: active resources and
// listener counts return to what they were with one deployed flow, and ThingsBoard sees one
// session and one subscription per filter.
const test = require('node:test');
const assert = require('node:assert/strict');
const { waitFor } = require('./common');
const { helper, modules, dev, inNode, sink, probes, collect, redeploy, at } = require('./downlink-common');
const { TOKEN } = require('../mqtt/common');
const { startTbBroker } = require('../support/tb-broker');

const REDEPLOYS = 200;

function snapshot() {
  const resources = {};
  // An Immediate is gone by the next turn of the loop: not a leak, only noise in the comparison.
  for (const r of process.getActiveResourcesInfo()) if (r !== 'Immediate') resources[r] = (resources[r] || 0) + 1;
  const processListeners = process.eventNames().reduce((sum, e) => sum + process.listenerCount(e), 0);
  return { resources, processListeners };
}

test(`${REDEPLOYS} redeploys with in-nodes and requests leak nothing`, async (t) => {
  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(async () => {
    await helper.unload();
    await tb.close();
  });
  tb.onAttributeRequest = (token, id, req) => (req.sharedKeys === 'never' ? undefined : { shared: { setpoint: 1 } });
  const flowFor = (i) => [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port, { keepalive: String(60 + (Math.floor(i / 4) % 2)) }),
    inNode('attr', 'dev', { keys: 'setpoint', name: `attr${i % 2}` }),
    inNode('rpc', 'dev', { receive: 'rpc' }, [['fn']]),
    { id: 'fn', type: 'function', z: 'tab', ...at, func: 'msg.payload = 1; return msg;', outputs: 1, wires: [['resp']] },
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    // Changed every other deploy: a node that closes with a request pending (60 s) must end it.
    { id: 'req', type: 'thingsboard-request', z: 'tab', ...at, name: `req${Math.floor(i / 7) % 2}`, device: 'dev', request: 'attributes', sharedKeys: 'setpoint', timeout: '60', wires: [['out']] },
    sink('attr-sink'),
    sink('out'),
    ...probes(['req', 'resp']),
  ];
  const creds = { dev: { accessToken: TOKEN } };
  await helper.load(modules(), flowFor(0), creds);
  let rpcId = 1;
  const roundTrip = async (i) => {
    const out = collect('out');
    helper.getNode('req').receive({ payload: {} });
    await waitFor(() => out.length === 1, `request answered after redeploy ${i}`);
    await waitFor(() => tb.subscribed(TOKEN, 'v1/devices/me/rpc/request/+'), `RPC subscription after redeploy ${i}`);
    assert.equal(await tb.rpc(TOKEN, rpcId++, 'm', {}), '1', `RPC answered after redeploy ${i}`);
  };
  await roundTrip(0);
  await waitFor(() => tb.clients(TOKEN) === 1, 'one session');
  // Settled first: the status throttle (250 ms) and similar short timers have run.
  await new Promise((r) => setTimeout(r, 500));
  const before = snapshot();

  for (let i = 1; i <= REDEPLOYS; i++) {
    // A request that will never be answered is pending while the flow is replaced.
    if (i % 7 === 6) helper.getNode('req').receive({ payload: { sharedKeys: 'never' } });
    await redeploy(flowFor(i), i % 3 === 0 ? 'full' : 'nodes', creds);
    if (i % 20 === 0) await roundTrip(i);
  }
  // Last: a request pending (60 s) when only its node is replaced, the connection staying up.
  const last = flowFor(REDEPLOYS);
  const nevers = () => tb.publishedOn(/attributes\/request/).filter((p) => p.payload.includes('never')).length;
  const sentBefore = nevers();
  helper.getNode('req').receive({ payload: { sharedKeys: 'never' } });
  await waitFor(() => nevers() === sentBefore + 1, 'the request at ThingsBoard');
  last.find((n) => n.id === 'req').name = 'req-last';
  await redeploy(last, 'nodes', creds);
  await roundTrip(REDEPLOYS);

  let after;
  try {
    await waitFor(() => {
      after = snapshot();
      return tb.clients(TOKEN) === 1 && JSON.stringify(after) === JSON.stringify(before);
    }, 'resources back to the baseline', 10000);
  } catch {
    assert.deepEqual(after, before, 'active resources and process listeners after the redeploys');
  }
  const client = Object.values(tb.broker.clients).find((c) => c.tbToken === TOKEN);
  // rpc/response/+: the answer to getSessionLimits, asked after every connect (device/session-limits.ts).
  assert.deepEqual(Object.keys(client.subscriptions).sort(), ['v1/devices/me/attributes', 'v1/devices/me/attributes/response/+', 'v1/devices/me/rpc/request/+', 'v1/devices/me/rpc/response/+']);
  t.diagnostic(`baseline ${JSON.stringify(before)}; ThingsBoard saw ${tb.state.connects} sessions for ${REDEPLOYS} redeploys`);
});
