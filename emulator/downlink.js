'use strict';
// What the emulator sends to devices, as ThingsBoard does (../shared/reference/thingsboard-device-api.md,
// "Downlink"; ThingsBoard's DeviceActorMessageProcessor, MqttTransportHandler, CoapTransportResource):
//   - shared attributes: set/deleted from the page or the HTTP API, pushed to every session of
//     the device that subscribed (MQTT) or observes (CoAP) its attributes;
//   - server-side RPC: {method, params, timeout}; QUEUED until a session of the device takes RPC
//     (ThingsBoard keeps a pending call and sends it when the device subscribes, within the
//     timeout), SENT when written, DELIVERED on the device's PUBACK (MQTT; CoAP: when sent, as
//     ThingsBoard's CoAP transport reports it), SUCCESSFUL with the reply, TIMEOUT otherwise. A
//     reply after the timeout is dropped, as ThingsBoard drops it;
//   - attribute requests answered from the store (client attributes are what the device sent);
//   - client-side RPC answered by rules: getCurrentTime, getSessionLimits, else echo of params.
// The front ends (mqtt.js, coap.js) own the wire; they open a session per connection or
// observation and call back here. Installed on DeviceStore (store.js) by installDownlink().

const RECENT = 20;
const DEFAULT_RPC_TIMEOUT_MS = 10000; // ThingsBoard's REST API and rule nodes default
const MAX_RPC_TIMEOUT_MS = 10 * 60 * 1000;

/** Client-side RPC rules: method → (params) → answer. Anything else is echoed (answer = params). */
const CLIENT_RPC_RULES = {
  getCurrentTime: () => ({ time: Date.now() }),
  // ThingsBoard's MQTT transport answers this one itself: the limits the emulator enforces
  // (store.setRateLimits; none by default, as a self-hosted ThingsBoard CE).
  getSessionLimits: (params, store) => store.sessionLimitsAnswer(),
};

const copyRecord = (r) => ({ ...r, at: { ...r.at } });

function parseJson(body) {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : String(body ?? '');
  return JSON.parse(text);
}

/** "a, b,,c" → ['a','b','c'] */
function keyList(value) {
  if (Array.isArray(value)) return value.map(String).map((s) => s.trim()).filter(Boolean);
  if (typeof value !== 'string') return [];
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

function pick(source, keys) {
  const out = {};
  for (const k of keys) if (Object.prototype.hasOwnProperty.call(source, k)) out[k] = source[k];
  return out;
}

function installDownlink(DeviceStore) {
  const proto = DeviceStore.prototype;

  /** Per-device downlink state, made on first use (addDevice in store.js calls it). */
  proto.initDownlink = function initDownlink(device) {
    device.shared = {};
    device.rpc = []; // recent server-side RPC records, newest last
    device.clientRpc = []; // recent client-side RPC calls, newest last
    device.nextRpcId = 1;
    device.sessions = new Set();
  };

  /** A device by name or access token (the HTTP API takes either). */
  proto.find = function find(nameOrToken) {
    return this.devices.get(nameOrToken) || this.byToken.get(nameOrToken);
  };

  /**
   * A connection (MQTT) or observation (CoAP) of a device. handlers.attributes(update) gets
   * {values, deleted?}; handlers.rpc(record) must write the command and return nothing (the front
   * end reports delivery with session.delivered(id)).
   */
  proto.openSession = function openSession(device, transport, handlers) {
    const store = this;
    const session = {
      device,
      transport,
      channels: new Set(),
      closed: false,
      subscribe(channel) {
        if (session.closed) return;
        session.channels.add(channel);
        if (channel === 'rpc') store.flushRpc(device);
      },
      unsubscribe(channel) { session.channels.delete(channel); },
      delivered(id) { store.rpcState(device, id, 'DELIVERED'); },
      close() {
        if (session.closed) return;
        session.closed = true;
        session.channels.clear();
        device.sessions.delete(session);
        store.emitSessions(device);
      },
      handlers,
    };
    device.sessions.add(session);
    this.emitSessions(device);
    return session;
  };

  /** Who is online now, for the web page (built only when someone listens: a gateway opens thousands). */
  proto.emitSessions = function emitSessions(device) {
    if (this.listenerCount('sessions')) this.emit('sessions', { device: device.name, online: [...device.sessions].map((x) => x.transport) });
  };

  /** Sets shared attributes and pushes the change. @returns the device's shared attributes */
  proto.setShared = function setShared(nameOrToken, values) {
    const device = this.find(nameOrToken);
    if (!device) throw Object.assign(new Error('no such device'), { status: 404 });
    if (!values || typeof values !== 'object' || Array.isArray(values) || Object.keys(values).length === 0) {
      throw Object.assign(new Error('shared attributes must be a non-empty JSON object {"key": value}'), { status: 400 });
    }
    Object.assign(device.shared, values);
    this.pushAttributes(device, { values: { ...values } });
    this.emit('shared', { device: device.name, shared: { ...device.shared } });
    return { ...device.shared };
  };

  /** Deletes shared attributes; the devices get {"deleted": [...]} for the keys that existed. */
  proto.deleteShared = function deleteShared(nameOrToken, keys) {
    const device = this.find(nameOrToken);
    if (!device) throw Object.assign(new Error('no such device'), { status: 404 });
    const deleted = keyList(keys).filter((k) => Object.prototype.hasOwnProperty.call(device.shared, k));
    for (const k of deleted) delete device.shared[k];
    if (deleted.length) {
      this.pushAttributes(device, { values: {}, deleted });
      this.emit('shared', { device: device.name, shared: { ...device.shared } });
    }
    return { shared: { ...device.shared }, deleted };
  };

  proto.pushAttributes = function pushAttributes(device, update) {
    for (const s of device.sessions) if (s.channels.has('attributes')) s.handlers.attributes(update);
  };

  /**
   * A server-side RPC, like ThingsBoard's "send two-way RPC" (REST or the RPC debug widget).
   * @returns {{record: object, done: Promise<object>}} done resolves with the final record
   */
  proto.sendRpc = function sendRpc(nameOrToken, { method, params = {}, timeout = DEFAULT_RPC_TIMEOUT_MS } = {}) {
    const device = this.find(nameOrToken);
    if (!device) throw Object.assign(new Error('no such device'), { status: 404 });
    if (typeof method !== 'string' || !method.trim()) throw Object.assign(new Error('an RPC needs a method name (a non-empty string)'), { status: 400 });
    const ms = Number(timeout);
    if (!Number.isFinite(ms) || ms < 100 || ms > MAX_RPC_TIMEOUT_MS) {
      throw Object.assign(new Error(`timeout is in milliseconds, 100 .. ${MAX_RPC_TIMEOUT_MS}`), { status: 400 });
    }
    const record = { id: device.nextRpcId++, method: method.trim(), params, timeout: ms, state: 'QUEUED', created: Date.now(), at: {}, reply: undefined, transport: null };
    let settle;
    const done = new Promise((resolve) => { settle = resolve; });
    Object.defineProperty(record, '_settle', { value: settle, enumerable: false });
    const timer = setTimeout(() => this.rpcState(device, record.id, 'TIMEOUT'), ms);
    timer.unref(); // an open call never keeps the process alive
    Object.defineProperty(record, '_timer', { value: timer, enumerable: false });
    device.rpc.push(record);
    if (device.rpc.length > RECENT) device.rpc.shift();
    this.emit('rpc', { device: device.name, record: copyRecord(record) });
    this.flushRpc(device);
    return { record: copyRecord(record), done };
  };

  /** Sends every QUEUED call to the sessions that take RPC (all of them, as ThingsBoard does). */
  proto.flushRpc = function flushRpc(device) {
    const takers = [...device.sessions].filter((s) => s.channels.has('rpc'));
    if (takers.length === 0) return;
    for (const record of device.rpc) {
      if (record.state !== 'QUEUED') continue;
      record.transport = takers.map((s) => s.transport).join('+');
      this.rpcState(device, record.id, 'SENT');
      for (const s of takers) s.handlers.rpc({ id: record.id, method: record.method, params: record.params });
    }
  };

  const ORDER = { QUEUED: 0, SENT: 1, DELIVERED: 2, SUCCESSFUL: 3, TIMEOUT: 3 };
  /** Moves a call forward (never back, never out of a final state). */
  proto.rpcState = function rpcState(device, id, state, reply) {
    // record.at = {sent, delivered, successful | timeout}: when each state was reached.
    const record = device.rpc.find((r) => r.id === id);
    if (!record || ORDER[state] <= ORDER[record.state] || ORDER[record.state] === 3) return false;
    record.state = state;
    record.at[state.toLowerCase()] = Date.now();
    if (state === 'SUCCESSFUL') record.reply = reply;
    if (ORDER[state] === 3) {
      clearTimeout(record._timer);
      record._settle(copyRecord(record));
    }
    this.emit('rpc', { device: device.name, record: copyRecord(record) });
    return true;
  };

  /** The device's reply to call `id` (any text; JSON is parsed). False when late or unknown. */
  proto.rpcReply = function rpcReply(device, id, body) {
    let reply;
    try {
      reply = parseJson(body);
    } catch {
      reply = Buffer.isBuffer(body) ? body.toString('utf8') : String(body);
    }
    return this.rpcState(device, Number(id), 'SUCCESSFUL', reply);
  };

  /**
   * Answer to an attribute request. Like ThingsBoard: no keys at all → every client and shared
   * attribute; otherwise the named ones. A part with nothing in it is left out.
   */
  proto.attributesAnswer = function attributesAnswer(device, clientKeys, sharedKeys) {
    const ck = keyList(clientKeys);
    const sk = keyList(sharedKeys);
    const all = ck.length === 0 && sk.length === 0;
    const client = all ? { ...device.attributes } : pick(device.attributes, ck);
    const shared = all ? { ...device.shared } : pick(device.shared, sk);
    const answer = {};
    if (Object.keys(client).length) answer.client = client;
    if (Object.keys(shared).length) answer.shared = shared;
    return answer;
  };

  /**
   * A client-side RPC from the device: body {"method": .., "params": ..}.
   * @returns {{ok: true, answer: unknown} | {ok: false, reason: string}}
   */
  proto.clientRpc = function clientRpc(device, body, transport) {
    let request;
    try {
      request = parseJson(body);
    } catch (err) {
      return this.reject(transport, 'bad-request', `${device.name}: client-side RPC is not valid JSON (${err.message})`);
    }
    if (!request || typeof request !== 'object' || typeof request.method !== 'string') {
      return this.reject(transport, 'bad-request', `${device.name}: client-side RPC needs {"method": "...", "params": ...}`);
    }
    const rule = Object.prototype.hasOwnProperty.call(CLIENT_RPC_RULES, request.method) ? CLIENT_RPC_RULES[request.method] : null;
    const params = request.params === undefined ? {} : request.params;
    const answer = rule ? rule(params, this) : params;
    const entry = { time: Date.now(), method: request.method, params, answer, rule: rule ? request.method : 'echo', transport };
    device.clientRpc.push(entry);
    if (device.clientRpc.length > RECENT) device.clientRpc.shift();
    this.emit('client-rpc', { device: device.name, entry });
    return { ok: true, answer };
  };

  /** The downlink part of a device's snapshot (no tokens). */
  proto.downlinkSnapshot = function downlinkSnapshot(device) {
    return {
      shared: { ...device.shared },
      rpc: device.rpc.map(copyRecord),
      clientRpc: device.clientRpc.map((e) => ({ ...e })),
      online: [...device.sessions].map((s) => s.transport),
    };
  };

  /** Ends the timers of calls still open (emulator shutdown). */
  proto.closeDownlink = function closeDownlink() {
    for (const device of this.devices.values()) {
      for (const r of device.rpc) clearTimeout(r._timer);
    }
  };
}

module.exports = { installDownlink, keyList, CLIENT_RPC_RULES, DEFAULT_RPC_TIMEOUT_MS };
