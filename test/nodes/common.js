'use strict';
// Flows for node-red-node-test-helper: a thingsboard-device config node, thingsboard-out nodes,
// and per out node a Catch and a Complete node feeding helper sinks, so a test sees exactly how
// each message ended (done() → Complete, done(err) → Catch).
const { waitFor } = require('../support/wait');
const { helper, nodeModules } = require('../support/node-red');
const { collectTexts, assertNoSecrets } = require('../support/scan');

// The helper loads the core catch/complete/status nodes itself when a flow holds them.
function allModules() {
  return nodeModules();
}

function deviceConfig(overrides = {}) {
  return {
    id: 'dev',
    type: 'thingsboard-device',
    name: 'test device',
    host: '127.0.0.1',
    port: '1883',
    transport: 'mqtt',
    verifyServer: true,
    serverName: '',
    clientId: '',
    keepalive: '60',
    cleanSession: true,
    protocolVersion: '4',
    maxPayloadBytes: '65536',
    queueSize: '1000',
    confirmable: true,
    maxInFlight: '4',
    ...overrides,
  };
}

// Flow nodes need x/y: without them the runtime takes a node for a config node.
const at = { x: 100, y: 100 };

/** An out node (wired to nothing: it has no output). */
function outNode(id, overrides = {}, z = 'tab') {
  return { id, type: 'thingsboard-out', z, ...at, name: id, device: 'dev', kind: 'telemetry', qos: '1', key: '', wires: [], ...overrides };
}

/**
 * The out nodes plus ONE Complete and ONE Catch node scoped to them, feeding helper nodes `ok`
 * and `err` (the helper registers core nodes once per node in a flow: one of each per flow).
 */
function outsWithProbes(outs, z = 'tab') {
  const ids = outs.map(([id]) => id);
  return [
    ...outs.map(([id, o]) => outNode(id, o, z)),
    { id: 'probe-complete', type: 'complete', z, ...at, scope: ids, uncaught: false, wires: [['ok']] },
    { id: 'probe-catch', type: 'catch', z, ...at, scope: ids, uncaught: false, wires: [['err']] },
    { id: 'ok', type: 'helper', z, ...at, wires: [] },
    { id: 'err', type: 'helper', z, ...at, wires: [] },
  ];
}

/**
 * Records how messages sent into out node `id` end (keyed by msg.probe, unique per test run).
 * send(msg) → Promise<{ok: true, count} | {ok: false, error, count}>; count > 1 means it ended twice.
 */
let probeSeq = 0;
const probeState = { results: new Map(), waiters: new Map(), wired: null };
function wireProbes() {
  const okNode = helper.getNode('ok');
  if (probeState.wired === okNode) return;
  probeState.wired = okNode;
  const settle = (key, result) => {
    const { results, waiters } = probeState;
    if (results.has(key)) {
      results.get(key).count++;
      return;
    }
    results.set(key, { ...result, count: 1 });
    const w = waiters.get(key);
    if (w) {
      waiters.delete(key);
      w(results.get(key));
    }
  };
  okNode.on('input', (msg) => settle(msg.probe, { ok: true }));
  helper.getNode('err').on('input', (msg) => settle(msg.probe, { ok: false, error: msg.error && msg.error.message }));
}

// A message that never ends is a failure of its own (the node lost it), reported as such instead
// of the test waiting for its whole timeout; far above any delivery in these tests, even on a
// loaded machine. The timer goes as soon as the message ends (the leak tests count timers).
const PROBE_DEADLINE_MS = 60000;

function probe(id) {
  wireProbes();
  const mine = [];
  const ended = (key) => new Promise((resolve) => {
    if (probeState.results.has(key)) {
      resolve(probeState.results.get(key));
      return;
    }
    const timer = setTimeout(() => {
      probeState.waiters.delete(key);
      resolve({ ok: false, error: `neither Complete nor Catch within ${PROBE_DEADLINE_MS / 1000} s: the message was lost`, count: 0 });
    }, PROBE_DEADLINE_MS);
    probeState.waiters.set(key, (result) => {
      clearTimeout(timer);
      resolve(result);
    });
  });
  return {
    get results() { return mine.map((k) => probeState.results.get(k)).filter(Boolean); },
    get errors() { return this.results.filter((r) => !r.ok).map((r) => r.error); },
    send(msg) {
      const key = `p${probeSeq++}`;
      mine.push(key);
      const p = ended(key);
      helper.getNode(id).receive({ ...msg, probe: key });
      return p;
    },
  };
}

/** The status texts node `id` showed so far. */
function statusTexts(id) {
  const node = helper.getNode(id);
  const spy = helper._NodePrototype.status;
  return spy.thisValues.map((n, i) => [n, spy.args[i][0]]).filter(([n]) => n === node).map(([, s]) => (s && s.text) || '');
}

function lastStatus(id) {
  const node = helper.getNode(id);
  const spy = helper._NodePrototype.status;
  for (let i = spy.args.length - 1; i >= 0; i--) if (spy.thisValues[i] === node) return spy.args[i][0];
  return undefined;
}


/** Scans everything captured in this helper run for the tokens; returns how many texts. */
function scanForTokens(extraTexts, tokens) {
  return assertNoSecrets([...collectTexts(helper), ...extraTexts], tokens);
}

/**
 * helper.setFlows, without its race: the helper starts listening for 'flows:started' only after
 * the deploy and gives it 300 ms, which a loaded machine misses. Here the listener is there first.
 */
async function redeploy(flow, type, credentials) {
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      helper._events.off('flows:started', onStarted);
      reject(new Error(`redeploy (${type}): flows did not start within 15 s`));
    }, 15000);
    function onStarted() {
      clearTimeout(timer);
      helper._events.off('flows:started', onStarted);
      resolve();
    }
    helper._events.on('flows:started', onStarted);
  });
  await helper._redNodes.setFlows(flow, credentials || {}, type);
  await started;
}

module.exports = { helper, redeploy, allModules, deviceConfig, outNode, outsWithProbes, probe, statusTexts, lastStatus, waitFor, scanForTokens };
