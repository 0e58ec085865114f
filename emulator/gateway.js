'use strict';
// ThingsBoard's gateway API in the emulator (../shared/reference/thingsboard-gateway-api.md;
// ThingsBoard's AbstractGatewaySessionHandler): a device whose `gateway` flag is set (as "Is
// gateway" in ThingsBoard) may publish on v1/gateway/* for sub-devices named in the bodies.
//   - connect {"device","type"} finds or creates the sub-device (type → its profile; missing →
//     "default") and opens a sub-device session; data, requests or an RPC reply for a name not
//     connected in THIS gateway session connect it implicitly with type "default";
//   - telemetry must be {"A":[...]} (an array per device) and attributes {"A":{...}}: anything
//     else closes the whole gateway connection, as ThingsBoard's conversion failure does;
//   - a publish with several device entries gets one PUBACK per entry, all with its packet id;
//   - RPC and shared-attribute updates reach a sub-device only while it is connected in the
//     current session and the gateway subscribed v1/gateway/rpc / v1/gateway/attributes.
// The MQTT front end (mqtt.js) calls handle() for every v1/gateway/* publish of a gateway.

const { randomUUID } = require('node:crypto');

/** The gateway's subscription filters (MqttTopics.java) → the channel they give. */
const GATEWAY_FILTERS = {
  'v1/gateway/attributes': 'gw-attributes',
  'v1/gateway/rpc': 'gw-rpc',
  'v1/gateway/attributes/response': 'gw-attributes-response',
};

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function installGateway(DeviceStore) {
  const proto = DeviceStore.prototype;

  /** A sub-device of `gateway` by name: found, or created the way ThingsBoard does. */
  proto.subDevice = function subDevice(gateway, name, type) {
    let device = this.devices.get(name);
    if (!device) {
      // A random token it never uses (it does not connect itself): randomUUID draws from a
      // cached entropy pool, where randomBytes made a synchronous call per new sub-device.
      device = this.addDevice(name, randomUUID());
      device.type = type || 'default';
      device.gatewayName = gateway.name;
      if (this.listenerCount('device')) this.emit('device', this.deviceSnapshot(device));
    }
    if (!gateway.subDevices) gateway.subDevices = new Set();
    gateway.subDevices.add(name);
    return device;
  };
}

/**
 * One gateway client's sub-device sessions. `io` = {sendTo(topic, body, qos, onAck), grant(channel),
 * extraPubacks(messageId, n)}.
 */
function gatewaySession(store, gateway, transport, io) {
  /** name → store session (see downlink.js openSession), for this MQTT session only. */
  const connected = new Map();

  function connect(name, type) {
    let session = connected.get(name);
    if (session) return session;
    const device = store.subDevice(gateway, name, type);
    session = store.openSession(device, transport, {
      attributes(update) {
        const data = { ...update.values };
        if (update.deleted) data.deleted = update.deleted;
        io.sendTo('v1/gateway/attributes', { device: name, data }, io.grant('gw-attributes') ?? 0);
      },
      rpc(command) {
        io.sendTo('v1/gateway/rpc', { device: name, data: { id: command.id, method: command.method, params: command.params } }, io.grant('gw-rpc') ?? 0, () => session.delivered(command.id));
      },
    });
    session.gatewayOf = gateway.name;
    connected.set(name, session);
    if (io.grant('gw-attributes') !== undefined) session.subscribe('attributes');
    if (io.grant('gw-rpc') !== undefined) session.subscribe('rpc');
    return session;
  }

  function fail(reason) {
    store.reject(transport, 'bad-request', `${gateway.name} (gateway): ${reason}`);
    return { close: reason };
  }

  /**
   * A publish of the gateway on `topic` (v1/gateway/...).
   * @returns {{close?: string, entries?: number}} close: ThingsBoard closes the connection;
   *   entries: how many device entries (PUBACKs) the publish had
   */
  function handle(topic, payload, messageId) {
    let body;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return fail(`${topic} is not valid JSON (${err.message})`);
    }
    const name = isObject(body) ? body.device : undefined;
    switch (topic) {
      case 'v1/gateway/connect':
        if (typeof name !== 'string' || name === '') return fail('connect without a device name');
        connect(name, typeof body.type === 'string' && body.type ? body.type : 'default');
        return {};
      case 'v1/gateway/disconnect': {
        if (typeof name !== 'string' || name === '') return fail('disconnect without a device name');
        const session = connected.get(name);
        connected.delete(name);
        if (session) session.close();
        return {};
      }
      case 'v1/gateway/telemetry':
      case 'v1/gateway/attributes': {
        const kind = topic.endsWith('telemetry') ? 'telemetry' : 'attributes';
        if (!isObject(body)) return fail(`${kind} must be an object {"device name": ...}`);
        const names = Object.keys(body);
        for (const device of names) {
          if (device === '') return fail(`${kind} for a device without a name`);
          const part = body[device];
          // ThingsBoard: a telemetry value that is not an array fails the conversion → the
          // connection is closed (and so is everything else in flight on it).
          if (kind === 'telemetry' && !Array.isArray(part)) return fail(`telemetry for ${JSON.stringify(device)} is not a JSON array`);
          if (kind === 'attributes' && !isObject(part)) return fail(`attributes for ${JSON.stringify(device)} are not a JSON object`);
          const session = connect(device, 'default');
          const result = store.acceptFor(session.device, kind, part, transport);
          if (!result.ok) return { close: result.reason };
        }
        if (names.length > 1 && messageId) io.extraPubacks(messageId, names.length - 1);
        return { entries: names.length };
      }
      case 'v1/gateway/rpc': {
        if (typeof name !== 'string' || name === '' || typeof body.id !== 'number') return fail('RPC reply needs {"device","id","data"}');
        const session = connect(name, 'default');
        store.rpcReply(session.device, body.id, Buffer.from(JSON.stringify(body.data === undefined ? null : body.data)));
        return {};
      }
      case 'v1/gateway/attributes/request': {
        if (typeof name !== 'string' || name === '' || typeof body.id !== 'number') return fail('attribute request needs {"id","device",...}');
        const session = connect(name, 'default');
        const keys = Array.isArray(body.keys) ? body.keys.map(String) : typeof body.key === 'string' ? [body.key] : [];
        const scope = body.client === true ? 'client' : 'shared';
        const answer = store.attributesAnswer(session.device, scope === 'client' ? keys.join(',') : '', scope === 'shared' ? keys.join(',') : '');
        const values = answer[scope] || {};
        const reply = { id: body.id, device: name };
        if (typeof body.key === 'string' && !Array.isArray(body.keys)) {
          if (Object.prototype.hasOwnProperty.call(values, body.key)) reply.value = values[body.key];
        } else {
          reply.values = values;
        }
        setImmediate(() => io.sendTo('v1/gateway/attributes/response', reply, io.grant('gw-attributes-response') ?? 0));
        return {};
      }
      default:
        return {}; // claim and others: accepted, not emulated
    }
  }

  /** The gateway subscribed (or unsubscribed) a gateway filter: every connected sub-device follows. */
  function channelChanged(channel, on) {
    const storeChannel = channel === 'gw-rpc' ? 'rpc' : channel === 'gw-attributes' ? 'attributes' : null;
    if (!storeChannel) return;
    for (const session of connected.values()) {
      if (on) session.subscribe(storeChannel);
      else session.unsubscribe(storeChannel);
    }
  }

  function close() {
    for (const session of connected.values()) session.close();
    connected.clear();
  }

  return { handle, channelChanged, close, connected };
}

module.exports = { installGateway, gatewaySession, GATEWAY_FILTERS };
