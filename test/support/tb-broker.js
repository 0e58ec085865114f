'use strict';
// An in-process aedes broker in the role of ThingsBoard's MQTT transport, for downlink tests:
// username = access token (CONNACK 5 for an unknown one), ThingsBoard's fixed list of
// subscription filters (anything else gets SUBACK 0x80, and a test can refuse one on purpose),
// and a test-side "ThingsBoard" that pushes shared attributes and server-side RPC, answers
// attribute requests and client-side RPC, and sees every reply. Each device (token) is its own
// world here, as with ThingsBoard: a push to one token reaches only that token's client.
//
//   const tb = await startTbBroker({ tokens: [TOKEN] });
//   tb.pushAttributes(TOKEN, { led: true });          // resolves with the number of sessions reached
//   const reply = await tb.rpc(TOKEN, 7, 'setLed', { on: true });   // the device's reply body
//   tb.onAttributeRequest = (token, id, req) => ({ shared: { led: true } });  // or undefined: no answer
//   tb.onClientRpc = (token, id, req) => ({ time: 1 });
//   tb.refuse.add('v1/devices/me/rpc/request/+');                  // SUBACK 0x80 for it
//   await tb.restart(); await tb.close();
// Provisioning (ThingsBoard's device provisioning over MQTT): startTbBroker({ tokens, provision })
// accepts user name `provision`, lets it subscribe /provision/response, and answers each publish
// on /provision/request with provision(request) (a SUCCESS answer's token should be pushed into
// `tokens` by the hook, as ThingsBoard creates the device). tb.provisionRequests lists them;
// tb.provisionSessionsOpen counts provisioning sessions still connected.
const net = require('node:net');
const { freeTcpPort } = require('./ports');

const ALLOWED = new Set([
  'v1/devices/me/attributes',
  'v1/devices/me/attributes/response/+',
  'v1/devices/me/rpc/request/+',
  'v1/devices/me/rpc/response/+',
  // A gateway's (ThingsBoard's gateway API).
  'v1/gateway/attributes',
  'v1/gateway/rpc',
  'v1/gateway/attributes/response',
]);

async function startTbBroker({ tokens, provision }) {
  const { Aedes } = await import('aedes');
  const port = await freeTcpPort();
  const state = {
    refuse: new Set(),
    /** Every SUBSCRIBE filter granted or refused: {token, topic, granted}. */
    subscriptions: [],
    /** Every publish from a device: {token, topic, payload (string)}. */
    published: [],
    connects: 0,
    provisionRequests: [],
    provisionSessionsOpen: 0,
    onAttributeRequest: undefined,
    onClientRpc: undefined,
    /** Client-attribute PUBACKs come this much later each (a slow server, for queue tests). */
    delayAttributesMs: 0,
    /** (topic, payload) → true: that publish gets no PUBACK until releaseHeld() (work in flight). */
    holdPublish: undefined,
    held: [],
  };
  const replyWaiters = new Map(); // `${token} ${id}` → resolve
  let broker;
  let server;
  const sockets = new Set();

  async function start() {
    broker = await Aedes.createBroker({
      heartbeatInterval: 60 * 60 * 1000,
      authenticate(client, username, password, callback) {
        const token = username == null ? '' : String(username);
        if (provision && token === 'provision') {
          client.tbProvision = true;
          state.provisionSessionsOpen++;
          return callback(null, true);
        }
        if (!tokens.includes(token)) {
          const err = new Error('not authorized');
          err.returnCode = 5;
          return callback(err, false);
        }
        client.tbToken = token;
        state.connects++;
        callback(null, true);
      },
      authorizeSubscribe(client, sub, callback) {
        const granted = client.tbProvision ? sub.topic === '/provision/response' : ALLOWED.has(sub.topic) && !state.refuse.has(sub.topic);
        state.subscriptions.push({ token: client.tbToken, topic: sub.topic, granted });
        callback(null, granted ? { ...sub, qos: Math.min(sub.qos, 1) } : null);
      },
      authorizePublish(client, packet, callback) {
        if (client && client.tbProvision) {
          if (packet.topic !== '/provision/request') return callback(new Error('provision clients publish only /provision/request'));
          const request = JSON.parse(packet.payload.toString('utf8'));
          state.provisionRequests.push(request);
          const answer = provision(request);
          packet.topic = `$swallowed/provision/${client.id}`;
          setImmediate(() => client.publish({ cmd: 'publish', topic: '/provision/response', payload: Buffer.from(JSON.stringify(answer)), qos: 1, retain: false, dup: false }, () => {}));
          return callback(null);
        }
        const token = client && client.tbToken;
        const topic = packet.topic;
        const payload = packet.payload.toString('utf8');
        state.published.push({ token, topic, payload });
        setImmediate(() => answer(token, topic, payload));
        // ThingsBoard does not forward device publishes to other subscribers: swallow them
        // (the device still gets its PUBACK).
        packet.topic = `$swallowed/${token}/${topic}`;
        if (state.holdPublish && state.holdPublish(topic, payload)) state.held.push(() => callback(null));
        else if (state.delayAttributesMs && topic === 'v1/devices/me/attributes') setTimeout(() => callback(null), state.delayAttributesMs);
        else callback(null);
      },
    });
    broker.on('clientDisconnect', (c) => { if (c.tbProvision) state.provisionSessionsOpen--; });
    server = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  }

  // As ThingsBoard does: to the sessions of that token only, and only when subscribed (a push
  // to a device that did not renew its subscription after a reconnect is lost, as it would be).
  function push(token, topic, body) {
    const filter = topic.replace(/\/\d+$/, '/+');
    const targets = Object.values(broker.clients).filter((c) => c.tbToken === token && c.subscriptions && (c.subscriptions[topic] || c.subscriptions[filter]));
    const payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    return Promise.all(targets.map((c) => new Promise((resolve) => c.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, () => resolve())))).then(() => targets.length);
  }

  function answer(token, topic, payload) {
    let m = /^v1\/devices\/me\/rpc\/response\/(\d+)$/.exec(topic);
    if (m) {
      const w = replyWaiters.get(`${token} ${m[1]}`);
      if (w) {
        replyWaiters.delete(`${token} ${m[1]}`);
        w(payload);
      }
      return;
    }
    m = /^v1\/devices\/me\/attributes\/request\/(\d+)$/.exec(topic);
    if (m && state.onAttributeRequest) {
      const a = state.onAttributeRequest(token, Number(m[1]), JSON.parse(payload));
      if (a !== undefined) void push(token, `v1/devices/me/attributes/response/${m[1]}`, a);
      return;
    }
    m = /^v1\/devices\/me\/rpc\/request\/(\d+)$/.exec(topic);
    if (m && state.onClientRpc) {
      const a = state.onClientRpc(token, Number(m[1]), JSON.parse(payload));
      if (a !== undefined) void push(token, `v1/devices/me/rpc/response/${m[1]}`, a);
    }
  }

  async function stop() {
    const closedServer = new Promise((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => broker.close(() => resolve()));
    await closedServer;
  }

  await start();
  const api = {
    port,
    get broker() { return broker; },
    state,
    get refuse() { return state.refuse; },
    set onAttributeRequest(fn) { state.onAttributeRequest = fn; },
    set onClientRpc(fn) { state.onClientRpc = fn; },
    set holdPublish(fn) { state.holdPublish = fn; },
    /** Acknowledges the publishes held back by holdPublish. */
    releaseHeld() { for (const ack of state.held.splice(0)) ack(); },
    /** Clients connected now (per token when given). */
    clients(token) {
      return Object.values(broker.clients).filter((c) => c.connected !== false && (!token || c.tbToken === token)).length;
    },
    /** Whether `token`'s client holds a subscription to `topic` right now. */
    subscribed(token, topic) {
      return Object.values(broker.clients).some((c) => c.tbToken === token && c.subscriptions && c.subscriptions[topic]);
    },
    pushAttributes(token, body) {
      return push(token, 'v1/devices/me/attributes', body);
    },
    /** Sends server-side RPC `id`; resolves with the device's reply body (text), or never. */
    rpc(token, id, method, params) {
      const reply = new Promise((resolve) => replyWaiters.set(`${token} ${id}`, resolve));
      void push(token, `v1/devices/me/rpc/request/${id}`, { method, params });
      return reply;
    },
    /** Sends server-side RPC `id` without waiting for a reply. */
    sendRpc(token, id, method, params) {
      return push(token, `v1/devices/me/rpc/request/${id}`, { method, params });
    },
    push,
    /** What devices published on `topic` (a RegExp or a string), by token when given. */
    publishedOn(topic, token) {
      return state.published.filter((p) => (topic instanceof RegExp ? topic.test(p.topic) : p.topic === topic) && (!token || p.token === token));
    },
    /** Stops the broker (clients see the connection drop), starts it again on the same port. */
    async restart(pauseMs = 0) {
      await stop();
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      await start();
    },
    close: stop,
  };
  return api;
}

module.exports = { startTbBroker, ALLOWED };
