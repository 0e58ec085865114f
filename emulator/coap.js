'use strict';
// The CoAP front end of the local ThingsBoard device-API emulator: a `coap` server that answers
// like ThingsBoard's CoAP transport for the device calls this package makes.
//   POST /api/v1/$TOKEN/telemetry | /attributes  →  2.01 Created (newer ThingsBoard; older sent 2.03)
//   unknown token → 4.01, body that is not JSON → 4.00, any other path or method → 4.04 / 4.05
// Block-wise uploads (Block1) are reassembled by the `coap` library before we see them.
//
//   const { startCoapEmulator } = require('./emulator/coap');
//   const emu = await startCoapEmulator({ store, port: 5683 });   // port 0 → a free one
//   ... emu.port, emu.stats, await emu.close();
//
// Test switches (never set by `npm start`): `maxBodyBytes` answers 4.13 for larger bodies, and
// `override(request)` may return a code such as '5.03' to answer instead of the normal handling
// (or undefined to carry on), to prove how a client maps server failures.
const coap = require('coap');

/** The Uri-Path segments, raw: a token is one segment whatever characters it holds. */
function pathSegments(req) {
  return (req.options || []).filter((o) => o.name === 'Uri-Path').map((o) => String(o.value));
}

/**
 * @param {{ store: import('./store').DeviceStore, host?: string, port?: number,
 *   maxBodyBytes?: number, override?: (req: {token: string, kind: string, body: Buffer, method: string}) => string|undefined }} opts
 * @returns {Promise<{ port: number, host: string, close: () => Promise<void>, stats: object }>}
 */
async function startCoapEmulator({ store, host = '127.0.0.1', port = 0, maxBodyBytes = Infinity, override }) {
  const stats = { requests: 0, accepted: 0, byCode: {} };
  const server = coap.createServer({ type: host.includes(':') ? 'udp6' : 'udp4' });

  server.on('request', (req, res) => {
    // CoAP ping (an empty CON): answer with RST, as ThingsBoard (Californium) and libcoap do.
    if (req.code === '0.00') return res.reset();
    stats.requests++;
    const answer = (code, text) => {
      stats.byCode[code] = (stats.byCode[code] || 0) + 1;
      res.code = code;
      if (text) res.setOption('Content-Format', 'text/plain');
      res.end(text || undefined);
    };
    const segments = pathSegments(req);
    const [api, v1, token, kind] = segments;
    if (segments.length !== 4 || api !== 'api' || v1 !== 'v1' || !['telemetry', 'attributes'].includes(kind)) {
      return answer('4.04', 'not found');
    }
    if (req.method !== 'POST') return answer('4.05', 'method not allowed');
    const body = req.payload || Buffer.alloc(0);
    if (override) {
      const forced = override({ token, kind, body, method: req.method });
      if (forced) return answer(forced, 'forced by test');
    }
    if (body.length > maxBodyBytes) return answer('4.13', `payload larger than ${maxBodyBytes} bytes`);
    const result = store.accept(token, kind, body, 'coap');
    if (result.ok) {
      stats.accepted++;
      return answer('2.01');
    }
    // The reasons from the store never contain the token.
    return answer(result.status === 'unauthorized' ? '4.01' : '4.00', result.reason);
  });

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

  let closed = false;
  const close = () => new Promise((resolve) => {
    if (closed) return resolve();
    closed = true;
    server.close(() => resolve());
  });

  return { port: boundPort, host, close, stats, server };
}

module.exports = { startCoapEmulator };
