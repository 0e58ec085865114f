'use strict';
// Pieces of the downlink tests through Node-RED: flows with thingsboard-in / -rpc-response /
// -request nodes, the core function node (loaded from the node-red under test), sinks that
// collect what the nodes send, and Catch/Complete probes for the nodes with inputs.
const path = require('node:path');
const { helper, nodeModules, nodeRedModule } = require('../support/node-red');
const { deviceConfig, redeploy } = require('./common');
const { nodeRedDir } = require('../../scripts/node-red-runtimes');

// The core function node of the runtime under test (node-red 5 lives in .cache/node-red-5).
const nodesDir = path.dirname(require.resolve('@node-red/nodes/package.json', { paths: [nodeRedDir(nodeRedModule)] }));
const functionNode = require(path.join(nodesDir, 'core', 'function', '10-function.js'));

function modules() {
  return [...nodeModules(), functionNode];
}

const at = { x: 100, y: 100 };

function dev(id, port, overrides = {}) {
  return deviceConfig({ id, port: String(port), ...overrides });
}

function inNode(id, device, overrides = {}, wires = [[`${id}-sink`]]) {
  return { id, type: 'thingsboard-in', z: 'tab', ...at, name: id, device, receive: 'attributes', keys: '', initial: true, methods: '', wires, ...overrides };
}

function sink(id) {
  return { id, type: 'helper', z: 'tab', ...at, wires: [] };
}

/** Catch + Complete scoped to `ids`, feeding helper nodes `done-ok` / `done-err`. */
function probes(ids) {
  return [
    { id: 'probe-complete', type: 'complete', z: 'tab', ...at, scope: ids, uncaught: false, wires: [['done-ok']] },
    { id: 'probe-catch', type: 'catch', z: 'tab', ...at, scope: ids, uncaught: false, wires: [['done-err']] },
    sink('done-ok'),
    sink('done-err'),
  ];
}

/** Everything any collect() sink received in this test, as text (for the token scan). */
const seenTexts = [];

/** Collects every message helper node `id` receives. */
function collect(id) {
  const messages = [];
  helper.getNode(id).on('input', (msg) => {
    messages.push(msg);
    seenTexts.push(JSON.stringify(msg));
  });
  return messages;
}

/** The texts seen since the last call (the node tests' afterEach scans them for tokens). */
function takeSeenTexts() {
  return seenTexts.splice(0);
}

module.exports = { redeploy, helper, modules, dev, inNode, sink, probes, collect, takeSeenTexts, at };
