'use strict';
// node-red-node-test-helper bound to the node-red under test: test/run.js sets TB_NODE_RED to
// `node-red` (4.1.x) or `node-red-5` (5.0.x).
const path = require('node:path');
const helper = require('node-red-node-test-helper');

const nodeRedModule = process.env.TB_NODE_RED || 'node-red';
helper.init(require.resolve(nodeRedModule, { paths: [path.join(__dirname, '..', '..')] }));

const root = path.join(__dirname, '..', '..');
/** The compiled node modules, loaded the way Node-RED loads them (nodes/<type>.js). */
function nodeModules() {
  const types = ['thingsboard-device', 'thingsboard-out', 'thingsboard-in', 'thingsboard-rpc-response', 'thingsboard-request'];
  return types.map((type) => require(path.join(root, 'nodes', `${type}.js`)));
}

module.exports = { helper, nodeModules, nodeRedModule };
