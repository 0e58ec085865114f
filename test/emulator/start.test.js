'use strict';
// `npm start` as a user runs it (node scripts/start.js, a child process): the emulator and
// Node-RED come up, the ready flow delivers over every transport the emulator offers, and
// SIGINT (Ctrl-C) stops everything with exit code 0. Then the TB_* variables point the same flow
// at "a real ThingsBoard" (here a separate emulator the test owns) with no emulator of its own.
// Everything runs on free ports with its data in a temporary folder.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEmulator } = require('../../emulator/index');
const { startScript, ZERO_PORTS } = require('./start-script');
const { havePeer, inCI } = require('../support/peers');

const root = path.join(__dirname, '..', '..');

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-start-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('npm start: emulator + Node-RED + ready flow deliver over every transport; Ctrl-C stops cleanly', { timeout: 120000 }, async (t) => {
  const dataDir = tempDir(t);
  const run = startScript(t, { ...ZERO_PORTS, EMULATOR_DATA_DIR: dataDir, TB_HOST: '' });
  const out = await run.waitFor(/All transports deliver|✗ nothing over/);
  assert.match(out, /All transports deliver/, out);
  // CoAPS runs when socat (its DTLS front) is installed; .ci/run installs it. Missing in CI is a
  // failure; locally a loud message.
  const transports = havePeer('socat') ? ['MQTT', 'MQTTS', 'CoAP', 'CoAPS'] : ['MQTT', 'MQTTS', 'CoAP'];
  if (!havePeer('socat')) {
    const msg = '!!! socat is not installed: the CoAPS part of npm start is not tested (apt-get install socat) !!!';
    if (inCI) assert.fail(msg);
    console.error(msg);
  }
  for (const transport of transports) assert.match(out, new RegExp(`✓ readings arrive over ${transport} `));
  const caFile = /CA certificate\s+(\S+)/.exec(out)[1];
  assert.equal(caFile, path.join(dataDir, 'pki', 'ca.pem'));
  assert.match(fs.readFileSync(caFile, 'utf8'), /BEGIN CERTIFICATE/);
  const editor = /Node-RED editor\s+(http:\S+)/.exec(out)[1];
  const page = /Emulator page\s+(http:\S+)/.exec(out)[1];
  // The attributes go once, a second after the start: wait for them too.
  let state;
  for (let i = 0; i < 300; i++) {
    state = await (await fetch(new URL('api/state', page))).json();
    if (state.devices[0].attributes.model) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const received = Object.fromEntries(state.devices.map((d) => [d.name, Object.keys(d.telemetry).sort()]));
  assert.deepEqual(received['demo-device-1'], ['humidity', 'temperature']);
  assert.deepEqual(received['demo-device-2'], ['humidity', 'temperature']);
  assert.deepEqual(received['demo-device-3'], ['humidity', 'temperature']);
  if (transports.includes('CoAPS')) assert.deepEqual(received['demo-device-4'], ['humidity', 'temperature']);
  assert.equal(state.devices[0].attributes.model, 'Node-RED demo sensor');
  assert.deepEqual(state.rejected, []);
  // The control loop: RPC from "ThingsBoard" (the emulator's HTTP API, what the page's RPC
  // button calls) is answered by the flow, and the new state comes back as client attributes.
  const rpc = async (method, params) => {
    const res = await fetch(new URL('api/devices/demo-device-1/rpc', page), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method, params, timeout: 10000 }) });
    return { status: res.status, body: await res.json() };
  };
  assert.deepEqual(await rpc('setLed', true), { status: 200, body: { id: 1, state: 'SUCCESSFUL', reply: { led: true } } });
  assert.deepEqual((await rpc('setInterval', 1)).body.reply, { interval: 1 });
  assert.match(JSON.stringify((await rpc('setInterval', 'soon')).body.reply), /setInterval takes the seconds/);
  for (let i = 0; i < 100; i++) {
    state = await (await fetch(new URL('api/state', page))).json();
    if (state.devices[0].attributes.interval === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state.devices[0].attributes.led, true);
  assert.equal(state.devices[0].attributes.interval, 1);
  // A shared attribute reaches the flow: the controlled sensor's temperature moves to it.
  await fetch(new URL('api/devices/demo-device-1/shared', page), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targetTemperature: 60 }) });
  let temperature = 0;
  for (let i = 0; i < 200 && temperature < 40; i++) {
    state = await (await fetch(new URL('api/state', page))).json();
    temperature = state.devices[0].telemetry.temperature.at(-1).value;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(temperature >= 40, `the temperature went to ${temperature}, not towards the target 60`);

  // The demo gateway: four sub-devices over one connection, RPC answered per sub-device.
  for (let i = 0; i < 200; i++) {
    state = await (await fetch(new URL('api/state', page))).json();
    if (['boiler-1', 'boiler-2', 'pump-1', 'meter-1'].every((n) => state.devices.some((d) => d.name === n && Object.keys(d.telemetry).length > 0))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const sub = (n) => state.devices.find((d) => d.name === n);
  assert.deepEqual(['boiler-1', 'pump-1', 'meter-1'].map((n) => [sub(n)?.gatewayName, sub(n)?.type]), [['demo-gateway', 'boiler'], ['demo-gateway', 'pump'], ['demo-gateway', 'meter']]);
  const subRpc = await fetch(new URL('api/devices/boiler-1/rpc', page), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'setSetpoint', params: 70, timeout: 10000 }) });
  assert.deepEqual((await subRpc.json()).reply, { device: 'boiler-1', setpoint: 70 });
  assert.match(out, /Gateway\s+\S+ +→ demo-gateway, token demo-gateway-token/);

  // The demo tab is deployed; the token is not readable through the admin API.
  const flows = await (await fetch(new URL('flows', editor))).json();
  assert.ok(flows.some((n) => n.type === 'tab' && n.id === 'tb-demo-tab'));
  assert.match(flows.find((n) => n.id === 'tb-demo-control-comment').name, /^Control demo-device-1 from the emulator page: /);
  assert.ok(!JSON.stringify(flows).includes('demo-token'));
  assert.ok(!JSON.stringify(flows).includes('demo-gateway-token'));

  await run.stop('SIGINT');
  assert.match(run.output(), /npm start: stopped\./);
  // Nothing is left listening on the editor's port.
  await assert.rejects(fetch(editor));
});

test('npm start with TB_HOST/TB_TOKEN/TB_TRANSPORT/TB_PORT/TB_CA_FILE: the ready flow goes to that server, no emulator', { timeout: 120000 }, async (t) => {
  const dataDir = tempDir(t);
  const server = await startEmulator({
    dataDir,
    devices: [{ name: 'real-device', token: 'real-token-0042' }],
    ports: { mqtt: false, mqtts: 0, coap: false, coaps: false, web: false },
  });
  t.after(() => server.close());
  const run = startScript(t, {
    ...ZERO_PORTS,
    EMULATOR_DATA_DIR: path.join(dataDir, 'start'),
    TB_HOST: '127.0.0.1',
    TB_TOKEN: 'real-token-0042',
    TB_TRANSPORT: 'mqtts',
    TB_PORT: String(server.ports.mqtts),
    TB_CA_FILE: server.caFile,
  });
  const out = await run.waitFor(/Ctrl-C stops everything/);
  assert.doesNotMatch(out, /Emulator page/);
  assert.match(out, new RegExp(`mqtts://127\\.0\\.0\\.1:${server.ports.mqtts}`));
  await new Promise((resolve) => {
    const onTelemetry = ({ device }) => {
      if (device === 'real-device') { server.store.off('telemetry', onTelemetry); resolve(); }
    };
    server.store.on('telemetry', onTelemetry);
  });
  assert.ok(server.store.latest('real-device').temperature);
  assert.ok(!run.output().includes('real-token-0042'), 'the token was printed');
  // The demo's control comment speaks of this server, not of "ThingsBoard device from ThingsBoard".
  const editor = /Node-RED editor\s+(http:\S+)/.exec(out)[1];
  const control = (await (await fetch(new URL('flows', editor))).json()).find((n) => n.id === 'tb-demo-control-comment');
  assert.equal(control.name, 'Control this device from ThingsBoard: RPC setInterval / setLed, shared targetTemperature');
  assert.doesNotMatch(control.info, /emulator page/);
  await run.stop('SIGTERM');
});

test('npm start with the MQTT port taken (a Mosquitto on 1883): a loud multi-line explanation names the moved port, the user\'s device nodes still on the old one, and the two ways out', { timeout: 120000 }, async (t) => {
  const dataDir = tempDir(t);
  // The other broker: a port this test holds (1883 itself may be in use by other tests).
  const other = require('node:net').createServer((s) => s.destroy());
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => other.close());
  const busy = other.address().port;
  // The user's own flow from an earlier session: a device node on that port (no credentials).
  fs.mkdirSync(path.join(dataDir, 'node-red'), { recursive: true });
  fs.writeFileSync(path.join(dataDir, 'node-red', 'flows.json'), JSON.stringify([
    { id: 'user-tab', type: 'tab', label: 'My flow' },
    { id: 'user-device', type: 'thingsboard-device', name: 'my greenhouse sensor', host: '127.0.0.1', port: String(busy), transport: 'mqtt' },
    { id: 'user-coap', type: 'thingsboard-device', name: 'my coap sensor', host: '127.0.0.1', port: '', transport: 'coap' },
  ]));
  const run = startScript(t, { ...ZERO_PORTS, EMULATOR_MQTT_PORT: String(busy), EMULATOR_DATA_DIR: dataDir, TB_HOST: '' });
  const out = await run.waitFor(/Ctrl-C stops everything/);
  const port = new RegExp(`MQTT +127\\.0\\.0\\.1:(\\d+)`).exec(out)[1];
  assert.notEqual(Number(port), busy);
  const warning = out.split('\n').filter((l) => l.startsWith('  !!! ')).map((l) => l.slice(6));
  assert.ok(warning.length >= 6, `a multi-line warning, not one line:\n${out}`);
  const text = warning.join('\n');
  assert.match(text, new RegExp(`MQTT port ${busy} is taken by another program .*listens on 127\\.0\\.0\\.1:${port} instead`));
  assert.match(text, new RegExp(`The demo flow uses the new port\\. Device nodes still set to ${busy} \\(the imported examples`));
  assert.match(text, /"connected" and Complete says "delivered", but nothing reaches the emulator/);
  assert.match(text, new RegExp(`still on the old port: "my greenhouse sensor" \\(mqtt://127\\.0\\.0\\.1:${busy}\\)`));
  assert.doesNotMatch(text, /my coap sensor/, 'only device nodes on the moved port are listed');
  assert.match(text, /stop the other program .* start again/);
  assert.match(text, new RegExp(`EMULATOR_MQTT_PORT=${port}`));
  assert.doesNotMatch(out, /note: MQTT port \d+ is busy/, 'the one-line note is replaced by the explanation');
  // The page says the same.
  const page = /Emulator page\s+(http:\S+)/.exec(out)[1];
  const state = await (await fetch(new URL('api/state', page))).json();
  assert.deepEqual(state.info.moved, [{ name: 'mqtt', label: 'MQTT', wanted: busy, port: Number(port) }]);
  await run.stop('SIGTERM');
});

test('npm start with TB_HOST: a device node of the user\'s own flows that cannot work is reported once, not again by the demo\'s deploy', { timeout: 120000 }, async (t) => {
  const dataDir = tempDir(t);
  const server = await startEmulator({ dataDir, devices: [{ name: 'real-device', token: 'real-token-0043' }], ports: { mqtt: 0, mqtts: false, coap: false, coaps: false, web: false } });
  t.after(() => server.close());
  // The user's flow from an earlier `npm start`: a device on the emulator, which does not run now.
  const closed = require('node:net').createServer();
  await new Promise((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = closed.address().port;
  await new Promise((resolve) => closed.close(resolve));
  const userDir = path.join(dataDir, 'start', 'node-red');
  fs.mkdirSync(userDir, { recursive: true });
  fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify([
    { id: 'user-tab', type: 'tab', label: 'My flow' },
    { id: 'user-device', type: 'thingsboard-device', name: 'my old emulator device', host: '127.0.0.1', port: String(closedPort), transport: 'mqtt' },
    { id: 'user-out', type: 'thingsboard-out', z: 'user-tab', device: 'user-device', x: 200, y: 80, wires: [] },
  ]));
  const run = startScript(t, { ...ZERO_PORTS, EMULATOR_DATA_DIR: path.join(dataDir, 'start'), TB_HOST: '127.0.0.1', TB_TOKEN: 'real-token-0043', TB_TRANSPORT: 'mqtt', TB_PORT: String(server.ports.mqtt) });
  await run.waitFor(/Ctrl-C stops everything/);
  // Without its token (flows_cred.json is not there) it says so: the same once-per-start warning
  // as a refused connection.
  await run.waitFor(/\[thingsboard-device:my old emulator device\] /);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const warnings = run.output().split('\n').filter((l) => /\[thingsboard-device:my old emulator device\] /.test(l));
  assert.equal(warnings.length, 1, run.output());
  await run.stop('SIGTERM');
});
