'use strict';
// Node-RED embedded in this process (RED.init/RED.start), with this package linked into the
// userDir's node_modules, the way a user's install finds it. Shared by `npm start`
// (scripts/start.js) and the browser tests (test/browser/), for node-red 4 and 5 alike:
//
//   const nr = await startNodeRed({ userDir, port: 0, nodeRedModule: 'node-red-5' });
//   await nr.deploy(flowNodes);      // POST /flows (full; 'flows': only what changed), config nodes may carry `credentials`
//   nr.url → 'http://127.0.0.1:PORT/'; await nr.close();
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const { nodeRedMain } = require('./node-red-runtimes');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));

/** userDir/node_modules/<this package> → the repo root (a symlink, so a rebuild is picked up). */
function linkPackage(userDir) {
  const modules = path.join(userDir, 'node_modules');
  fs.mkdirSync(modules, { recursive: true });
  const link = path.join(modules, pkg.name);
  try {
    if (fs.realpathSync(link) === fs.realpathSync(root)) return link;
  } catch { /* missing or dangling */ }
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(root, link, 'dir');
  // Node-RED reads userDir/package.json only for the palette manager; a minimal one keeps it quiet.
  const userPkg = path.join(userDir, 'package.json');
  if (!fs.existsSync(userPkg)) {
    fs.writeFileSync(userPkg, JSON.stringify({ name: 'node-red-user-dir', private: true, description: 'Node-RED userDir made by scripts/node-red-embedded.js', dependencies: { [pkg.name]: `file:${root}` } }, null, 2));
  }
  return link;
}

/**
 * @param {object} opts
 * @param {string} opts.userDir
 * @param {number} [opts.port] 0 → a free port
 * @param {string} [opts.host]
 * @param {string} [opts.nodeRedModule] 'node-red' (4.1.x) or 'node-red-5' (5.0.x, installed into .cache/ by test/run.js;
 *   see scripts/node-red-runtimes.js); default env TB_NODE_RED or 'node-red'
 * @param {string} [opts.logLevel] Node-RED console log level (default 'warn')
 * @param {string|false} [opts.credentialSecret]
 * @param {object} [opts.settings] extra Node-RED settings
 */
async function startNodeRed(opts) {
  const host = opts.host || '127.0.0.1';
  const nodeRedModule = opts.nodeRedModule || process.env.TB_NODE_RED || 'node-red';
  const main = nodeRedMain(nodeRedModule);
  const nodeRedDir = path.dirname(path.dirname(main)); // .../node_modules/<node-red>/lib/red.js
  const RED = require(main);
  const express = require(require.resolve('express', { paths: [nodeRedDir] }));
  fs.mkdirSync(opts.userDir, { recursive: true });
  linkPackage(opts.userDir);

  const app = express();
  const server = http.createServer(app);
  const settings = {
    userDir: opts.userDir,
    flowFile: 'flows.json',
    credentialSecret: opts.credentialSecret === undefined ? false : opts.credentialSecret,
    httpAdminRoot: '/',
    httpNodeRoot: '/api',
    uiHost: host,
    logging: { console: { level: opts.logLevel || 'warn', metrics: false, audit: false } },
    // No welcome tour, no "check for updates?" question: both cover the canvas on first start.
    editorTheme: { tours: false },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { palette: { allowInstall: false } },
    ...(opts.settings || {}),
  };
  RED.init(server, settings);
  app.use(settings.httpAdminRoot, RED.httpAdmin);
  app.use(settings.httpNodeRoot, RED.httpNode);

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port || 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = server.address().port;
  await RED.start();
  const url = `http://${host}:${port}/`;
  // RED.start() can resolve before the runtime has read its flow file; until then the admin API
  // answers GET /flows with HTTP 400 (seen on a busy machine). Wait for the flows, as the editor does.
  for (const end = Date.now() + 60000; ;) {
    const answer = await request(url, 'GET', 'flows').catch((err) => ({ status: 0, body: String(err) }));
    if (answer.status === 200) break;
    if (Date.now() > end) throw new Error(`Node-RED did not load its flows within 60 s (GET /flows: ${answer.status} ${JSON.stringify(answer.body)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    try {
      await RED.stop();
    } finally {
      await new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  return {
    RED,
    url,
    port,
    version: RED.version(),
    close,
    /**
     * Deploy through the admin API, as the editor does: 'full' (default) restarts every node,
     * 'flows' only the tabs and config nodes that changed.
     */
    deploy: (flowNodes, type = 'full') => request(url, 'POST', 'flows', flowNodes, { 'Node-RED-Deployment-Type': type, 'Node-RED-API-Version': 'v1' }),
    /** GET an admin path; resolves {status, body} (body parsed when JSON). */
    get: (p) => request(url, 'GET', p),
  };
}

function request(baseUrl, method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(new URL(p, baseUrl), {
      method,
      headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let parsed = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        if (res.statusCode >= 400) reject(new Error(`${method} /${p}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
        else resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

module.exports = { startNodeRed, linkPackage };
