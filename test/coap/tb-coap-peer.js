'use strict';
// A raw UDP CoAP peer in ThingsBoard's role for the downlink tests, written from RFC 7252/7641 and
// ThingsBoard's CoAP sources (DefaultCoapClientContext): it answers an Observe registration of
// /attributes with 2.05 + all shared attributes and Observe 0, of /rpc with 2.03 Valid, sends
// notifications as CON with increasing Observe numbers, and lets a test send exactly the datagram
// it wants (retransmissions, old sequence numbers, error notifications, separate responses).
// Every datagram in both directions is recorded, so tests can assert ACKs, RSTs and sizes.
const dgram = require('node:dgram');
const path = require('node:path');

const { PROBE_KEY } = require(path.join(__dirname, '..', '..', 'nodes', 'lib', 'transports', 'coap', 'token-probe'));

const TYPES = { CON: 0, NON: 1, ACK: 2, RST: 3 };
const OPTION = { OBSERVE: 6, URI_PATH: 11, CONTENT_FORMAT: 12, URI_QUERY: 15, BLOCK1: 27 };

function codeByte(code) {
  const [c, d] = code.split('.').map(Number);
  return (c << 5) | d;
}

function uintBytes(n) {
  if (n === 0) return Buffer.alloc(0);
  if (n < 0x100) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([n >> 8, n & 0xff]);
  return Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
}

function ext(v) {
  if (v < 13) return { nibble: v, bytes: Buffer.alloc(0) };
  if (v < 269) return { nibble: 13, bytes: Buffer.from([v - 13]) };
  const b = Buffer.alloc(2); b.writeUInt16BE(v - 269); return { nibble: 14, bytes: b };
}

/** { type, code: '2.05', messageId, token, options: [[number, Buffer]], payload } → datagram. */
function encode({ type = TYPES.CON, code, messageId, token = Buffer.alloc(0), options = [], payload }) {
  const parts = [Buffer.from([0x40 | (type << 4) | token.length, codeByte(code), messageId >> 8, messageId & 0xff]), token];
  let last = 0;
  for (const [number, value] of [...options].sort((a, b) => a[0] - b[0])) {
    const d = ext(number - last); const l = ext(value.length);
    parts.push(Buffer.from([(d.nibble << 4) | l.nibble]), d.bytes, l.bytes, value);
    last = number;
  }
  if (payload && payload.length) parts.push(Buffer.from([0xff]), Buffer.from(payload));
  return Buffer.concat(parts);
}

function decode(buf) {
  const tkl = buf[0] & 0x0f;
  const msg = {
    type: (buf[0] >> 4) & 3,
    code: `${buf[1] >> 5}.${String(buf[1] & 0x1f).padStart(2, '0')}`,
    messageId: buf.readUInt16BE(2),
    token: buf.subarray(4, 4 + tkl),
    options: [],
    payload: Buffer.alloc(0),
  };
  let i = 4 + tkl;
  let number = 0;
  while (i < buf.length && buf[i] !== 0xff) {
    let delta = buf[i] >> 4; let len = buf[i] & 0x0f; i++;
    if (delta === 13) { delta = buf[i] + 13; i++; } else if (delta === 14) { delta = buf.readUInt16BE(i) + 269; i += 2; }
    if (len === 13) { len = buf[i] + 13; i++; } else if (len === 14) { len = buf.readUInt16BE(i) + 269; i += 2; }
    number += delta;
    msg.options.push([number, buf.subarray(i, i + len)]);
    i += len;
  }
  if (i < buf.length) msg.payload = buf.subarray(i + 1);
  msg.path = msg.options.filter(([n]) => n === OPTION.URI_PATH).map(([, v]) => v.toString('utf8'));
  msg.query = msg.options.filter(([n]) => n === OPTION.URI_QUERY).map(([, v]) => v.toString('utf8'));
  const obs = msg.options.find(([n]) => n === OPTION.OBSERVE);
  msg.observe = obs ? [...obs[1]].reduce((a, b) => (a << 8) | b, 0) : undefined;
  msg.block1 = msg.options.find(([n]) => n === OPTION.BLOCK1)?.[1];
  return msg;
}

const isRequest = (m) => m.code !== '0.00' && m.code.startsWith('0.');
/** The transport's token check at connect: a GET of one shared attribute no device has. */
const isTokenCheck = (m) => m.code === '0.01' && m.observe === undefined && m.query.includes(`sharedKeys=${PROBE_KEY}`);

/**
 * Starts the peer on 127.0.0.1. `handle(req, peer)` may answer a request itself (return true);
 * otherwise the defaults below answer as ThingsBoard does.
 */
async function startTbPeer({ token, handle, sharedAttributes = {}, tokenCheckDelayMs = 0 } = {}) {
  const sock = dgram.createSocket('udp4');
  const log = []; // { dir: 'in'|'out', msg, size }
  const observations = new Map(); // channel → { token, seq, client }
  const registrations = [];
  const deregistrations = [];
  let mid = 1000;
  let client;

  const send = (fields, to = client) => {
    // A message ID of its own unless the test gives one (a field given as undefined counts as none).
    const buf = encode({ ...fields, messageId: fields.messageId ?? ++mid });
    log.push({ dir: 'out', msg: decode(buf), size: buf.length });
    sock.send(buf, to.port, to.address);
    return buf;
  };
  const ackEmpty = (req) => send({ type: TYPES.ACK, code: '0.00', messageId: req.messageId });

  const peer = {
    log,
    registrations,
    deregistrations,
    observations,
    get port() { return sock.address().port; },
    received: (pred = () => true) => log.filter((e) => e.dir === 'in' && pred(e.msg)).map((e) => e.msg),
    /** Requests, without the token checks at connect (tokenChecks() lists those). */
    requests: (pred = () => true) => peer.received((m) => isRequest(m) && !isTokenCheck(m) && pred(m)),
    tokenChecks: () => peer.received(isTokenCheck),
    send,
    /** A notification on channel's current observation (or `obs`), CON, next Observe number. */
    notify(channel, body, { code = '2.05', seq, obs = observations.get(channel), messageId } = {}) {
      if (!obs) throw new Error(`no ${channel} observation to notify`);
      const number = seq ?? ++obs.seq;
      return send({ type: TYPES.CON, code, messageId, token: obs.token, options: [[OPTION.OBSERVE, uintBytes(number)], [OPTION.CONTENT_FORMAT, Buffer.from([50])]], payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) }, obs.client);
    },
    /** Resends a datagram exactly (a retransmission: same message ID). */
    resend(buf) { log.push({ dir: 'out', msg: decode(buf), size: buf.length }); sock.send(buf, client.port, client.address); },
    ackEmpty,
    /** A separate CON response to `req` (after an empty ACK). */
    respondSeparately(req, code, body) {
      return send({ type: TYPES.CON, code, token: req.token, options: body ? [[OPTION.CONTENT_FORMAT, Buffer.from([50])]] : [], payload: body ? Buffer.from(body) : undefined });
    },
    respond(req, code, body, options = []) {
      return send({ type: TYPES.ACK, code, messageId: req.messageId, token: req.token, options, payload: body ? Buffer.from(body) : undefined });
    },
    close: () => new Promise((resolve) => sock.close(resolve)),
  };

  sock.on('message', (buf, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    let msg;
    try { msg = decode(buf); } catch { return; }
    log.push({ dir: 'in', msg, size: buf.length });
    // A CoAP ping (empty CON) is answered with RST, as every CoAP server (Californium too) does.
    if (msg.type === TYPES.CON && msg.code === '0.00') return send({ type: TYPES.RST, code: '0.00', messageId: msg.messageId });
    if (!isRequest(msg)) return;
    // ThingsBoard answers the token check before anything else: 4.01 for an unknown token, else
    // 4.04 (no such attribute). Tests that count requests do not see it (requests()).
    if (isTokenCheck(msg)) {
      const code = token && msg.path[2] !== token ? '4.01' : '4.04';
      if (!tokenCheckDelayMs) return peer.respond(msg, code);
      // A slow server: empty ACK now, the answer as a separate response later.
      ackEmpty(msg);
      setTimeout(() => peer.respondSeparately(msg, code), tokenCheckDelayMs);
      return;
    }
    if (handle && handle(msg, peer)) return;
    if (token && msg.path[2] !== token) return peer.respond(msg, '4.01');
    const feature = msg.path[3];
    if (msg.code === '0.01' && msg.observe === 0 && (feature === 'attributes' || feature === 'rpc')) {
      const obs = { token: Buffer.from(msg.token), seq: 0, client };
      registrations.push({ channel: feature, token: obs.token });
      const previous = observations.get(feature);
      observations.set(feature, obs);
      // ThingsBoard: a registration with a new token replaces the old one, which gets 2.02.
      if (previous && !previous.token.equals(obs.token)) peer.notify(feature, '', { code: '2.02', obs: previous });
      if (feature === 'attributes') peer.respond(msg, '2.05', JSON.stringify(sharedAttributes), [[OPTION.OBSERVE, uintBytes(0)], [OPTION.CONTENT_FORMAT, Buffer.from([50])]]);
      else peer.respond(msg, '2.03', undefined, [[OPTION.OBSERVE, uintBytes(0)]]);
      return;
    }
    if (msg.code === '0.01' && msg.observe === 1) {
      deregistrations.push({ channel: feature, token: Buffer.from(msg.token) });
      if (observations.get(feature)?.token.equals(msg.token)) observations.delete(feature);
      return ackEmpty(msg); // ThingsBoard only ACKs a deregistration
    }
    peer.respond(msg, '2.04');
  });
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
  return peer;
}

module.exports = { isTokenCheck, startTbPeer, encode, decode, TYPES, OPTION };
