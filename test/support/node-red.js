'use strict';
// node-red-node-test-helper bound to the node-red under test: test/run.js sets TB_NODE_RED to
// `node-red` (4.1.x, the devDependency) or `node-red-5` (5.0.x, in .cache/node-red-5; see
// scripts/node-red-runtimes.js).
const path = require('node:path');
const helper = require('node-red-node-test-helper');
const { nodeRedMain } = require('../../scripts/node-red-runtimes');

const nodeRedModule = process.env.TB_NODE_RED || 'node-red';
helper.init(nodeRedMain(nodeRedModule));

const root = path.join(__dirname, '..', '..');
/** The compiled node modules, loaded the way Node-RED loads them (nodes/<type>.js). */
function nodeModules() {
  return [require(path.join(root, 'nodes', 'thingsboard-device.js')), require(path.join(root, 'nodes', 'thingsboard-out.js'))];
}

module.exports = { helper, nodeModules, nodeRedModule };
