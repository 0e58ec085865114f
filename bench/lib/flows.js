'use strict';
// The one flow shape both sides are measured with:
//   bench-driver ──► out node (one per device) ; Complete(out nodes) ──► driver ; Catch(out nodes) ──► driver
// "ours": thingsboard-device config + thingsboard-out; "core": mqtt-broker config + mqtt out
// (topic v1/devices/me/telemetry, username = access token: what users hand-wire today).
// Flow nodes need x/y: without them the runtime takes them for config nodes.

const TELEMETRY_TOPIC = 'v1/devices/me/telemetry';

/** A reading like a sensor gateway sends; a fresh object per message, as an inject/function would make. */
function reading(seq) {
  return { temperature: 20 + (seq % 100) / 10, humidity: 40 + (seq % 7), seq };
}

function tokenFor(i) {
  return `bench-token-${String(i).padStart(4, '0')}`;
}

/**
 * @param {'ours'|'core'} side
 * @param {{devices:number, host?:string, port:number, transport?:string, qos?:number, caCert?:string}} o
 */
function buildFlow(side, o) {
  const devices = o.devices ?? 1;
  const qos = o.qos ?? 1;
  const tab = { id: 'bench-tab', type: 'tab', label: 'bench' };
  const flows = [tab];
  const outIds = [];
  const configIds = [];
  for (let i = 0; i < devices; i++) {
    const cfgId = `cfg${i}`;
    const outId = `out${i}`;
    configIds.push(cfgId);
    outIds.push(outId);
    if (side === 'ours') {
      flows.push({
        id: cfgId, type: 'thingsboard-device', name: `bench ${i}`,
        host: o.host || '127.0.0.1', port: String(o.port), transport: o.transport || 'mqtt',
        clientId: `bench-ours-${process.pid}-${i}`,
        ...(o.deviceProps || {}),
        credentials: { accessToken: tokenFor(i), caCert: o.caCert || '' },
      });
      flows.push({ id: outId, type: 'thingsboard-out', z: tab.id, x: 300, y: 40 + i, name: '', device: cfgId, kind: 'telemetry', qos: String(qos), key: '', wires: [] });
    } else {
      flows.push({
        id: cfgId, type: 'mqtt-broker', name: `bench ${i}`, broker: o.host || '127.0.0.1', port: String(o.port),
        clientid: `bench-core-${process.pid}-${i}`, autoConnect: true, usetls: false, protocolVersion: '4',
        keepalive: '60', cleansession: true, autoUnsubscribe: true,
        birthTopic: '', closeTopic: '', willTopic: '',
        credentials: { user: tokenFor(i), password: '' },
      });
      flows.push({ id: outId, type: 'mqtt out', z: tab.id, x: 300, y: 40 + i, name: '', topic: TELEMETRY_TOPIC, qos: String(qos), retain: 'false', broker: cfgId, wires: [] });
    }
  }
  const driverWires = outIds.map((id) => [id]);
  flows.push({ id: 'driver', type: 'bench-driver', z: tab.id, x: 100, y: 40, name: 'driver', outputs: Math.max(devices, 1), wires: driverWires });
  flows.push({ id: 'complete', type: 'complete', z: tab.id, x: 100, y: 100, scope: outIds, uncaught: false, wires: [['driver']] });
  flows.push({ id: 'catch', type: 'catch', z: tab.id, x: 100, y: 140, scope: outIds, uncaught: false, wires: [['driver']] });
  return { flows, outIds, configIds, driverId: 'driver' };
}

const GATEWAY_TELEMETRY_TOPIC = 'v1/gateway/telemetry';

/** The sub-device of reading `seq` when `subDevices` share one gateway (round robin). */
function subDeviceName(seq, subDevices) {
  return `sub-${String(seq % subDevices).padStart(5, '0')}`;
}

// What users wire today for a gateway (ThingsBoard's and Node-RED's forums): a function node
// that builds the gateway JSON by hand, sends v1/gateway/connect the first time it sees a name,
// and a core mqtt out with the gateway's token.
const HAND_BUILT_GATEWAY = [
  "const seen = context.get('seen') || new Set();",
  "context.set('seen', seen);",
  'const name = msg.device;',
  'const out = [];',
  'if (!seen.has(name)) {',
  '  seen.add(name);',
  "  out.push({ topic: 'v1/gateway/connect', payload: JSON.stringify({ device: name, type: 'default' }) });",
  '}',
  "msg.topic = 'v1/gateway/telemetry';",
  'msg.payload = JSON.stringify({ [name]: [{ ts: Date.now(), values: msg.payload }] });',
  'out.push(msg);',
  'return [out];',
].join('\n');

/**
 * One gateway connection for every sub-device: `ours` = thingsboard-device (gateway) +
 * thingsboard-out with msg.device; `core` = function (hand-built gateway JSON) → mqtt out.
 * The driver's readings carry msg.device (driver.run's `extra`).
 */
function buildGatewayFlow(side, o) {
  const qos = o.qos ?? 1;
  const tab = { id: 'bench-tab', type: 'tab', label: 'bench' };
  const flows = [tab];
  const token = 'bench-gateway-token';
  const outIds = side === 'ours' ? ['gwout'] : ['gwout'];
  if (side === 'ours') {
    flows.push({
      id: 'gwcfg', type: 'thingsboard-device', name: 'bench gateway', host: '127.0.0.1', port: String(o.port), transport: 'mqtt',
      clientId: `bench-gw-ours-${process.pid}`, gateway: true, credentials: { accessToken: token, caCert: '' },
    });
    flows.push({ id: 'gwout', type: 'thingsboard-out', z: tab.id, x: 300, y: 40, name: '', device: 'gwcfg', kind: 'telemetry', qos: String(qos), key: '', deviceName: '', deviceType: '', wires: [] });
    flows.push({ id: 'driver', type: 'bench-driver', z: tab.id, x: 100, y: 40, name: 'driver', outputs: 1, wires: [['gwout']] });
  } else {
    flows.push({
      id: 'gwcfg', type: 'mqtt-broker', name: 'bench gateway', broker: '127.0.0.1', port: String(o.port),
      clientid: `bench-gw-core-${process.pid}`, autoConnect: true, usetls: false, protocolVersion: '4',
      keepalive: '60', cleansession: true, autoUnsubscribe: true, birthTopic: '', closeTopic: '', willTopic: '',
      credentials: { user: token, password: '' },
    });
    flows.push({ id: 'gwfn', type: 'function', z: tab.id, x: 200, y: 40, name: 'gateway JSON by hand', func: HAND_BUILT_GATEWAY, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], wires: [['gwout']] });
    flows.push({ id: 'gwout', type: 'mqtt out', z: tab.id, x: 300, y: 40, name: '', topic: '', qos: String(qos), retain: 'false', broker: 'gwcfg', wires: [] });
    flows.push({ id: 'driver', type: 'bench-driver', z: tab.id, x: 100, y: 40, name: 'driver', outputs: 1, wires: [['gwfn']] });
  }
  flows.push({ id: 'complete', type: 'complete', z: tab.id, x: 100, y: 100, scope: outIds, uncaught: false, wires: [['driver']] });
  flows.push({ id: 'catch', type: 'catch', z: tab.id, x: 100, y: 140, scope: outIds, uncaught: false, wires: [['driver']] });
  return { flows, outIds, configIds: ['gwcfg'], driverId: 'driver' };
}

module.exports = { buildFlow, buildGatewayFlow, subDeviceName, reading, tokenFor, TELEMETRY_TOPIC, GATEWAY_TELEMETRY_TOPIC };
