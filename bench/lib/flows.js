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

module.exports = { buildFlow, reading, tokenFor, TELEMETRY_TOPIC };
