'use strict';
// The local ThingsBoard device-API emulator, all front ends together: MQTT, MQTTS, CoAP, CoAPS
// (through socat, when installed) and the web page, sharing one device store. Used by `npm start`, emulator/cli.js, the
// benchmarks and the browser tests.
//
//   const emu = await startEmulator({ dataDir: '.emulator' });
//   emu.ports  → { mqtt: 1883, mqtts: 8883, coap: 5683, coaps: 5684, web: 1881 }
//   emu.notes  → ['MQTT port 1883 is busy: using 40123 instead', ...]
//   emu.moved  → [{ name: 'mqtt', label: 'MQTT', wanted: 1883, port: 40123 }]  (see movedPortWarning)
//   await emu.close();
//
// A wanted port that is busy is replaced by a free one (and said so in `notes`), so a second
// `npm start` or a system mosquitto on 1883 does not stop the demo. Port 0 means "any free port".
const dgram = require('node:dgram');
const net = require('node:net');
const path = require('node:path');
const { DeviceStore } = require('./store');
const { ensureCerts } = require('./certs');
const { startWebServer } = require('./web/server');

const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, coap: 5683, coaps: 5684, web: 1881 };
const LABELS = { mqtt: 'MQTT', mqtts: 'MQTTS', coap: 'CoAP', coaps: 'CoAPS', web: 'page' };

/** The demo gateway ("Is gateway" ticked): `demo-gateway` with the access token `demo-gateway-token`. */
function demoGateway() {
  return { name: 'demo-gateway', token: 'demo-gateway-token', gateway: true };
}

/** Demo devices: `demo-device-N` with the access token `demo-token-N`. */
function demoDevices(count = 4) {
  return Array.from({ length: count }, (_, i) => ({ name: `demo-device-${i + 1}`, token: `demo-token-${i + 1}` }));
}

/** A device with MQTT basic credentials, and a device profile that lets devices provision themselves. */
const DEMO_BASIC_DEVICE = { name: 'demo-basic-device', basic: { clientId: 'demo-basic-client', username: 'demo-basic-user', password: 'demo-basic-password' } };
const DEMO_PROVISION_PROFILE = { key: 'demo-provision-key', secret: 'demo-provision-secret' };

function tcpPortFree(host, port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function udpPortFree(host, port) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', () => { sock.close(); resolve(false); });
    sock.bind({ port, address: host, exclusive: true }, () => sock.close(() => resolve(true)));
  });
}

/**
 * @param {object} [opts]
 * @param {string} [opts.host] listen address (default 127.0.0.1)
 * @param {{mqtt?: number|false, mqtts?: number|false, coap?: number|false, coaps?: number|false, web?: number|false}} [opts.ports]
 *   wanted ports; false turns a front end off; 0 → any free port. Defaults: 1883, 8883, 5683, (5684), 1881.
 * @param {{name: string, token: string}[]} [opts.devices] default: demoDevices()
 * @param {boolean} [opts.demoBasicDevice] false: no demo-basic-device (MQTT basic: client id
 *   demo-basic-client, user demo-basic-user, password demo-basic-password) beside the devices
 * @param {{key: string, secret: string}[]} [opts.provisionProfiles] device profiles that allow
 *   provisioning; default one: key demo-provision-key, secret demo-provision-secret
 * @param {string} [opts.dataDir] where the CA and server certificate live (needed for MQTTS/CoAPS)
 * @param {{certPem: string, keyPem: string, caFile?: string}} [opts.tls] certificates to use instead of dataDir's
 * @param {DeviceStore} [opts.store]
 * @param {boolean} [opts.gateway] also the demo gateway demo-gateway-token (demoGateway()); default true
 * @param {boolean} [opts.exampleTokens] accept example-token-1..99 (the example flows' devices); default true
 * @param {boolean} [opts.coapSeparateResponses] CoAP(S) answers as ThingsBoard sends them: an empty ACK, then a separate CON response (emulator/coap.js); default false (piggybacked)
 * @param {string} [opts.rateLimits] per-device rate limits in ThingsBoard's syntax (limits.js), enforced like ThingsBoard; default none
 * @param {(line: string) => void} [opts.log]
 */
async function startEmulator(opts = {}) {
  const host = opts.host || '127.0.0.1';
  const wanted = { ...DEFAULT_PORTS };
  for (const [name, port] of Object.entries(opts.ports || {})) if (port !== undefined && port !== null) wanted[name] = port;
  // The demo gateway is always there (unless opts.gateway is false), beside the devices given.
  const devices = [...(opts.devices || demoDevices()), ...(opts.demoBasicDevice === false ? [] : [DEMO_BASIC_DEVICE])];
  if (opts.gateway !== false && !devices.some((d) => d.token === demoGateway().token)) devices.push(demoGateway());
  const store = opts.store || new DeviceStore({
    devices,
    exampleTokens: opts.exampleTokens !== false,
    provisionProfiles: opts.provisionProfiles || [DEMO_PROVISION_PROFILE],
    rateLimits: opts.rateLimits,
  });
  const notes = [];
  const moved = []; // { name, label, wanted, port }: a busy wanted port replaced by a free one
  const running = []; // { name, close }
  const ports = { mqtt: null, mqtts: null, coap: null, coaps: null, web: null };
  let certs = opts.tls || null;
  let coapsOffReason = null;

  /** The wanted port if it is free, else 0 (any), with a note for the user. */
  async function choosePort(name, udp) {
    const port = wanted[name];
    if (!port) return 0;
    const free = udp ? await udpPortFree(host, port) : await tcpPortFree(host, port);
    return free ? port : 0; // started() tells the user which port it got instead

  }
  function started(name, frontEnd) {
    ports[name] = frontEnd.port;
    running.push({ name, close: () => frontEnd.close() });
    if (wanted[name] && wanted[name] !== frontEnd.port) {
      notes.push(`${LABELS[name]} port ${wanted[name]} is busy: using ${frontEnd.port} instead`);
      moved.push({ name, label: LABELS[name], wanted: wanted[name], port: frontEnd.port });
    }
    return frontEnd;
  }

  try {
    if ((wanted.mqtts !== false || wanted.coaps !== false) && !certs) {
      if (!opts.dataDir) throw new Error('startEmulator: MQTTS/CoAPS need opts.dataDir (or opts.tls), or turn them off with ports.mqtts = false');
      certs = await ensureCerts(path.join(opts.dataDir, 'pki'));
      if (certs.created) notes.push(`generated a CA and a server certificate in ${path.dirname(certs.caFile)}`);
    }

    // Required lazily so the page and the store work on their own (tests, a partial checkout).
    const { startMqttEmulator } = require('./mqtt');
    const { startCoapEmulator } = require('./coap');

    if (wanted.mqtt !== false) {
      const fe = started('mqtt', await startMqttEmulator({ store, host, port: await choosePort('mqtt', false) }));
      reportRefusedConnects(fe.broker, store, 'mqtt');
    }
    if (wanted.mqtts !== false) {
      const fe = started('mqtts', await startMqttEmulator({ store, host, port: await choosePort('mqtts', false), tls: { certPem: certs.certPem, keyPem: certs.keyPem } }));
      reportRefusedConnects(fe.broker, store, 'mqtts');
    }
    if (wanted.coap !== false) {
      started('coap', await startCoapEmulator({ store, host, port: await choosePort('coap', true), separateResponses: !!opts.coapSeparateResponses }));
    }
    if (wanted.coaps !== false) {
      // Node.js has no DTLS server: emulator/coaps.js puts Debian's socat in front of the CoAP
      // emulator. Without socat CoAPS is off (said in `notes` and on the page), the rest runs.
      const { startCoapsEmulator, coapsUnavailable } = require('./coaps');
      coapsOffReason = certs.certFile ? coapsUnavailable() : 'needs certificate files (pass dataDir)';
      if (coapsOffReason) notes.push(`CoAPS is off: it ${coapsOffReason}`);
      else {
        // A CoAP emulator of its own behind socat, so the store records these requests and
        // sessions as 'coaps'.
        const inner = await startCoapEmulator({ store, host, port: 0, transport: 'coaps', separateResponses: !!opts.coapSeparateResponses });
        running.push({ name: 'coaps-inner', close: () => inner.close() });
        started('coaps', await startCoapsEmulator({ host, port: await choosePort('coaps', true), coapPort: inner.port, certs }));
      }
    }
    if (wanted.web !== false) {
      started('web', await startWebServer({ store, host, port: await choosePort('web', false), info: () => pageInfo() }));
    }
  } catch (err) {
    await closeAll();
    throw err;
  }

  function pageInfo() {
    const endpoints = ['mqtt', 'mqtts', 'coap', 'coaps'].map((name) => ({
      name,
      label: LABELS[name],
      host,
      port: ports[name],
      note: ports[name] ? undefined : name === 'coaps' && coapsOffReason ? `off: ${coapsOffReason}` : 'off',
    }));
    // The page warns about a moved device port (a user's device nodes may still use the old one).
    return { endpoints, moved: moved.filter((m) => m.name !== 'web'), caFile: certs && certs.caFile ? certs.caFile : null };
  }

  async function closeAll() {
    // Page first (it ends the browsers' event streams), then the protocol front ends.
    for (const fe of running.splice(0).reverse()) {
      try {
        await fe.close();
      } catch { /* closing the rest matters more */ }
    }
    store.closeDownlink();
  }

  const host6 = host.includes(':') ? `[${host}]` : host;
  return {
    store,
    host,
    ports,
    notes,
    moved,
    caFile: certs ? certs.caFile || null : null,
    caPem: certs ? certs.caPem || null : null,
    webUrl: ports.web ? `http://${host6}:${ports.web}/` : null,
    close: closeAll,
  };
}

/**
 * The loud explanation of a moved device port, for npm start and emulator/cli.js (one string per
 * line). A busy 1883 is usually a Mosquitto the user runs: device nodes still set to 1883 (the
 * default, and the examples) then connect to that broker, which accepts any user name and
 * acknowledges every publish, so they show "connected" and Complete fires while nothing reaches
 * the emulator. `how(m)` names the setting that picks the port (EMULATOR_MQTT_PORT=40123, --mqtt 40123).
 * @param {{label: string, wanted: number, port: number}[]} moved
 * @param {{host: string, how: (m: object) => string, stale?: string[]}} opts
 *   stale: device nodes of the user's flows that still point at a wanted port; demo: npm start's
 *   demo flow was given the new port
 */
function movedPortWarning(moved, { host, how, stale = [], demo = false }) {
  const devicePorts = moved.filter((m) => m.label !== 'page');
  if (devicePorts.length === 0) return [];
  const lines = [];
  for (const m of devicePorts) {
    const who = m.label.startsWith('MQTT') ? ' (often a Mosquitto broker)' : '';
    lines.push(`${m.label} port ${m.wanted} is taken by another program${who}, so the emulator's ${m.label} listens on ${host}:${m.port} instead.`);
  }
  const old = devicePorts.map((m) => m.wanted).join(', ');
  lines.push(`${demo ? 'The demo flow uses the new port. ' : ''}Device nodes still set to ${old} (the imported examples, your own flows,`);
  lines.push('a new device node\'s default port) talk to that other program, not to ThingsBoard: an MQTT broker');
  lines.push('accepts any token, so they show "connected" and Complete says "delivered", but nothing reaches the emulator.');
  for (const s of stale) lines.push(`  still on the old port: ${s}`);
  lines.push('Choose one:');
  lines.push(`  - stop the other program (e.g. sudo systemctl stop mosquitto) and start again: the emulator then gets ${old};`);
  lines.push(`  - or keep it: put ${devicePorts.map((m) => m.port).join(', ')} into those device nodes' Port, and start with ${devicePorts.map(how).join(' ')} to keep that port.`);
  return lines;
}

/**
 * ThingsBoard shows refused connections nowhere a user looks; the emulator page does: a CONNECT
 * refused for a bad token (CONNACK 4/5) becomes a rejected request. No token is recorded.
 */
function reportRefusedConnects(broker, store, transport) {
  if (!broker || typeof broker.on !== 'function') return;
  const onError = (client, err) => {
    if (err && (err.errorCode === 4 || err.errorCode === 5)) {
      const why = err.errorCode === 4 ? 'empty access token (CONNACK 4)' : 'unknown access token (CONNACK 5)';
      store.reject(transport, 'unauthorized', `CONNECT refused: ${why}`);
    }
  };
  broker.on('clientError', onError);
  broker.on('connectionError', onError);
}

module.exports = { startEmulator, demoDevices, demoGateway, movedPortWarning, DEFAULT_PORTS };
