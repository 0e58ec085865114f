#!/usr/bin/env node
'use strict';
// Runs the ThingsBoard device-API emulator on its own (no Node-RED):
//   node emulator/cli.js [--host 127.0.0.1] [--mqtt 1883] [--mqtts 8883] [--coap 5683] [--web 1881]
//                        [--devices 4] [--data-dir .emulator] [--json]
// A port of 0 picks a free one; `--mqtts off` turns a front end off. With --json the first line
// on stdout is {"ports": {...}, "caFile": ..., "webUrl": ...} (for the benchmarks and scripts).
// Ctrl-C (SIGINT) or SIGTERM stops it.
const path = require('node:path');
const { startEmulator, demoDevices, DEFAULT_PORTS } = require('./index');

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
    console.log(require('node:fs').readFileSync(__filename, 'utf8').split('\n').slice(2, 8).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  const devices = demoDevices(args.devices);
  const emu = await startEmulator({ host: args.host, ports: args.ports, devices, dataDir: args.dataDir });
  if (args.json) {
    console.log(JSON.stringify({ ports: emu.ports, caFile: emu.caFile, webUrl: emu.webUrl, devices }));
  } else {
    for (const note of emu.notes) console.log(`emulator: ${note}`);
    console.log(describe(emu, devices));
  }

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
}

/** A short, readable summary of where everything is (also used by scripts/start.js). */
function describe(emu, devices) {
  const lines = ['ThingsBoard device-API emulator'];
  const row = (label, value) => lines.push(`  ${label.padEnd(9)} ${value}`);
  if (emu.ports.mqtt) row('MQTT', `mqtt://${emu.host}:${emu.ports.mqtt}`);
  if (emu.ports.mqtts) row('MQTTS', `mqtts://${emu.host}:${emu.ports.mqtts}`);
  if (emu.ports.coap) row('CoAP', `coap://${emu.host}:${emu.ports.coap}`);
  row('CoAPS', emu.ports.coaps ? `coaps://${emu.host}:${emu.ports.coaps}` : 'off (see the note above)');
  if (emu.caFile) row('CA file', emu.caFile);
  if (emu.webUrl) row('page', emu.webUrl);
  row('devices', devices.map((d) => `${d.name} (token ${d.token})`).join(', '));
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`emulator: ${err.message}`);
    process.exit(1);
  });
}

module.exports = { describe };
