'use strict';
const crypto = require('node:crypto');
// What the emulator's devices have received, as ThingsBoard would store it: per device, the
// latest value and a short history of every telemetry key, the client attributes, and the
// requests it rejected (with the reason). The MQTT and CoAP front ends call accept*/reject; tests
// and the web page read it. Tokens are secrets here too: rejections never echo a token.
const { EventEmitter } = require('node:events');
const { installDownlink } = require('./downlink');
const { installGateway } = require('./gateway');
const { parseLimits, limitTexts, SessionLimits, describeLimits } = require('./limits');

const HISTORY = 200;
/** The examples whose device is a gateway (examples/11 Gateway - many devices, one connection.json). */
const EXAMPLE_GATEWAYS = [11];

class DeviceStore extends EventEmitter {
  /**
   * @param {{devices?: {name: string, token: string}[], exampleTokens?: boolean}} [opts]
   *   exampleTokens: also accept `example-token-N` (N = 1..99) as device `example-N`, made on
   *   first use, so each imported example flow has a device (and a page card) of its own.
   */
  constructor(opts = {}) {
    super();
    this.exampleTokens = Boolean(opts.exampleTokens);
    this.byToken = new Map();
    // Device profiles that allow provisioning: { key, secret } ("allow to create new devices").
    this.provisionProfiles = opts.provisionProfiles || [];
    this.provisionRequests = 0;
    this.devices = new Map(); // name → { name, telemetry: Map<key, {ts, value}[]>, attributes: {}, received }
    this.rejected = []; // { time, transport, reason }
    // ThingsBoard's per-device rate limits (limits.js); none by default, as self-hosted CE.
    this.limitsMsPerSecond = opts.limitsMsPerSecond || 1000;
    this.rateLimitStats = { exceeded: 0 };
    this.setRateLimits(opts.rateLimits);
    for (const d of opts.devices || []) {
      const device = this.addDevice(d.name, d.token || crypto.randomBytes(12).toString('hex'), d.basic ? { type: 'MQTT_BASIC', ...d.basic } : d.x509 ? { type: 'X509_CERTIFICATE', hash: d.x509 } : undefined);
      if (d.gateway) device.gateway = true; // "Is gateway" ticked (emulator/gateway.js)
    }
  }

  /** Sets the rate limits every device gets (ThingsBoard's syntax, see limits.js); throws on bad text. */
  setRateLimits(spec) {
    this.rateLimits = parseLimits(spec);
    for (const device of this.devices ? this.devices.values() : []) device.limits = undefined;
    this.emit('limits', this.rateLimitsText());
  }

  /** "messages 10:1,300:60; …", or '' when none. */
  rateLimitsText() {
    return describeLimits(this.rateLimits);
  }

  /** What ThingsBoard's MQTT transport answers to getSessionLimits (NETTY_MAX_PAYLOAD_SIZE, its per-device queue). */
  sessionLimitsAnswer() {
    return { maxPayloadSize: 65536, maxInflightMessages: 100, rateLimits: limitTexts(this.rateLimits) };
  }

  /**
   * Charges one message of a device to its rate limits (buckets kept per device, like
   * ThingsBoard's, across sessions). Returns the limit exceeded (and records the rejection), or
   * undefined.
   */
  charge(device, kind, body, transport) {
    if (!device.limits) device.limits = new SessionLimits(this.rateLimits, { msPerSecond: this.limitsMsPerSecond });
    const over = device.limits.charge(kind, body);
    if (!over) return undefined;
    this.rateLimitStats.exceeded++;
    const what = transport === 'coap' || transport === 'coaps' ? 'answered 5.00' : 'session closed';
    this.reject(transport, 'rate-limit', `${device.name}: over the rate limit ${over}: ${what}`);
    return over;
  }

  /**
   * credentials: how the device authenticates besides its (internal) token, as ThingsBoard stores
   * it: { type: 'ACCESS_TOKEN' } (default), { type: 'MQTT_BASIC', clientId, username, password },
   * { type: 'X509_CERTIFICATE', hash }. Shown on the page by type only. A gateway's sub-device
   * (emulator/gateway.js) gets a random token: it never connects itself.
   */
  addDevice(name, token, credentials = { type: 'ACCESS_TOKEN' }) {
    const device = { name, token, credentials, telemetry: new Map(), attributes: {}, received: 0, messages: 0 };
    this.initDownlink(device);
    this.devices.set(name, device);
    if (token !== undefined) this.byToken.set(token, device);
    return device;
  }

  /**
   * MQTT basic credentials → the device's internal token, as ThingsBoard matches them: a device
   * whose credentials hold a client id only matches that client id; one with a user name matches
   * user name and password (and the client id too when it has one).
   */
  authorizeBasic(clientId, username, password) {
    for (const d of this.devices.values()) {
      const c = d.credentials;
      if (!c || c.type !== 'MQTT_BASIC') continue;
      if (!c.username) {
        if (c.clientId && c.clientId === clientId) return d.token;
        continue;
      }
      if (c.username !== username || (c.password || '') !== (password || '')) continue;
      if (c.clientId && c.clientId !== clientId) continue;
      return d.token;
    }
    return undefined;
  }

  /** A client certificate (base64 DER, as provisioning's "hash") → the X.509 device's internal token. */
  authorizeX509(hash) {
    for (const d of this.devices.values()) {
      if (d.credentials && d.credentials.type === 'X509_CERTIFICATE' && d.credentials.hash === hash) return d.token;
    }
    return undefined;
  }

  /**
   * Device provisioning: {deviceName, provisionDeviceKey, provisionDeviceSecret, credentialsType?,
   * token? | clientId/username/password | hash} → ThingsBoard's answer object.
   */
  provision(request, transport) {
    this.provisionRequests++;
    const profile = this.provisionProfiles.find((p) => p.key === request.provisionDeviceKey && p.secret === request.provisionDeviceSecret);
    if (!profile) {
      this.reject(transport, 'unauthorized', 'provisioning: unknown provision key or secret');
      return { status: 'NOT_FOUND', errorMsg: 'Failed to find provision profile with provided key and secret' };
    }
    const name = String(request.deviceName || '');
    if (!name) return { status: 'FAILURE', errorMsg: 'Device name is empty' };
    if (this.devices.has(name)) return { status: 'FAILURE', errorMsg: `Device with name ${name} already exists` };
    let device;
    let value;
    if (request.credentialsType === 'MQTT_BASIC') {
      device = this.addDevice(name, crypto.randomBytes(12).toString('hex'), { type: 'MQTT_BASIC', clientId: request.clientId || '', username: request.username || '', password: request.password || '' });
      value = { clientId: request.clientId, userName: request.username, password: request.password };
    } else if (request.credentialsType === 'X509_CERTIFICATE') {
      device = this.addDevice(name, crypto.randomBytes(12).toString('hex'), { type: 'X509_CERTIFICATE', hash: request.hash });
      value = request.hash;
    } else {
      const token = request.token || crypto.randomBytes(10).toString('hex');
      device = this.addDevice(name, token);
      value = token;
    }
    device.provisioned = true;
    this.emit('device', this.deviceSnapshot(device));
    return { status: 'SUCCESS', credentialsType: device.credentials.type, credentialsValue: value };
  }

  /** The device for a token, or undefined (ThingsBoard: CONNACK 5 / CoAP 4.01). */
  authorize(token) {
    const known = this.byToken.get(token);
    if (known || !this.exampleTokens) return known;
    const m = /^example-token-([1-9][0-9]?)$/.exec(String(token));
    if (!m) return undefined;
    // The gateway example's device has "Is gateway" ticked, as in ThingsBoard.
    const device = this.addDevice(`example-${m[1]}`, token);
    // The gateway example's device has "Is gateway" ticked, as in ThingsBoard.
    if (EXAMPLE_GATEWAYS.includes(Number(m[1]))) device.gateway = true;
    this.emit('device', this.deviceSnapshot(device));
    return device;
  }

  /**
   * Stores a telemetry or attributes body as ThingsBoard would.
   * @returns {{ok: true, device} | {ok: false, status: 'unauthorized'|'bad-request', reason: string}}
   */
  accept(token, kind, body, transport) {
    const device = this.authorize(token);
    if (!device) return this.reject(transport, 'unauthorized', `unknown access token (${kind})`);
    let data;
    try {
      data = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : String(body));
    } catch (err) {
      return this.reject(transport, 'bad-request', `${device.name}: ${kind} is not valid JSON (${err.message})`);
    }
    return this.acceptFor(device, kind, data, transport);
  }

  /** Stores parsed telemetry or attributes for a device (also a gateway's sub-device). */
  acceptFor(device, kind, data, transport) {
    const now = Date.now();
    if (kind === 'attributes') {
      if (!isObject(data)) return this.reject(transport, 'bad-request', `${device.name}: attributes must be a JSON object`);
      Object.assign(device.attributes, data);
      device.messages++;
      this.emit('attributes', { device: device.name, transport, values: data });
      return { ok: true, device };
    }
    const entries = [];
    for (const item of Array.isArray(data) ? data : [data]) {
      if (!isObject(item)) return this.reject(transport, 'bad-request', `${device.name}: telemetry must be an object or an array of objects`);
      if ('ts' in item && 'values' in item) {
        if (!Number.isFinite(item.ts) || !isObject(item.values)) return this.reject(transport, 'bad-request', `${device.name}: {ts, values} needs a numeric ts and an object values`);
        entries.push({ ts: item.ts, values: item.values });
      } else {
        entries.push({ ts: now, values: item });
      }
    }
    for (const { ts, values } of entries) {
      for (const [key, value] of Object.entries(values)) {
        let series = device.telemetry.get(key);
        if (!series) device.telemetry.set(key, (series = []));
        series.push({ ts, value });
        if (series.length > HISTORY) series.shift();
      }
      device.received++;
    }
    device.messages++;
    this.emit('telemetry', { device: device.name, transport, entries });
    return { ok: true, device };
  }

  reject(transport, status, reason) {
    const entry = { time: Date.now(), transport, status, reason };
    this.rejected.push(entry);
    if (this.rejected.length > HISTORY) this.rejected.shift();
    this.emit('rejected', entry);
    return { ok: false, status, reason };
  }

  /** Latest value of every telemetry key of a device: { key: {ts, value} }. */
  latest(name) {
    const device = this.devices.get(name);
    if (!device) return {};
    const out = {};
    for (const [key, series] of device.telemetry) out[key] = series[series.length - 1];
    return out;
  }

  /** A JSON-friendly snapshot for the web page (no tokens). */
  snapshot() {
    return {
      devices: [...this.devices.values()].map((d) => this.deviceSnapshot(d)),
      rejected: this.rejected.slice(-50),
      rateLimits: this.rateLimitsText(),
      rateLimitsExceeded: this.rateLimitStats.exceeded,
    };
  }

  deviceSnapshot(d) {
    return {
      name: d.name,
      credentialsType: (d.credentials && d.credentials.type) || 'ACCESS_TOKEN',
      provisioned: Boolean(d.provisioned),
      ...(d.gateway ? { gateway: true, subDevices: [...(d.subDevices || [])] } : {}),
      ...(d.gatewayName ? { gatewayName: d.gatewayName, type: d.type } : {}),
      messages: d.messages,
      telemetry: Object.fromEntries([...d.telemetry].map(([k, s]) => [k, s.slice(-50)])),
      attributes: d.attributes,
      ...this.downlinkSnapshot(d),
    };
  }
}

installDownlink(DeviceStore);
installGateway(DeviceStore);

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

module.exports = { DeviceStore };
