'use strict';
// A real Node-RED (scripts/node-red-embedded.js) in a child process, driven over IPC, so a test
// can kill it with SIGKILL and start another on the same user directory (test/nodes/persist.test.js).
//
//   const nr = await startChild(t, { userDir, flow });   // flow: deployed when given; else flows.json is loaded
//   await nr.send('out1', [{ n: 1 }, { n: 2 }]);        // node.receive({payload}) on that node
//   await nr.status('dev');                             // the config node's DeviceConnection.status()
//   nr.logs() → every Node-RED log line; nr.kill() (SIGKILL); await nr.stop() (graceful: RED.stop())
const fs = require('node:fs');
const path = require('node:path');
const { fork } = require('node:child_process');

if (require.main === module) {
  runChild();
} else {
  module.exports = { startChild };
}

/** Forks this file; resolves once Node-RED runs (and the flow is deployed, when one is given). */
function startChild(t, { userDir, flow }) {
  const child = fork(__filename, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env } });
  const lines = [];
  let output = '';
  child.stdout.on('data', (c) => { output += c; });
  child.stderr.on('data', (c) => { output += c; });
  let nextId = 1;
  const waiting = new Map();
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => {
    for (const w of waiting.values()) w.reject(new Error(`Node-RED child exited:\n${output}`));
    waiting.clear();
  });
  child.on('message', (m) => {
    if (m.log) {
      lines.push(m.log);
      return;
    }
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.error) w.reject(new Error(m.error));
    else w.resolve(m.result);
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const call = (cmd, args = {}) => new Promise((resolve, reject) => {
    const id = nextId++;
    waiting.set(id, { resolve, reject });
    child.send({ id, cmd, ...args });
  });
  return call('start', { userDir, flow, nodeRedModule: process.env.TB_NODE_RED || 'node-red' }).then(() => ({
    child,
    exited,
    logs: () => lines.slice(),
    output: () => output,
    send: (node, payloads) => call('send', { node, payloads }),
    /** A full deploy of `flow` (as the editor's Deploy button does), once its nodes run. */
    deploy: (flow) => call('deploy', { flow }),
    status: (node) => call('status', { node }),
    stop: async () => {
      await call('stop');
      return exited;
    },
    kill: () => {
      child.kill('SIGKILL');
      return exited;
    },
  }));
}

function runChild() {
  const { startNodeRed } = require(path.join(__dirname, '..', '..', 'scripts', 'node-red-embedded.js'));
  let nr;
  const text = (m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m));
  const log = (msg) => process.send({ log: `${msg.type ? `[${msg.type}:${msg.id}] ` : ''}${text(msg.msg)}` });
  const commands = {
    async start({ userDir, flow, nodeRedModule }) {
      nr = await startNodeRed({
        userDir,
        nodeRedModule,
        settings: { logging: { console: { level: 'error', metrics: false, audit: false }, ipc: { level: 'info', metrics: false, audit: false, handler: () => log } } },
      });
      if (flow) {
        const res = await nr.deploy(flow);
        if (res.status >= 300) throw new Error(`deploy: ${res.status} ${JSON.stringify(res.body)}`);
      }
      // The flows start after the deploy answers (and after a start that loads flows.json).
      const ids = (flow || JSON.parse(fs.readFileSync(path.join(userDir, 'flows.json'), 'utf8'))).filter((n) => n.type !== 'tab').map((n) => n.id);
      for (let i = 0; i < 500 && !ids.every((id) => nr.RED.nodes.getNode(id)); i++) await new Promise((r) => setTimeout(r, 20));
    },
    async deploy({ flow }) {
      const res = await nr.deploy(flow);
      if (res.status >= 300) throw new Error(`deploy: ${res.status} ${JSON.stringify(res.body)}`);
      await new Promise((r) => setTimeout(r, 200));
      const ids = flow.filter((n) => n.type !== 'tab').map((n) => n.id);
      for (let i = 0; i < 500 && !ids.every((id) => nr.RED.nodes.getNode(id)); i++) await new Promise((r) => setTimeout(r, 20));
    },
    async send({ node, payloads }) {
      const target = nr.RED.nodes.getNode(node);
      if (!target) throw new Error(`no node ${node}`);
      for (const payload of payloads) target.receive({ payload });
    },
    async status({ node }) {
      const device = nr.RED.nodes.getNode(node);
      return device && device.connection ? device.connection.status() : undefined;
    },
    async stop() {
      await nr.close();
      setImmediate(() => process.exit(0));
    },
  };
  process.on('message', (m) => {
    commands[m.cmd](m).then(
      (result) => process.send({ id: m.id, result }),
      (err) => process.send({ id: m.id, error: err && err.stack ? err.stack : String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
