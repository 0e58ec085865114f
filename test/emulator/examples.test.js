'use strict';
// Every examples/*.json, deployed all together into a real Node-RED against the emulator (ports
// and CA filled in the way a user would), works and keeps to its own device: each example has its
// own access token example-token-N and page card example-N, telemetry examples deliver, the
// downlink examples subscribe, answer RPC from "ThingsBoard" and make requests.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startEmulator } = require('../../emulator/index');
const { startNodeRed } = require('../../scripts/node-red-embedded');
const { havePeer } = require('../support/peers');
const { waitFor } = require('../support/wait');

const root = path.join(__dirname, '..', '..');
const dir = path.join(root, 'examples');

function tempDir(t, prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('examples: distinct devices and tokens; the CA step first in examples 2 and 4', () => {
  const tokens = new Map();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const n = Number(file.split(' ')[0]);
    const flow = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const devices = flow.filter((x) => x.type === 'thingsboard-device');
    assert.ok(devices.length >= 1, file);
    for (const d of devices) {
      const token = d.credentials.accessToken;
      if (token === 'not-a-valid-token') continue; // example 6 shows a refused token on purpose
      assert.equal(token, `example-token-${n}`, `${file}: its own token`);
      assert.match(d.name, new RegExp(`\\(example ${n}\\)`), `${file}: a device name that says which example`);
      assert.ok(!tokens.has(token), `${file} shares ${token} with ${tokens.get(token)}`);
      tokens.set(token, file);
      assert.match(d.name, /^Emulator (MQTTS?|CoAPS?)( gateway)? \(example \d+\)(, wrong token)?$/, `${file}: the device name says what it is, no instructions`);
      if (d.transport === 'mqtts' || d.transport === 'coaps') {
        const first = flow.find((x) => x.type === 'comment');
        assert.match(first.name, /paste the CA/, `${file}: the first comment's name says the CA step`);
        assert.match(first.info, /^\*\*Before you deploy:\*\* Paste the emulator's CA/, `${file}: the comment starts with the CA step`);
      }
    }
  }
  assert.ok(tokens.size >= 10, `${tokens.size} example devices`);
});

test('examples: each imports into its own tab named after it; every thingsboard-* and debug node says what it does and in which example', () => {
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const n = Number(file.split(' ')[0]);
    const flow = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const tabs = flow.filter((x) => x.type === 'tab');
    assert.equal(tabs.length, 1, `${file}: one tab (Node-RED otherwise imports into the current tab, "Flow 1")`);
    assert.equal(tabs[0].label, file.replace(/\.json$/, ''), `${file}: the tab is named after the example`);
    for (const node of flow) {
      if (node.type === 'tab' || node.type === 'thingsboard-device') continue;
      assert.equal(node.z, tabs[0].id, `${file}: ${node.type} "${node.name || node.id}" is on the example's tab`);
      if (/^thingsboard-|^debug$/.test(node.type)) {
        // The debug sidebar shows the node's name: it says which example spoke.
        assert.match(node.name || '', new RegExp(`^\\S.* \\(example ${n}\\)$`), `${file}: ${node.type} ${node.id} named after what it does, with its example`);
      }
    }
    assert.ok(flow.filter((x) => x.type === 'thingsboard-device').every((d) => d.z === undefined), `${file}: device config nodes stay global (other tabs can use them)`);
  }
});

test('examples: their names sort in their numbered order, as Import → Examples lists them (01 … 10, not 1, 10, 2)', () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  const byNumber = [...files].sort((x, y) => Number(x.split(' ')[0]) - Number(y.split(' ')[0]));
  assert.ok(byNumber.every((f) => Number.isInteger(Number(f.split(' ')[0]))), `every example name starts with its number: ${files.join(', ')}`);
  assert.deepEqual([...files].sort(), byNumber);
});

test('examples: all deployed together against the emulator, each works on its own device', { timeout: 180000 }, async (t) => {
  const emu = await startEmulator({ dataDir: tempDir(t, 'tb-examples-emu-'), ports: { mqtt: 0, mqtts: 0, coap: 0, coaps: havePeer('socat') ? 0 : false, web: 0 } });
  t.after(() => emu.close());
  const nr = await startNodeRed({ userDir: tempDir(t, 'tb-examples-nr-'), port: 0, nodeRedModule: process.env.TB_NODE_RED || 'node-red' });
  t.after(() => nr.close());

  const flows = [];
  const byExample = new Map();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const n = Number(file.split(' ')[0]);
    // Each example as its file holds it: its own tab and nodes.
    const nodes = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    byExample.set(n, nodes);
    for (const node of nodes) {
      if (node.type === 'thingsboard-device') {
        // What a user does: the emulator's ports (free ones here) and, for TLS/DTLS, its CA.
        node.port = String(emu.ports[node.transport] || 1);
        if (node.transport === 'mqtts' || node.transport === 'coaps') node.credentials.caCert = emu.caPem;
      }
      flows.push(node);
    }
  }
  const res = await nr.deploy(flows);
  assert.equal(res.status, 204, JSON.stringify(res.body));
  const device = (n) => emu.store.devices.get(`example-${n}`);

  // Telemetry and attribute examples deliver to their own card.
  const telemetry = [1, 2, 3, 7].concat(emu.ports.coaps ? [4] : []);
  for (const n of telemetry) await waitFor(() => device(n) && device(n).telemetry.size > 0, `telemetry of example ${n}`, 30000);
  await waitFor(() => device(5) && device(5).attributes.firmwareVersion, 'the client attributes of example 5', 30000);
  assert.deepEqual([1, 2, 3, 7].map((n) => device(n).messages > 0), [true, true, true, true]);
  assert.equal(emu.store.devices.get('demo-device-1').messages, 0, 'an example used a demo device');

  // 8: subscribed to shared attributes (and fetched the initial values).
  await waitFor(() => device(8) && device(8).sessions.size === 1 && [...device(8).sessions][0].channels.has('attributes'), 'example 8 subscribed to shared attributes', 30000);
  // 9: answers RPC from "ThingsBoard" (what the page's RPC button does).
  await waitFor(() => device(9) && [...device(9).sessions].some((s) => s.channels.has('rpc')), 'example 9 subscribed to RPC', 30000);
  const rpc = async (method, params) => {
    const r = await fetch(new URL('api/devices/example-9/rpc', emu.webUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method, params, timeout: 10000 }) });
    return { status: r.status, body: await r.json() };
  };
  assert.deepEqual((await rpc('setRelay', true)).body.reply, { relay: true });
  assert.deepEqual((await rpc('getRelay', {})).body.reply, { relay: true });
  assert.equal((await rpc('selfDestruct', {})).status, 504, 'a method the in-node does not take times out');
  // 10: the injects a user presses: report firmware, ask for attributes, call getCurrentTime.
  const injects = byExample.get(10).filter((x) => x.type === 'inject');
  for (const inject of injects.sort((a, b) => a.name.localeCompare(b.name))) {
    const r = await fetch(new URL(`inject/${inject.id}`, nr.url), { method: 'POST' });
    assert.equal(r.status, 200, inject.name);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await waitFor(() => device(10) && device(10).clientRpc.some((c) => c.method === 'getCurrentTime'), 'example 10\'s client-side RPC', 30000);
  assert.equal(device(10).attributes.firmware, '1.4.2');
  // 11: a gateway: its simulated poll creates three sub-devices with their profiles; RPC per sub-device.
  for (const name of ['boiler-1', 'boiler-2', 'pump-7']) await waitFor(() => emu.store.devices.get(name) && emu.store.devices.get(name).telemetry.size > 0, `sub-device ${name} of example 11`, 30000);
  assert.deepEqual(['boiler-1', 'pump-7'].map((n) => [emu.store.devices.get(n).type, emu.store.devices.get(n).gatewayName]), [['boiler', 'example-11'], ['pump', 'example-11']]);
  await waitFor(() => [...emu.store.devices.get('pump-7').sessions].some((s) => s.channels.has('rpc')), 'example 11 subscribed to sub-device RPC', 30000);
  const subRpc = await fetch(new URL('api/devices/pump-7/rpc', emu.webUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'setSetpoint', params: 65, timeout: 10000 }) });
  assert.deepEqual((await subRpc.json()).reply, { device: 'pump-7', setpoint: 65 });
  assert.deepEqual(emu.store.rejected.filter((r) => !/unknown access token/.test(r.reason)), [], 'only example 6\'s wrong token is refused');
});
