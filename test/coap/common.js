'use strict';
// Shared by the CoAP tests: settings for a CoapTransport, faster RFC 7252 timing, a token scan.
const path = require('node:path');
const coap = require('coap');

const root = path.join(__dirname, '..', '..');
const { CoapTransport, DOWN_AFTER_TIMEOUTS, BLOCK_BYTES } = require(path.join(root, 'nodes', 'lib', 'transports', 'coap', 'transport'));
const { TransportError } = require(path.join(root, 'nodes', 'lib', 'transports', 'transport'));
const { PROBE_KEY } = require(path.join(root, 'nodes', 'lib', 'transports', 'coap', 'token-probe'));

// A token with characters that URI encoding would change: redaction must catch every form.
const TOKEN = 'Tok3n/odd+chars A1b2=C3';

/**
 * RFC 7252 timing scaled down 20× (ACK_TIMEOUT 0.1 s, factor 1.5, MAX_RETRANSMIT 4), so a lost
 * message gives up after MAX_TRANSMIT_WAIT = 4.65 s instead of 93 s. Same algorithm, same counts.
 */
function fastTiming(ackTimeout = 0.1) {
  coap.updateTiming({ ackTimeout, ackRandomFactor: 1.5, maxRetransmit: 4 });
  return coap.parameters;
}

/**
 * For one test: ACK_TIMEOUT `ackTimeout` s, where the test needs a window in which a CPU pause of
 * a loaded machine (test files run side by side) is not taken for a lost datagram; the timing the
 * file had is back after the test. Returns coap.parameters.
 */
function timingForTest(t, ackTimeout) {
  const previous = coap.parameters.ackTimeout;
  t.after(() => fastTiming(previous));
  return fastTiming(ackTimeout);
}

function settings(port, overrides = {}) {
  const { coap: coapOverrides, ...rest } = overrides;
  return {
    transport: 'coap',
    host: '127.0.0.1',
    port,
    accessToken: TOKEN,
    caCert: '',
    verifyServer: true,
    serverName: '',
    maxPayloadBytes: 65536,
    mqtt: { clientId: '', keepaliveSeconds: 60, cleanSession: true, protocolVersion: 4 },
    coap: { confirmable: true, maxInFlight: 4, ...coapOverrides },
    ...rest,
  };
}

const telemetry = (obj) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify(obj)), qos: 1 });
const attributes = (obj) => ({ kind: 'attributes', body: Buffer.from(JSON.stringify(obj)), qos: 1 });

/** Records every text a transport lets out (errors, 'down', 'warning') for the token scan. */
function recordTexts(transport, texts = []) {
  transport.on('down', (err) => texts.push(`down: ${err.message} ${err.code}`));
  transport.on('warning', (text) => texts.push(`warning: ${text}`));
  return texts;
}

/** Resolves to {ok: true} or {ok: false, err}; the err text is pushed to `texts`. */
function outcome(promise, texts) {
  return promise.then(
    () => ({ ok: true }),
    (err) => {
      if (texts) texts.push(`${err.message} ${err.code} ${err.stack}`);
      return { ok: false, err };
    },
  );
}

function assertNoToken(assert, texts) {
  const forms = [TOKEN, encodeURIComponent(TOKEN), 'Tok3n'];
  for (const text of texts) {
    for (const form of forms) assert.ok(!String(text).includes(form), `token leaked in: ${text}`);
  }
}

/** The token check at connect (GET attributes?sharedKeys=PROBE_KEY), as a raw datagram. */
function isTokenCheckDatagram(datagram) {
  return datagram.includes(Buffer.from(`sharedKeys=${PROBE_KEY}`));
}

/**
 * For relay transforms that count datagrams: (direction, datagram) → true for the token check at
 * connect and for the server's answers to it (matched by message ID or token), which are not
 * part of what such a test counts.
 */
function tokenCheckFilter() {
  const ids = new Set();
  const tokens = [];
  return (direction, datagram) => {
    if (datagram.length < 4) return false;
    if (direction === 'toServer') {
      if (!isTokenCheckDatagram(datagram)) return false;
      ids.add(datagram.readUInt16BE(2));
      tokens.push(Buffer.from(datagram.subarray(4, 4 + (datagram[0] & 0x0f))));
      return true;
    }
    const token = datagram.subarray(4, 4 + (datagram[0] & 0x0f));
    return ids.has(datagram.readUInt16BE(2)) || (token.length > 0 && tokens.some((t) => t.equals(token)));
  };
}

/**
 * A CoAP endpoint that answers pings (empty CON → RST, so connect() succeeds) and nothing else:
 * a server that is there but never answers requests. `arrivals` lists every other datagram.
 */
async function pingOnlyServer() {
  const dgram = require('node:dgram');
  const sock = dgram.createSocket('udp4');
  const arrivals = [];
  let pings = 0;
  sock.on('message', (msg, rinfo) => {
    if (msg.length === 4 && msg[1] === 0 && ((msg[0] >> 4) & 3) === 0) {
      pings++;
      sock.send(Buffer.from([0x70, 0x00, msg[2], msg[3]]), rinfo.port, rinfo.address);
      return;
    }
    if (isTokenCheckDatagram(msg)) return; // ignored like everything else, but not counted
    arrivals.push({ at: Date.now(), messageId: msg.readUInt16BE(2) });
  });
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, arrivals, pings: () => pings, close: () => new Promise((r) => sock.close(r)) };
}

module.exports = { PROBE_KEY, isTokenCheckDatagram, tokenCheckFilter, pingOnlyServer, CoapTransport, TransportError, DOWN_AFTER_TIMEOUTS, BLOCK_BYTES, TOKEN, fastTiming, timingForTest, settings, telemetry, attributes, recordTexts, outcome, assertNoToken };
