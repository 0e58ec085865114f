'use strict';
// Node-RED 4.1 embedded in the current (child) process, runtime only (no editor, no HTTP): a
// temporary userDir with this package linked into its node_modules, so it loads exactly as a
// user's install does, plus the bench driver node from bench/nodes.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');

async function startNodeRed() {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-bench-nr-'));
  fs.mkdirSync(path.join(userDir, 'node_modules'));
  fs.symlinkSync(root, path.join(userDir, 'node_modules', 'node-red-contrib-thingsboard-device'), 'dir');
  fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'bench-user', dependencies: {} }));
  const RED = require(require.resolve('node-red', { paths: [root] }));
  RED.init({
    userDir,
    flowFile: 'flows.json',
    credentialSecret: 'bench-only-secret',
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    nodesDir: [path.join(root, 'bench', 'nodes')],
    logging: { console: { level: process.env.BENCH_NR_LOG || 'error', metrics: false, audit: false } },
    // Keep the runtime as a user runs it: default settings otherwise.
  });
  // RED.start() resolves before the initial (empty) flow file is loaded; that load resets the
  // credential store, so a deploy must wait for it.
  const started = flowsStarted(RED);
  await RED.start();
  await started;
  return {
    RED,
    /** Full deploy; resolves when the runtime has started the flows. A node's `credentials`
     * go in the separate map the runtime API takes (only the admin HTTP API extracts them). */
    async deploy(flows) {
      const credentials = {};
      const nodes = flows.map((n) => {
        if (!n.credentials) return n;
        const { credentials: c, ...rest } = n;
        credentials[n.id] = c;
        return rest;
      });
      // setFlows resolves before the new flows have started.
      const started = flowsStarted(RED);
      await RED.runtime.flows.setFlows({ flows: { flows: nodes, credentials }, deploymentType: 'full' });
      await started;
    },
    getNode: (id) => RED.nodes.getNode(id),
    /** Types the runtime registered (to tell whether our nodes loaded). */
    hasType: (type) => Boolean(RED.nodes.getType(type)),
    async stop() {
      await RED.runtime.flows.setFlows({ flows: { flows: [] }, deploymentType: 'full' }).catch(() => {});
      await RED.stop();
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}

function flowsStarted(RED, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('flows did not start')), timeoutMs);
    RED.events.once('flows:started', () => { clearTimeout(timer); resolve(); });
  });
}

module.exports = { startNodeRed };
