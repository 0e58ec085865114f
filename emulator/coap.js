'use strict';
// The CoAP front end of the local ThingsBoard device-API emulator: a `coap` server that answers
// like ThingsBoard's CoAP transport for the device calls this package makes.
//   POST /api/v1/$TOKEN/telemetry | /attributes  →  2.01 Created (newer ThingsBoard; older sent 2.03)
//   unknown token → 4.01, body that is not JSON → 4.00, any other path or method → 4.04 / 4.05
//   POST /api/v1/provision (store with provision profiles) → 2.01 with ThingsBoard's provision answer
// Block-wise uploads (Block1) are reassembled by the `coap` library before we see them.
// Downlink, as ThingsBoard's CoapTransportResource answers it:
//   GET  attributes + Observe 0  → 2.05 with the current shared attributes, then a notification
//                                  {"k": v} / {"deleted": [...]} on every change
//   GET  rpc + Observe 0         → 2.03 (empty), then a notification {"id","method","params"} per command
//   GET  ... + Observe 1         → 2.02, observation ended
//   GET  attributes?clientKeys=a&sharedKeys=b → 2.05 {"client":{..},"shared":{..}}, 4.04 when empty
//   POST rpc/{id}                → 2.01 (the reply to server-side RPC {id})
//   POST rpc {"method","params"} → 2.05 with the answer of the client-side RPC rules
// Notifications are confirmable when the registration was (the `coap` server keeps the
// request's type); an RST or unanswered notification ends the observation, as in Californium.
//
//   const { startCoapEmulator } = require('./emulator/coap');
//   const emu = await startCoapEmulator({ store, port: 5683 });   // port 0 → a free one
//   ... emu.port, emu.stats, await emu.close();
//
// `separateResponses` answers the way ThingsBoard does (its Californium acknowledges first and
// sends the result as a separate confirmable response): an empty ACK, then the answer to every
// request but an Observe registration as a CON message the client must acknowledge. `npm start`
// and emulator/cli.js turn it on; tests that look at single datagrams leave it off (piggybacked).
//
// Test switches (never set by `npm start`): `maxBodyBytes` answers 4.13 for larger bodies, and
// `override(request)` may return a code such as '5.03' to answer instead of the normal handling
// (or undefined to carry on), to prove how a client maps server failures.
const coap = require('coap');

/** separateResponses: the empty ACK after this many ms, the answer after twice as long. */
const SEPARATE_ACK_MS = 5;

/** The Uri-Path segments, raw: a token is one segment whatever characters it holds. */
function pathSegments(req) {
  return (req.options || []).filter((o) => o.name === 'Uri-Path').map((o) => String(o.value));
}

/**
 * @param {{ store: import('./store').DeviceStore, host?: string, port?: number,
 *   maxBodyBytes?: number, override?: (req: {token: string, kind: string, body: Buffer, method: string}) => string|undefined }} opts
 * @returns {Promise<{ port: number, host: string, close: () => Promise<void>, stats: object }>}
 */
async function startCoapEmulator({ store, host = '127.0.0.1', port = 0, maxBodyBytes = Infinity, override, transport = 'coap', separateResponses = false }) {
  const stats = { requests: 0, accepted: 0, byCode: {}, observations: 0 };
  const observations = new Map(); // peer:port:token hex → { res, session }
  // The library sends the empty ACK when an answer is not ready within piggybackReplyMs; with
  // separateResponses every answer waits a little longer than that.
  const server = coap.createServer({ type: host.includes(':') ? 'udp6' : 'udp4', ...(separateResponses ? { piggybackReplyMs: SEPARATE_ACK_MS } : {}) });
  // Answers held back (separateResponses), each by its timer. On close they are sent at once: an
  // unanswered response keeps the library's empty-ACK timer, which would send on the closed socket
  // (coap's OutgoingMessage) and throw ERR_SOCKET_DGRAM_NOT_RUNNING out of a timer.
  const pending = new Map();
  // Once closing, every answer goes at once, also to a request that arrives between close() and
  // the socket's close: held back, its empty-ACK timer would fire on the closed socket.
  let closed = false;
  const end = (res, body) => {
    if (!separateResponses || closed) return res.end(body);
    const send = () => {
      pending.delete(timer);
      try { res.end(body); } catch { /* the peer's exchange is gone */ }
    };
    const timer = setTimeout(send, SEPARATE_ACK_MS * 2);
    pending.set(timer, send);
  };

  server.on('request', (req, res) => {
    // CoAP ping (an empty CON): answer with RST, as ThingsBoard (Californium) and libcoap do.
    if (req.code === '0.00') return res.reset();
    stats.requests++;
    const answer = (code, text) => {
      stats.byCode[code] = (stats.byCode[code] || 0) + 1;
      res.code = code;
      res.statusCode = code; // an observe response (ObserveWriteStream) only reads statusCode
      if (text) res.setOption('Content-Format', 'text/plain');
      end(res, text || undefined);
    };
    const segments = pathSegments(req);
    // Device provisioning: POST /api/v1/provision (no token), the answer in the body (2.01).
    if (segments.length === 3 && segments[0] === 'api' && segments[1] === 'v1' && segments[2] === 'provision' && store.provisionProfiles.length) {
      if (req.method !== 'POST') return answer('4.05', 'method not allowed');
      let request;
      try { request = JSON.parse(req.payload.toString('utf8')); } catch { return answer('4.00', 'provision request is not JSON'); }
      const result = store.provision(request, transport);
      stats.byCode['2.01'] = (stats.byCode['2.01'] || 0) + 1;
      res.code = '2.01';
      res.setOption('Content-Format', 'application/json');
      return end(res, JSON.stringify(result));
    }
    const [api, v1, token, kind, rpcId] = segments;
    if (api !== 'api' || v1 !== 'v1' || !token) return answer('4.04', 'not found');
    if (kind === 'rpc' && (segments.length === 4 || (segments.length === 5 && /^\d+$/.test(rpcId)))) {
      return downlink(req, res, answer, token, kind, segments.length === 5 ? Number(rpcId) : null);
    }
    if (segments.length !== 4 || !['telemetry', 'attributes'].includes(kind)) {
      return answer('4.04', 'not found');
    }
    if (req.method === 'GET' && kind === 'attributes') return downlink(req, res, answer, token, kind, null);
    if (req.method !== 'POST') return answer('4.05', 'method not allowed');
    const body = req.payload || Buffer.alloc(0);
    if (override) {
      const forced = override({ token, kind, body, method: req.method });
      if (forced) return answer(forced, 'forced by test');
    }
    if (body.length > maxBodyBytes) return answer('4.13', `payload larger than ${maxBodyBytes} bytes`);
    // Over a rate limit ThingsBoard's CoAP transport answers a plain 5.00 (limits.js).
    const limited = store.authorize(token);
    if (limited && store.charge(limited, kind, body, transport)) return answer('5.00', 'rate limit exceeded');
    const result = store.accept(token, kind, body, transport);
    if (result.ok) {
      stats.accepted++;
      return answer('2.01');
    }
    // The reasons from the store never contain the token.
    return answer(result.status === 'unauthorized' ? '4.01' : '4.00', result.reason);
  });

  const json = (res, code, value) => {
    stats.byCode[code] = (stats.byCode[code] || 0) + 1;
    res.code = code;
    res.statusCode = code;
    res.setOption('Content-Format', 'application/json');
    end(res, JSON.stringify(value));
  };
  const queryOf = (req) => {
    const q = {};
    for (const o of req.options || []) {
      if (o.name !== 'Uri-Query') continue;
      const text = String(o.value);
      const eq = text.indexOf('=');
      if (eq > 0) q[text.slice(0, eq)] = text.slice(eq + 1);
    }
    return q;
  };

  /** GET attributes/rpc (observe or one-shot), POST rpc, POST rpc/{id}. */
  function downlink(req, res, answer, token, kind, rpcId) {
    const device = store.authorize(token);
    if (!device) {
      store.reject(transport, 'unauthorized', `unknown access token (${kind})`);
      return answer('4.01', 'unauthorized');
    }
    const key = `${req.rsinfo.address}:${req.rsinfo.port}:${(req._packet.token || Buffer.alloc(0)).toString('hex')}`;
    const observe = req.headers.Observe;
    if (req.method === 'GET' && observe === 1) {
      const old = observations.get(key);
      if (old) old.end();
      return answer('2.02');
    }
    if (req.method === 'GET' && observe === 0 && rpcId === null) return observeStart(req, res, device, kind, key);
    if (req.method === 'GET' && kind === 'attributes') {
      const q = queryOf(req);
      const found = store.attributesAnswer(device, q.clientKeys, q.sharedKeys);
      if (!found.client && !found.shared) return answer('4.04');
      return json(res, '2.05', found);
    }
    if (req.method !== 'POST') return answer('4.05', 'method not allowed');
    if (rpcId !== null) {
      store.rpcReply(device, rpcId, req.payload || Buffer.alloc(0));
      return answer('2.01');
    }
    const result = store.clientRpc(device, req.payload || Buffer.alloc(0), transport);
    if (!result.ok) return answer('4.00', result.reason);
    return json(res, '2.05', result.answer);
  }

  function observeStart(req, res, device, kind, key) {
    const previous = observations.get(key);
    if (previous) previous.end(); // a re-registration with the same token replaces the old one
    stats.observations++;
    const channel = kind === 'rpc' ? 'rpc' : 'attributes';
    const notify = (value) => {
      if (res.writableEnded) return;
      res.statusCode = '2.05';
      res.setOption('Content-Format', 'application/json');
      res.write(JSON.stringify(value));
    };
    const session = store.openSession(device, transport, {
      attributes(update) {
        const body = { ...update.values };
        if (update.deleted) body.deleted = update.deleted;
        notify(body);
      },
      rpc(command) {
        notify({ id: command.id, method: command.method, params: command.params });
        // ThingsBoard's CoAP transport reports DELIVERED once the notification is sent.
        session.delivered(command.id);
      },
    });
    const entry = { end: () => { session.close(); if (!res.writableEnded) res.end(); } };
    observations.set(key, entry);
    res.on('finish', () => {
      session.close();
      if (observations.get(key) === entry) observations.delete(key);
    });
    res.on('error', () => entry.end());
    // The first response: the shared attributes now (ThingsBoard asks for them on subscribe),
    // or 2.03 Valid with no body for RPC.
    if (channel === 'attributes') notify({ ...device.shared });
    else {
      res.statusCode = '2.03';
      res.write(Buffer.alloc(0));
    }
    // Registered while closing: ended now, since a later notification would go to a closed socket.
    if (closed) entry.end();
    else session.subscribe(channel);
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, (err) => {
      server.off('error', reject);
      if (err) reject(err);
      else resolve();
    });
  });
  // After listen() the server owns a bound dgram socket.
  const boundPort = server._sock.address().port;

  const close = () => new Promise((resolve) => {
    if (closed) return resolve();
    closed = true;
    for (const o of [...observations.values()]) o.end();
    for (const [timer, send] of [...pending]) {
      clearTimeout(timer);
      send();
    }
    // dgram sends after an address lookup on a later tick; closing first would drop those answers.
    setImmediate(() => server.close(() => resolve()));
  });

  return { port: boundPort, host, close, stats, server };
}

module.exports = { startCoapEmulator };
