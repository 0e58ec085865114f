'use strict';
// The emulator's page: what the devices received, like ThingsBoard's "Latest telemetry" tab.
//   GET /            the page (index.html + app.js + style.css, no dependencies)
//   GET /api/state   { info, devices, rejected } as JSON
//   GET /events      Server-Sent Events: `state` once, then `telemetry`, `attributes`, `rejected`
// Tokens never leave this server: the store's snapshot holds none, and every body is scrubbed of
// the known tokens as a second line of defence (a front end might put one into a reason text).
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};
const KEEPALIVE_MS = 15000;

/**
 * @param {{store: import('../store').DeviceStore, host?: string, port?: number, info?: () => object}} opts
 *   info(): what the page shows about the emulator itself (endpoints, CA file); no secrets.
 * @returns {Promise<{port: number, url: string, close: () => Promise<void>}>}
 */
async function startWebServer({ store, host = '127.0.0.1', port = 0, info = () => ({}) }) {
  const clients = new Set();

  const scrub = (text) => {
    let out = text;
    for (const token of store.byToken.keys()) {
      if (typeof token === 'string' && token.length >= 4) out = out.split(token).join('***');
    }
    return out;
  };
  const state = () => ({ info: info(), ...store.snapshot() });

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (STATIC[url.pathname]) {
      const [file, type] = STATIC[url.pathname];
      const body = fs.readFileSync(path.join(__dirname, file));
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (url.pathname === '/api/state') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(scrub(JSON.stringify(state())));
      return;
    }
    if (url.pathname === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write('retry: 2000\n\n');
      const client = { res, send: (event, data) => res.write(`event: ${event}\ndata: ${scrub(JSON.stringify(data))}\n\n`) };
      client.send('state', state());
      clients.add(client);
      req.on('close', () => clients.delete(client));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
  });

  const forward = (event) => (data) => {
    for (const client of clients) client.send(event, data);
  };
  const listeners = {
    telemetry: forward('telemetry'),
    attributes: forward('attributes'),
    rejected: forward('rejected'),
  };
  for (const [event, fn] of Object.entries(listeners)) store.on(event, fn);

  // Comments keep proxies and the browser from timing the stream out; unref'd so an idle
  // emulator never holds the process open.
  const keepalive = setInterval(() => {
    for (const client of clients) client.res.write(': keepalive\n\n');
  }, KEEPALIVE_MS);
  keepalive.unref();

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    for (const [event, fn] of Object.entries(listeners)) store.off(event, fn);
    for (const client of clients) client.res.end();
    clients.clear();
    await new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  return { port: actualPort, url: `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}/`, close };
}

module.exports = { startWebServer };
