'use strict';
// `npm start`: try the package in two commands (`npm install && npm start`).
//   1. the local ThingsBoard device-API emulator (MQTT 1883, MQTTS 8883, CoAP 5683, page 1881),
//      demo devices with tokens demo-token-1.. (and example-token-N for the example flows), a CA
//      made at first start in .emulator/pki;
//   2. Node-RED (the devDependency) on 127.0.0.1:1880, userDir .emulator/node-red, this package
//      linked into it, and a ready flow that sends simulated readings over every transport.
// Point the ready flow at a real ThingsBoard instead (no emulator then):
//   TB_HOST=thingsboard.example.com TB_TOKEN=... [TB_TRANSPORT=mqtt|mqtts|coap|coaps] [TB_PORT=...] [TB_CA_FILE=ca.pem]
// Other knobs: NODE_RED_PORT, EMULATOR_DATA_DIR (default .emulator), EMULATOR_HOST, EMULATOR_{MQTT,MQTTS,COAP,COAPS,WEB}_PORT (a busy
// port is replaced by a free one, and the flow uses the port actually taken).
// Ctrl-C (SIGINT) or SIGTERM stops everything; a second Ctrl-C stops at once.
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { demoFlow, mergeDemo, DEFAULT_PORTS, ID_PREFIX } = require('./demo-flow');
const { startNodeRed } = require('./node-red-embedded');
const { movedPortWarning } = require('../emulator');

const root = path.join(__dirname, '..');
const dataDir = process.env.EMULATOR_DATA_DIR ? path.resolve(process.env.EMULATOR_DATA_DIR) : path.join(root, '.emulator');
const TRANSPORTS = ['mqtt', 'mqtts', 'coap', 'coaps'];
const LABELS = { mqtt: 'MQTT', mqtts: 'MQTTS', coap: 'CoAP', coaps: 'CoAPS' };

const say = (line = '') => console.log(line);
const fail = (msg) => {
  console.error(`npm start: ${msg}`);
  process.exit(1);
};

function envPort(name) {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`${name}=${v} is not a port number`);
  return n;
}

/** A path relative to the repo when it is inside it, else absolute. */
function shortPath(p) {
  const rel = path.relative(root, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

/** The newest modification time under a folder (files only). */
function newest(dir) {
  let t = 0;
  if (!fs.existsSync(dir)) return t;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/** `npm install` builds (prepare); rebuild here only when src/ changed since. */
function ensureBuilt() {
  const entry = path.join(root, 'nodes', 'lib', 'nodes', 'thingsboard-out.js');
  const stale = !fs.existsSync(entry) || newest(path.join(root, 'src')) > newest(path.join(root, 'nodes', 'lib'));
  if (!stale) return;
  say('npm start: building the package (npm run build) ...');
  const res = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.js')], { stdio: 'inherit', cwd: root });
  if (res.status !== 0) {
    if (!fs.existsSync(entry)) fail('the build failed and there is no compiled node to run (see above)');
    say('npm start: the build reported errors (see above); starting with what was compiled.');
  }
}

function tcpPortFree(host, port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A credentialSecret kept in .emulator, so flows_cred.json stays readable across starts. */
function credentialSecret() {
  const file = path.join(dataDir, 'credential-secret');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, crypto.randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

/**
 * The demo tab saved by the last start points at that start's ports; take it out of the flow file
 * before Node-RED starts, so it does not first try them (the new demo is deployed right after).
 */
function pruneOldDemo(flowFile) {
  let flows;
  try {
    flows = JSON.parse(fs.readFileSync(flowFile, 'utf8'));
  } catch {
    return; // first start, or a file Node-RED will report on itself
  }
  if (!Array.isArray(flows)) return;
  const kept = flows.filter((n) => !String(n.id).startsWith(ID_PREFIX));
  if (kept.length !== flows.length) fs.writeFileSync(flowFile, JSON.stringify(kept, null, 4));
}

/** The real-ThingsBoard target from TB_* variables, or null for the emulator. */
function realTarget() {
  const host = process.env.TB_HOST;
  if (!host) return null;
  const token = process.env.TB_TOKEN;
  if (!token) fail('TB_HOST is set but TB_TOKEN (the device access token) is not');
  const caFile = process.env.TB_CA_FILE;
  const transport = (process.env.TB_TRANSPORT || (caFile ? 'mqtts' : 'mqtt')).toLowerCase();
  if (!TRANSPORTS.includes(transport)) fail(`TB_TRANSPORT=${transport}: use one of ${TRANSPORTS.join(', ')}`);
  let caPem = '';
  if (caFile) {
    try {
      caPem = fs.readFileSync(caFile, 'utf8');
    } catch (err) {
      fail(`cannot read TB_CA_FILE ${caFile}: ${err.message}`);
    }
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) fail(`TB_CA_FILE ${caFile} holds no PEM certificate`);
  }
  const port = envPort('TB_PORT') || DEFAULT_PORTS[transport];
  return { host, caPem, caFile, targets: [{ transport, port, token, deviceName: 'ThingsBoard device' }] };
}

async function main() {
  ensureBuilt();
  const stoppers = []; // last started, first stopped
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) {
      say('npm start: stopping now.');
      process.exit(130);
    }
    stopping = true;
    say(`\nnpm start: ${signal}: stopping Node-RED and the emulator ...`);
    for (const fn of stoppers.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`npm start: while stopping: ${err.message}`);
      }
    }
    say('npm start: stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const real = realTarget();
  let flowTarget;
  let emu = null;
  const notes = [];
  if (real) {
    flowTarget = real;
  } else {
    const { startEmulator, demoDevices, demoGateway } = require('../emulator');
    const devices = demoDevices(4);
    emu = await startEmulator({
      host: process.env.EMULATOR_HOST || '127.0.0.1',
      dataDir,
      devices,
      // CoAP answered the way ThingsBoard answers it (empty ACK, then a separate response).
      coapSeparateResponses: true,
      ports: {
        mqtt: envPort('EMULATOR_MQTT_PORT'),
        mqtts: envPort('EMULATOR_MQTTS_PORT'),
        coap: envPort('EMULATOR_COAP_PORT'),
        coaps: envPort('EMULATOR_COAPS_PORT'),
        web: envPort('EMULATOR_WEB_PORT'),
      },
    });
    stoppers.push(() => emu.close());
    notes.push(...emu.notes);
    // One device per transport: ThingsBoard keeps one MQTT session per device, and the page
    // then shows each transport's readings apart.
    const targets = TRANSPORTS.filter((t) => emu.ports[t]).map((t, i) => ({ transport: t, port: emu.ports[t], token: devices[i].token, deviceName: devices[i].name }));
    // The demo gateway (ThingsBoard's gateway API, MQTT): sub-devices over one connection.
    const gateway = emu.ports.mqtt ? { port: emu.ports.mqtt, token: demoGateway().token, deviceName: demoGateway().name } : null;
    flowTarget = { host: emu.host, caPem: emu.caPem, caFile: emu.caFile, targets, gateway };
  }

  const wantedNrPort = envPort('NODE_RED_PORT') ?? 1880;
  let nrPort = wantedNrPort;
  if (nrPort && !(await tcpPortFree('127.0.0.1', nrPort))) {
    nrPort = 0;
  }
  pruneOldDemo(path.join(dataDir, 'node-red', 'flows.json'));
  const nr = await startNodeRed({
    userDir: path.join(dataDir, 'node-red'),
    port: nrPort,
    // TB_NODE_RED=node-red-5 (as test/run.js sets it) runs the same demo on node-red 5.
    nodeRedModule: process.env.TB_NODE_RED || 'node-red',
    logLevel: process.env.NODE_RED_LOG_LEVEL || 'warn',
    credentialSecret: credentialSecret(),
  });
  stoppers.push(() => nr.close());
  if (wantedNrPort && nr.port !== wantedNrPort) notes.push(`Node-RED port ${wantedNrPort} is busy: using ${nr.port} instead`);

  const demo = demoFlow({
    host: flowTarget.host,
    targets: flowTarget.targets,
    caPem: flowTarget.caPem,
    tabLabel: real ? `ThingsBoard at ${real.host}` : 'ThingsBoard demo (emulator)',
    emulator: !real,
    gateway: flowTarget.gateway || null,
  });
  const current = await nr.get('flows');
  const userFlows = Array.isArray(current.body) ? current.body : [];
  // Only the demo tab changed: a full deploy would restart the user's own flows too, and each of
  // their device nodes would print its warnings a second time.
  await nr.deploy(mergeDemo(userFlows, demo), 'flows');

  say('');
  say('  node-red-contrib-thingsboard-device: try it');
  say('  ──────────────────────────────────────────');
  say(`  Node-RED editor    ${nr.url}   (node-red ${nr.version}, userDir ${shortPath(path.join(dataDir, 'node-red'))})`);
  if (emu) {
    say(`  Emulator page      ${emu.webUrl}   (telemetry, charts, shared attributes, RPC, rejected requests)`);
    for (const t of TRANSPORTS) {
      const target = flowTarget.targets.find((x) => x.transport === t);
      say(`  ${LABELS[t].padEnd(6)}             ${target ? `${emu.host}:${target.port}  → ${target.deviceName}, token ${target.token}` : 'off (see the note below)'}`);
    }
    say(`  CA certificate     ${emu.caFile}`);
    say('                     (paste it into a config node\'s CA field for MQTTS/CoAPS)');
    if (flowTarget.gateway) say(`  Gateway            ${emu.host}:${flowTarget.gateway.port}  → ${flowTarget.gateway.deviceName}, token ${flowTarget.gateway.token}: sub-devices boiler-1, boiler-2, pump-1, meter-1 over one connection`);
    say('  More devices       demo-token-1 .. demo-token-4, and example-token-1 .. 99 (the examples); other tokens are refused');
    const first = flowTarget.targets[0];
    if (first) say(`  Try the downlink   on the page's ${first.deviceName} card: RPC setLed (true) or setInterval (seconds), shared attribute targetTemperature`);
  } else {
    const t = flowTarget.targets[0];
    say(`  ThingsBoard        ${t.transport}://${flowTarget.host}:${t.port}  (from TB_HOST/TB_TRANSPORT/TB_PORT)`);
    if (flowTarget.caFile) say(`  CA certificate     ${flowTarget.caFile}`);
  }
  const moved = emu ? emu.moved.filter((m) => m.name !== 'web') : [];
  for (const note of notes) if (!moved.some((m) => note.startsWith(`${m.label} port ${m.wanted} is busy`))) say(`  note: ${note}`);
  if (moved.length) {
    const warning = movedPortWarning(moved, {
      host: emu.host,
      demo: true,
      how: (m) => `EMULATOR_${m.name.toUpperCase()}_PORT=${m.port}`,
      stale: staleDevices(userFlows, moved, emu.host),
    });
    say('');
    say('  !!! ─────────────────────────────────────────────────────────────────────────────────────');
    for (const line of warning) say(`  !!! ${line}`);
    say('  !!! ─────────────────────────────────────────────────────────────────────────────────────');
    say('');
  }
  say('  Ctrl-C stops everything.');
  say('');

  if (emu) watchArrivals(emu, flowTarget.targets);
}

/**
 * The user's device nodes (not the demo's) that still point at a port the emulator could not
 * take: named, with host and port, never with their token.
 */
function staleDevices(flows, moved, emuHost) {
  const local = new Set(['127.0.0.1', 'localhost', '::1', '0.0.0.0', emuHost]);
  const out = [];
  for (const n of flows) {
    if (n.type !== 'thingsboard-device' || String(n.id).startsWith(ID_PREFIX)) continue;
    const transport = n.transport || 'mqtt';
    const m = moved.find((x) => x.name === transport);
    const port = String(n.port ?? '').trim() === '' ? DEFAULT_PORTS[transport] : Number(n.port);
    if (!m || port !== m.wanted || !local.has(String(n.host || '').trim())) continue;
    out.push(`"${n.name || n.id}" (${transport}://${n.host}:${port})`);
  }
  return out;
}

/** Tells once per transport that readings arrive (or, after a while, that they do not). */
function watchArrivals(emu, targets) {
  const waiting = new Map(targets.map((t) => [t.deviceName, t.transport]));
  const onTelemetry = ({ device, transport }) => {
    if (waiting.get(device) !== transport) return;
    waiting.delete(device);
    say(`  ✓ readings arrive over ${LABELS[transport]} (${device})`);
    if (waiting.size === 0) {
      say(`  All transports deliver: open ${emu.webUrl} to watch them.`);
      done();
    }
  };
  const timer = setTimeout(() => {
    for (const [device, transport] of waiting) say(`  ✗ nothing over ${LABELS[transport]} for ${device} yet: look at the node status in the editor and the page's rejected requests`);
    done();
  }, 20000);
  timer.unref();
  function done() {
    clearTimeout(timer);
    emu.store.off('telemetry', onTelemetry);
  }
  emu.store.on('telemetry', onTelemetry);
}

main().catch((err) => {
  console.error(`npm start: ${err.stack || err.message}`);
  process.exit(1);
});
