'use strict';
// The MQTT / MQTTS front end of the local ThingsBoard device-API emulator: an aedes broker that
// authenticates like ThingsBoard (username = access token; CONNACK 4 for an empty one, 5 for an
// unknown one) and hands every publish on v1/devices/me/telemetry|attributes to the store before
// it acknowledges it (so a PUBACK means "stored", as with ThingsBoard). A body the store rejects
// closes the session, which is what ThingsBoard does with a publish it cannot process.
//
// Like ThingsBoard, it keeps one session per access token: a second client with the same token
// closes the first (turn off with oneSessionPerToken: false).
//
// Downlink, as ThingsBoard's MqttTransportHandler does it:
//   - SUBSCRIBE: only the filters in SUBSCRIBE_FILTERS are granted (QoS at most 1); anything
//     else (`#`, `v1/devices/me/rpc/response/1`, ...) gets the failure return code 0x80;
//   - `v1/devices/me/...` names the device of the connection, so nothing is routed between
//     clients the way a broker would: authorizeForward refuses every broker-routed message, and
//     the emulator publishes to one client directly (client.publish) — shared-attribute pushes
//     and RPC commands only to sessions that subscribed, answers to the requester;
//   - device publishes on .../attributes/request/N, .../rpc/request/N (client-side RPC) and
//     .../rpc/response/N (reply to a server-side RPC) are answered / taken by the store.
//
// It counts what a test needs to prove at the broker: TCP connections accepted, CONNECT packets
// seen (none must arrive when the client rejected our TLS certificate) and accepted publishes.
const net = require('node:net');
const tls = require('node:tls');
const { gatewaySession, GATEWAY_FILTERS } = require('./gateway');

const TOPIC_KIND = {
  'v1/devices/me/telemetry': 'telemetry',
  'v1/devices/me/attributes': 'attributes',
  'v2/t': 'telemetry',
  'v2/a': 'attributes',
};

/** ThingsBoard's subscription filters (MqttTopics.java): filter → what it gives the session. */
const SUBSCRIBE_FILTERS = {
  'v1/devices/me/attributes': { channel: 'attributes', style: 'v1' },
  'v1/devices/me/attributes/response/+': { channel: 'attributes-response', style: 'v1' },
  'v1/devices/me/rpc/request/+': { channel: 'rpc', style: 'v1' },
  'v1/devices/me/rpc/response/+': { channel: 'rpc-response', style: 'v1' },
  'v2/a': { channel: 'attributes', style: 'v2' },
  'v2/a/res/+': { channel: 'attributes-response', style: 'v2' },
  'v2/r/req/+': { channel: 'rpc', style: 'v2' },
  'v2/r/res/+': { channel: 'rpc-response', style: 'v2' },
};

/** Topics a device publishes to for the downlink, and where the answer goes (v1 and short v2). */
const REQUEST_TOPICS = [
  { re: /^v1\/devices\/me\/attributes\/request\/(\d+)$/, kind: 'attributes-request', answer: (id) => `v1/devices/me/attributes/response/${id}`, channel: 'attributes-response' },
  { re: /^v2\/a\/req\/(\d+)$/, kind: 'attributes-request', answer: (id) => `v2/a/res/${id}`, channel: 'attributes-response' },
  { re: /^v1\/devices\/me\/rpc\/request\/(\d+)$/, kind: 'client-rpc', answer: (id) => `v1/devices/me/rpc/response/${id}`, channel: 'rpc-response' },
  { re: /^v2\/r\/req\/(\d+)$/, kind: 'client-rpc', answer: (id) => `v2/r/res/${id}`, channel: 'rpc-response' },
  { re: /^v1\/devices\/me\/rpc\/response\/(\d+)$/, kind: 'rpc-reply' },
  { re: /^v2\/r\/res\/(\d+)$/, kind: 'rpc-reply' },
];

/** `n` PUBACKs of one packet id in one buffer (a PUBACK is 4 bytes: 0x40, 2, id MSB, id LSB). */
function pubacks(messageId, n) {
  const out = Buffer.allocUnsafe(4 * n);
  for (let i = 0; i < n; i++) {
    out[4 * i] = 0x40;
    out[4 * i + 1] = 2;
    out.writeUInt16BE(messageId, 4 * i + 2);
  }
  return out;
}

/** A ThingsBoard-like CONNACK refusal: aedes sends err.returnCode in the CONNACK. */
function refusal(returnCode, message) {
  const err = new Error(message);
  err.returnCode = returnCode;
  return err;
}

/**
 * @param {{store: import('./store').DeviceStore, host?: string, port?: number,
 *          tls?: {certPem: string, keyPem: string}, oneSessionPerToken?: boolean}} opts
 * @returns {Promise<{port: number, host: string, close(): Promise<void>, broker: any,
 *          stats: {connects: number, connectAttempts: number, publishes: number}}>}
 */
async function startMqttEmulator({ store, host = '127.0.0.1', port = 0, tls: tlsOpts, oneSessionPerToken = true } = {}) {
  if (!store) throw new Error('startMqttEmulator: a store is required');
  // aedes 1.x is an ES module; a dynamic import keeps this file plain CommonJS.
  const { Aedes } = await import('aedes');
  const transport = tlsOpts ? 'mqtts' : 'mqtt';
  const stats = { connects: 0, connectAttempts: 0, publishes: 0, rateLimited: 0 };

  // Messages the emulator addresses to one client, by payload Buffer (aedes passes it on
  // unchanged) → the message id to use; every other message is broker routing, which
  // ThingsBoard has none of.
  const direct = new WeakMap();

  const broker = await Aedes.createBroker({
    // A generous heartbeat: the default 60 s interval would be a timer a test has to wait for.
    heartbeatInterval: 60 * 60 * 1000,
    preConnect(client, packet, callback) {
      stats.connects++;
      // ThingsBoard grants a QoS 2 subscription as QoS 1; aedes takes the granted QoS from the
      // SUBSCRIBE packet before authorizeSubscribe sees it, so lower it as the packet is parsed
      // (ahead of aedes' own listener), also in a SUBSCRIBE that came in with the CONNECT.
      const lower = (p) => {
        if (p && p.cmd === 'subscribe') for (const sub of p.subscriptions || []) sub.qos = Math.min(sub.qos || 0, 1);
      };
      client._parser.prependListener('packet', lower);
      for (const queued of client._parser._queue || []) lower(queued);
      callback(null, true);
    },
    authenticate(client, username, password, callback) {
      let token = username == null ? '' : String(username);
      // Provisioning: user name "provision" may only ask for a device (/provision/request).
      if (token === 'provision' && store.provisionProfiles.length) {
        client.tbProvision = true;
        return callback(null, true);
      }
      // MQTT basic credentials (client id, user name, password) name a device too.
      const basic = store.authorizeBasic(client.id, token, password == null ? '' : password.toString('utf8'));
      if (basic) token = basic;
      // MQTTS: a client certificate stored on a device (X.509 credentials) names that device.
      const peer = client.conn && typeof client.conn.getPeerCertificate === 'function' ? client.conn.getPeerCertificate() : null;
      const byCertificate = peer && peer.raw ? store.authorizeX509(peer.raw.toString('base64')) : undefined;
      if (byCertificate) token = byCertificate;
      if (!token) return callback(refusal(4, 'bad user name or password (empty access token)'), false);
      if (!store.authorize(token)) return callback(refusal(5, 'not authorized (unknown access token)'), false);
      // ThingsBoard keeps one session per device credentials: a new one closes the older one.
      if (oneSessionPerToken) {
        for (const other of Object.values(broker.clients)) {
          if (other !== client && other.tbToken === token) other.close();
        }
      }
      client.tbToken = token;
      callback(null, true);
    },
    authorizePublish(client, packet, callback) {
      if (client && client.tbProvision) {
        if (packet.topic !== '/provision/request') return callback(new Error('a provisioning session may only publish /provision/request'));
        let request;
        try { request = JSON.parse(packet.payload.toString('utf8')); } catch { return callback(new Error('provision request is not JSON')); }
        const answer = store.provision(request, transport);
        setImmediate(() => sendTo(client, '/provision/response', answer, 0));
        packet.topic = `$provision/${client.id}`; // not forwarded to anyone else
        return callback(null);
      }
      if (!client || !client.tbToken) return callback(null);
      // A gateway's v1/gateway/* (emulator/gateway.js); ThingsBoard accepts them from gateways only.
      if (client.tbGateway && packet.topic.startsWith('v1/gateway/')) {
        const result = client.tbGateway.handle(packet.topic, packet.payload, packet.messageId);
        if (result.close) return callback(new Error(result.close));
        if (result.entries) stats.publishes++;
        return callback(null);
      }
      const kind = TOPIC_KIND[packet.topic];
      // Over a rate limit, ThingsBoard closes an MQTT 3.1.1 session without a word (limits.js).
      const limited = store.authorize(client.tbToken);
      if (limited && store.charge(limited, kind || 'other', packet.payload, transport)) {
        stats.rateLimited++;
        return callback(new Error('over the rate limit'));
      }
      if (kind) {
        const result = store.accept(client.tbToken, kind, packet.payload, transport);
        if (!result.ok) return callback(new Error(result.reason));
        stats.publishes++;
        return callback(null);
      }
      const request = REQUEST_TOPICS.map((r) => ({ r, m: r.re.exec(packet.topic) })).find((x) => x.m);
      // ThingsBoard ignores topics it does not serve for a device; accept without storing.
      if (!request) return callback(null);
      const failure = handleRequest(client, request.r, Number(request.m[1]), packet.payload);
      callback(failure ? new Error(failure) : null);
    },
    authorizeSubscribe(client, sub, callback) {
      if (client && client.tbGateway && GATEWAY_FILTERS[sub.topic]) return callback(null, { ...sub, qos: Math.min(sub.qos || 0, 1) });
      if (client && client.tbProvision) return callback(null, sub.topic === '/provision/response' ? { ...sub, qos: 1 } : null);
      const known = SUBSCRIBE_FILTERS[sub.topic];
      // null = SUBACK return code 0x80 for this filter (the others of the packet still count).
      if (!known) return callback(null, null);
      callback(null, { ...sub, qos: Math.min(sub.qos || 0, 1) });
    },
    authorizeForward(client, packet) {
      const mark = direct.get(packet.payload);
      if (!mark) return null;
      // aedes drops the message id of a published packet and numbers QoS 1 itself unless the
      // forwarded packet has one: set ours, so the PUBACK can be matched to the RPC it confirms.
      if (mark.messageId) packet.messageId = mark.messageId;
      return packet;
    },
  });

  /** Publishes to one client only; QoS 1 is acknowledged by onPuback. */
  function sendTo(client, topic, body, qos, onAck) {
    const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
    const mark = {};
    direct.set(payload, mark);
    const message = { cmd: 'publish', topic, payload, qos, retain: false, dup: false };
    if (qos > 0) {
      // Our own message ids: aedes routes nothing else to this client, so they cannot collide.
      const id = client.tbNextId = (client.tbNextId % 65535) + 1;
      mark.messageId = id;
      if (onAck) client.tbAwaitingAck.set(id, onAck);
    }
    client.publish(message, () => {
      if (qos === 0 && onAck) onAck();
    });
  }

  /** The granted QoS of the session's filter for a channel, or undefined when not subscribed. */
  function grant(client, channel) {
    const s = client.tbSession;
    return s && s.grants.get(channel);
  }

  /** @returns {string|undefined} a reason to close the session (ThingsBoard does) */
  function handleRequest(client, route, id, payload) {
    const device = store.authorize(client.tbToken);
    if (!device) return 'unknown device';
    if (route.kind === 'rpc-reply') {
      store.rpcReply(device, id, payload);
      return undefined;
    }
    let answer;
    if (route.kind === 'attributes-request') {
      let query;
      try {
        query = JSON.parse(payload.toString('utf8') || '{}');
      } catch (err) {
        store.reject(transport, 'bad-request', `${device.name}: attribute request is not valid JSON (${err.message})`);
        return 'bad attribute request';
      }
      answer = store.attributesAnswer(device, query && query.clientKeys, query && query.sharedKeys);
    } else {
      const result = store.clientRpc(device, payload, transport);
      if (!result.ok) return result.reason;
      answer = result.answer;
    }
    // ThingsBoard answers on the matching response topic whether or not the device subscribed
    // it (then at QoS 0); after the PUBACK of the request, so it arrives in that order.
    const qos = grant(client, route.channel) ?? 0;
    setImmediate(() => { if (!client.closed) sendTo(client, route.answer(id), answer, qos); });
    return undefined;
  }

  broker.on('clientReady', (client) => {
    const device = client.tbToken && store.authorize(client.tbToken);
    if (!device) return;
    client.tbNextId = 0;
    client.tbAwaitingAck = new Map();
    // The PUBACK of a message we sent directly: aedes keeps no outgoing record for clean
    // sessions, so read it from the client's packet parser.
    client._parser.on('packet', (p) => {
      if (p.cmd !== 'puback') return;
      const onAck = client.tbAwaitingAck.get(p.messageId);
      client.tbAwaitingAck.delete(p.messageId);
      if (onAck) onAck();
    });
    const styles = new Map(); // channel → 'v1' | 'v2'
    const session = store.openSession(device, transport, {
      attributes(update) {
        const body = { ...update.values };
        if (update.deleted) body.deleted = update.deleted;
        sendTo(client, styles.get('attributes') === 'v2' ? 'v2/a' : 'v1/devices/me/attributes', body, grant(client, 'attributes') ?? 0);
      },
      rpc(command) {
        const topic = styles.get('rpc') === 'v2' ? `v2/r/req/${command.id}` : `v1/devices/me/rpc/request/${command.id}`;
        sendTo(client, topic, { method: command.method, params: command.params }, grant(client, 'rpc') ?? 0, () => session.delivered(command.id));
      },
    });
    session.grants = new Map();
    session.styles = styles;
    client.tbSession = session;
    if (device.gateway) {
      client.tbGateway = gatewaySession(store, device, transport, {
        sendTo: (topic, body, qos, onAck) => { if (!client.closed) sendTo(client, topic, body, qos, onAck); },
        grant: (channel) => session.grants.get(channel),
        // ThingsBoard acknowledges each device entry of a multi-device publish, all with one id.
        // store.gatewayExtraAckDelayMs (tests): those later PUBACKs come that much later.
        // Without a delay they are written as soon as the publish's entries are stored (handle()
        // calls this after the last one), together in one socket write, ahead of the PUBACK
        // aedes sends: all carry the same packet id, so their order says nothing. Written then,
        // not on a later turn, they leave before the next publish already read from the socket
        // is stored, as a server acknowledges each publish when it is done with it.
        extraPubacks: (messageId, n) => {
          const write = () => {
            if (client.closed || !client.conn) return;
            client.conn.write(pubacks(messageId, n));
          };
          if (store.gatewayExtraAckDelayMs) setTimeout(write, store.gatewayExtraAckDelayMs);
          else write();
        },
      });
    }
  });
  broker.on('subscribe', (subs, client) => {
    const session = client.tbSession;
    if (!session) return;
    for (const sub of subs) {
      const gwChannel = client.tbGateway && GATEWAY_FILTERS[sub.topic];
      if (gwChannel && sub.qos !== 128) {
        session.grants.set(gwChannel, sub.qos);
        client.tbGateway.channelChanged(gwChannel, true);
        continue;
      }
      const known = SUBSCRIBE_FILTERS[sub.topic];
      if (!known || sub.qos === 128) continue;
      session.grants.set(known.channel, sub.qos);
      session.styles.set(known.channel, known.style);
      if (known.channel === 'attributes' || known.channel === 'rpc') session.subscribe(known.channel);
    }
  });
  broker.on('unsubscribe', (topics, client) => {
    const session = client.tbSession;
    if (!session) return;
    for (const topic of topics) {
      const gwChannel = client.tbGateway && GATEWAY_FILTERS[topic];
      if (gwChannel) {
        session.grants.delete(gwChannel);
        client.tbGateway.channelChanged(gwChannel, false);
        continue;
      }
      const known = SUBSCRIBE_FILTERS[topic];
      if (!known) continue;
      session.grants.delete(known.channel);
      session.unsubscribe(known.channel);
    }
  });
  broker.on('clientDisconnect', (client) => {
    if (client.tbGateway) client.tbGateway.close();
    if (client.tbSession) client.tbSession.close();
  });

  const sockets = new Set();
  const track = (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = tlsOpts
    // A client certificate is asked for, not required (ThingsBoard: X.509 devices present one,
    // access-token devices none); which device it names is decided in authenticate().
    ? tls.createServer({ cert: tlsOpts.certPem, key: tlsOpts.keyPem, requestCert: true, rejectUnauthorized: false }, (socket) => broker.handle(socket))
    : net.createServer((socket) => broker.handle(socket));
  // 'connection' fires for every TCP connection, also the ones whose TLS handshake then fails.
  server.on('connection', (socket) => {
    stats.connectAttempts++;
    // ThingsBoard's MQTT transport runs on Netty, whose sockets have TCP_NODELAY set: without it,
    // a PUBACK written right after another waits for the client's delayed ACK (about 40 ms).
    socket.setNoDelay(true);
    track(socket);
  });
  // A handshake the client aborts (it did not trust us) is expected here, not a crash.
  server.on('tlsClientError', () => {});
  server.on('error', () => {});

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    for (const client of Object.values(broker.clients)) {
      if (client.tbGateway) client.tbGateway.close();
      if (client.tbSession) client.tbSession.close();
    }
    const serverClosed = new Promise((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => broker.close(() => resolve()));
    await serverClosed;
  }

  return { port: server.address().port, host, close, broker, stats };
}

module.exports = { startMqttEmulator, TOPIC_KIND, SUBSCRIBE_FILTERS };
