'use strict';
// The emulator's page: what the devices received, like ThingsBoard's "Latest telemetry" tab,
// and what it sends them (shared attributes, server-side RPC), like ThingsBoard's RPC debug widget.
//   GET /            the page (index.html + app.js + downlink.js + style.css, no dependencies)
//   GET /api/state   { info, devices, rejected } as JSON; a device has name, messages,
//                    telemetry, attributes (client), shared, rpc (recent calls), clientRpc, online
//   GET /events      Server-Sent Events: `state` once, then `telemetry`, `attributes`, `rejected`,
//                    `device`, `shared`, `rpc`, `client-rpc`, `sessions`
// HTTP API for the page and for tests. :device is a device name or its access token. Bodies
// are JSON and need `content-type: application/json` (a foreign web page cannot send that
// without a CORS preflight, which this server never allows).
//   POST   /api/devices/:device/shared       {"key": value, ...}  → 200 {shared}   (pushed to the device)
//   DELETE /api/devices/:device/shared?keys=a,b (or body ["a","b"]) → 200 {shared, deleted}
//                                            (the device gets {"deleted": ["a","b"]})
//   POST   /api/devices/:device/rpc          {method, params, timeout (ms, default 10000)}
//          waits for the device: 200 {id, state: "SUCCESSFUL", reply}, or 504 {id, state:
//          "TIMEOUT", error} when no reply came in time (ThingsBoard's REST API answers 504 too)
//   404 {error} for an unknown device, 400 {error} for a bad body.
// Tokens never leave this server: the store's snapshot holds none, and every body is scrubbed of
// the known tokens as a second line of defence (a front end might put one into a reason text).
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/downlink.js': ['downlink.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};
const KEEPALIVE_MS = 15000;
const MAX_BODY = 64 * 1024;

function readJson(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error(`body larger than ${MAX_BODY} bytes`), { status: 413 }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (!text) return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(Object.assign(new Error(`body is not valid JSON (${err.message})`), { status: 400 }));
      }
    });
    req.on('error', reject);
  });
}

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

  const sendJson = (res, status, value) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(scrub(JSON.stringify(value)));
  };

  /** POST/DELETE /api/devices/:device/(shared|rpc) */
  async function api(req, res, url) {
    const m = /^\/api\/devices\/([^/]+)\/(shared|rpc)$/.exec(url.pathname);
    if (!m) return sendJson(res, 404, { error: 'not found' });
    const allowed = m[2] === 'shared' ? ['POST', 'DELETE'] : ['POST'];
    if (!allowed.includes(req.method)) {
      res.writeHead(405, { allow: allowed.join(', ') }).end();
      return undefined;
    }
    const hasBody = Number(req.headers['content-length'] || 0) > 0 || req.headers['transfer-encoding'];
    if (hasBody && !/^application\/json\b/i.test(req.headers['content-type'] || '')) {
      return sendJson(res, 415, { error: 'send the body as content-type: application/json' });
    }
    const device = store.find(decodeURIComponent(m[1]));
    if (!device) return sendJson(res, 404, { error: 'no such device' });
    const body = await readJson(req);
    if (m[2] === 'shared' && req.method === 'POST') return sendJson(res, 200, { shared: store.setShared(device.name, body) });
    if (m[2] === 'shared') {
      const keys = Array.isArray(body) ? body : (url.searchParams.get('keys') || '');
      return sendJson(res, 200, store.deleteShared(device.name, keys));
    }
    const { method, params, timeout } = body || {};
    const { record, done } = store.sendRpc(device.name, { method, params, timeout });
    const final = await done;
    if (final.state === 'SUCCESSFUL') return sendJson(res, 200, { id: record.id, state: final.state, reply: final.reply });
    return sendJson(res, 504, { id: record.id, state: final.state, error: `no reply from the device within ${final.timeout} ms` });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/api/limits' && req.method === 'POST') {
      // {"rateLimits": "10:1,300:60"} (ThingsBoard's syntax, see limits.js); "" = none.
      readJson(req)
        .then((body) => {
          store.setRateLimits(body && body.rateLimits);
          sendJson(res, 200, { rateLimits: store.rateLimitsText() });
        })
        .catch((err) => sendJson(res, 400, { error: err.message }));
      return;
    }
    if (url.pathname.startsWith('/api/devices/')) {
      api(req, res, url).catch((err) => sendJson(res, err.status || 500, { error: err.message }));
      return;
    }
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
    device: forward('device'),
    shared: forward('shared'),
    rpc: forward('rpc'),
    'client-rpc': forward('client-rpc'),
    sessions: forward('sessions'),
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
