#!/usr/bin/env node
'use strict';
// Runs the ThingsBoard device-API emulator on its own (no Node-RED), so it can be stopped and
// started again while Node-RED keeps running (watch the nodes queue, then deliver):
//   node emulator/cli.js [--host 127.0.0.1] [--mqtt 1883] [--mqtts 8883] [--coap 5683]
//                        [--coaps 5684] [--web 1881] [--devices 4] [--data-dir .emulator] [--json]
//                        [--rate-limits "10:1,300:60"]
// A port of 0 picks a free one, `off` turns that front end off (e.g. `--coaps off`); a busy port
// is replaced by a free one, and said so. Devices demo-device-N have tokens demo-token-N. The CA
// and server certificate are made once in <data-dir>/pki and kept, so a restart needs no new CA.
// CoAPS needs Debian's socat. With --json the first line on stdout is {"ports": {...},
// "caFile": ..., "webUrl": ...} (for the benchmarks and scripts). --rate-limits enforces per-device
// limits like ThingsBoard ("10:1,300:60" for every message, or "messages=…; telemetryMessages=…;
// telemetryDataPoints=…"): MQTT 3.1.1 sessions over a limit are closed, CoAP gets 5.00, and
// getSessionLimits answers them; POST /api/limits {"rateLimits": "…"} changes them while it runs.
// Ctrl-C or SIGTERM stops it.
const path = require('node:path');
const { startEmulator, demoDevices, movedPortWarning, DEFAULT_PORTS } = require('./index');

function parseArgs(argv) {
  const args = { ports: {}, devices: 4, dataDir: path.join(__dirname, '..', '.emulator'), host: '127.0.0.1', json: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    const name = flag.replace(/^--/, '');
    if (name in DEFAULT_PORTS) {
      const v = next();
      args.ports[name] = v === 'off' ? false : Number(v);
      if (args.ports[name] !== false && !(Number.isInteger(args.ports[name]) && args.ports[name] >= 0 && args.ports[name] < 65536)) {
        throw new Error(`${flag}: not a port: ${v}`);
      }
    } else if (name === 'host') args.host = next();
    else if (name === 'devices') args.devices = Number(next());
    else if (name === 'data-dir') args.dataDir = path.resolve(next());
    else if (name === 'json') args.json = true;
    else if (name === 'rate-limits') {
      args.rateLimits = next();
      require('./limits').parseLimits(args.rateLimits); // a typo stops here, not at the first message
    }
    else if (name === 'help' || name === 'h') args.help = true;
    else throw new Error(`unknown option ${flag} (try --help)`);
  }
  return args;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`emulator: ${err.message}`);
    process.exit(2);
  }
  if (args.help) {
    // The usage is the comment at the top of this file, between the shebang and the code.
    const lines = require('node:fs').readFileSync(__filename, 'utf8').split('\n');
    console.log(lines.slice(2, lines.findIndex((l) => l.startsWith('const '))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  const devices = demoDevices(args.devices);
  const emu = await startEmulator({ host: args.host, ports: args.ports, devices, dataDir: args.dataDir, coapSeparateResponses: true, rateLimits: args.rateLimits });
  // Ctrl-C is handled before the summary says it may be pressed.
  let stopping = false;
  const stop = async (signal) => {
    if (stopping) process.exit(130); // a second Ctrl-C: do not wait any longer
    stopping = true;
    if (!args.json) console.log(`\nemulator: ${signal}, stopping ...`);
    await emu.close();
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (args.json) {
    console.log(JSON.stringify({ ports: emu.ports, caFile: emu.caFile, webUrl: emu.webUrl, devices }));
  } else {
    // Notes that describe() says in its own rows (why a front end is off) are not repeated, nor
    // the one-line "port N is busy" that the warning below explains.
    const moved = emu.moved.filter((m) => m.name !== 'web');
    for (const note of emu.notes) if (!offReason(emu, note) && !moved.some((m) => note.startsWith(`${m.label} port ${m.wanted} is busy`))) console.log(`emulator: ${note}`);
    console.log(describe(emu, devices, args.ports));
    const warning = movedPortWarning(moved, { host: emu.host, how: (m) => `--${m.name} ${m.port}` });
    if (warning.length) console.log(['', ...warning.map((l) => `!!! ${l}`)].join('\n'));
    console.log('\nCtrl-C stops it; start it again with the same options and clients reconnect.');
  }
}

const LABELS = { mqtt: 'MQTT', mqtts: 'MQTTS', coap: 'CoAP', coaps: 'CoAPS', web: 'page' };

/** The reason given in a note such as "CoAPS is off: it needs socat ...", or null. */
function offReason(emu, note) {
  const m = /^(MQTTS?|CoAPS?|page) is off: (.*)$/.exec(note);
  return m ? { label: m[1], reason: m[2] } : null;
}

/**
 * A short, readable summary of where everything is. A front end that is off says why on its
 * own row: turned off by its option, or the emulator's reason (no socat for CoAPS, ...).
 */
function describe(emu, devices, wantedPorts = {}) {
  const lines = ['ThingsBoard device-API emulator'];
  const row = (label, value) => lines.push(`  ${label.padEnd(9)} ${value}`);
  const reasons = {};
  for (const note of emu.notes || []) {
    const off = offReason(emu, note);
    if (off) reasons[off.label] = off.reason;
  }
  for (const name of ['mqtt', 'mqtts', 'coap', 'coaps']) {
    const label = LABELS[name];
    if (emu.ports[name]) row(label, `${name}://${emu.host}:${emu.ports[name]}`);
    else if (wantedPorts[name] === false) row(label, `off (--${name} off)`);
    else row(label, `off: ${reasons[label] || 'not started'}`);
  }
  if (emu.caFile) row('CA file', emu.caFile);
  if (emu.store && emu.store.rateLimitsText()) row('limits', `${emu.store.rateLimitsText()} per device (like ThingsBoard)`);
  if (emu.webUrl) row('page', emu.webUrl);
  else if (wantedPorts.web === false) row('page', 'off (--web off)');
  const first = devices[0];
  const last = devices[devices.length - 1];
  if (devices.length === 1) row('device', `${first.name} (token ${first.token})`);
  else if (devices.length > 1) row('devices', `${first.name} … ${last.name}, tokens ${first.token} … ${last.token}`);
  // The example flows' devices (emulator/store.js accepts these tokens unless exampleTokens is off).
  if (emu.store && emu.store.exampleTokens) row('examples', 'example-1 … example-99, tokens example-token-1 … example-token-99 (one per example flow)');
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`emulator: ${err.message}`);
    process.exit(1);
  });
}

module.exports = { describe };
