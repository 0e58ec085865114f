'use strict';
// The ready flow that `npm start` deploys: one row per transport, each a simulated sensor →
// thingsboard-out → its own thingsboard-device config node (credentials carried in the flow,
// as the admin API accepts them), one row of client attributes, and a Catch → debug so failed
// deliveries show in the sidebar. Every id starts with `tb-demo-`, so a restart replaces the
// demo tab and leaves the user's own tabs alone. The browser tests deploy the same flow.
const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, coap: 5683, coaps: 5684 };
const LABELS = { mqtt: 'MQTT', mqtts: 'MQTTS', coap: 'CoAP', coaps: 'CoAPS' };
const ID_PREFIX = 'tb-demo-';
const TAB_ID = `${ID_PREFIX}tab`;

// A room that warms and cools slowly: values drift, so the charts on the emulator page move.
const SENSOR_CODE = [
  '// A simulated sensor: temperature and humidity drift a little on every tick.',
  "const s = context.get('state') || { temperature: 20 + Math.random() * 3, humidity: 40 + Math.random() * 10 };",
  's.temperature = Math.round((s.temperature + (Math.random() - 0.5) * 0.6) * 100) / 100;',
  's.humidity = Math.min(100, Math.max(0, Math.round((s.humidity + (Math.random() - 0.5) * 2) * 10) / 10));',
  "context.set('state', s);",
  'msg.payload = { temperature: s.temperature, humidity: s.humidity };',
  'return msg;',
].join('\n');

/**
 * @param {object} opts
 * @param {string} opts.host
 * @param {{transport: 'mqtt'|'mqtts'|'coap'|'coaps', port?: number, token: string, deviceName?: string}[]} opts.targets
 * @param {string} [opts.caPem] the CA for MQTTS/CoAPS (emulator CA, or TB_CA_FILE's contents)
 * @param {string} [opts.tabLabel]
 * @param {number} [opts.intervalSeconds]
 * @returns {object[]} flow nodes (a JSON array, as in flows.json / examples)
 */
function demoFlow({ host, targets, caPem = '', tabLabel = 'ThingsBoard demo', intervalSeconds = 2 }) {
  const nodes = [{
    id: TAB_ID,
    type: 'tab',
    label: tabLabel,
    disabled: false,
    info: 'Made by `npm start`: simulated readings sent to ThingsBoard over each transport. '
      + 'This tab is rewritten at every start; copy its nodes to another tab to keep your changes.',
  }];
  const add = (node) => { nodes.push({ z: TAB_ID, ...node }); return node; };

  add({ id: `${ID_PREFIX}comment`, type: 'comment', name: `Simulated sensors → ThingsBoard at ${host}`, info: '', x: 250, y: 40, wires: [] });

  let y = 100;
  targets.forEach((target, i) => {
    const t = target.transport;
    const secure = t === 'mqtts' || t === 'coaps';
    const configId = `${ID_PREFIX}device-${t}`;
    const label = LABELS[t];
    nodes.push({
      id: configId,
      type: 'thingsboard-device',
      name: `${target.deviceName || 'device'} (${label})`,
      host,
      port: String(target.port || DEFAULT_PORTS[t]),
      transport: t,
      verifyServer: true,
      serverName: '',
      // Every property the editor knows, at its default, so the editor shows the node as valid.
      clientId: '',
      keepalive: 60,
      cleanSession: true,
      protocolVersion: 4,
      maxPayloadBytes: 65536,
      queueSize: 1000,
      confirmable: true,
      maxInFlight: 4,
      credentials: { accessToken: target.token, caCert: secure ? caPem : '' },
    });
    add({
      id: `${ID_PREFIX}tick-${t}`,
      type: 'inject',
      name: `every ${intervalSeconds} s`,
      props: [{ p: 'payload' }],
      repeat: String(intervalSeconds),
      crontab: '',
      once: true,
      onceDelay: 0.5 + i * 0.2,
      topic: '',
      payload: '',
      payloadType: 'date',
      x: 140,
      y,
      wires: [[`${ID_PREFIX}sensor-${t}`]],
    });
    add({
      id: `${ID_PREFIX}sensor-${t}`,
      type: 'function',
      name: 'simulated sensor',
      func: SENSOR_CODE,
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 340,
      y,
      wires: [[`${ID_PREFIX}out-${t}`]],
    });
    add({
      id: `${ID_PREFIX}out-${t}`,
      type: 'thingsboard-out',
      name: `telemetry over ${label}`,
      device: configId,
      kind: 'telemetry',
      qos: 1,
      key: '',
      x: 570,
      y,
      wires: [],
    });
    y += 60;
  });

  if (targets.length) {
    const first = targets[0];
    add({
      id: `${ID_PREFIX}attrs-once`,
      type: 'inject',
      name: 'once at start',
      props: [{ p: 'payload' }],
      repeat: '',
      crontab: '',
      once: true,
      onceDelay: 1,
      topic: '',
      payload: JSON.stringify({ firmware: '0.1.0', model: 'Node-RED demo sensor', location: 'lab' }),
      payloadType: 'json',
      x: 150,
      y,
      wires: [[`${ID_PREFIX}attrs-out`]],
    });
    add({
      id: `${ID_PREFIX}attrs-out`,
      type: 'thingsboard-out',
      name: `client attributes over ${LABELS[first.transport]}`,
      device: `${ID_PREFIX}device-${first.transport}`,
      kind: 'attributes',
      qos: 1,
      key: '',
      x: 590,
      y,
      wires: [],
    });
    y += 60;
  }

  add({ id: `${ID_PREFIX}catch`, type: 'catch', name: 'failed deliveries', scope: null, uncaught: false, x: 150, y: y + 20, wires: [[`${ID_PREFIX}debug`]] });
  add({
    id: `${ID_PREFIX}debug`,
    type: 'debug',
    name: 'why it failed',
    active: true,
    tosidebar: true,
    console: false,
    tostatus: false,
    complete: 'error',
    targetType: 'msg',
    statusVal: '',
    statusType: 'auto',
    x: 370,
    y: y + 20,
    wires: [],
  });
  return nodes;
}

/** Replaces the demo nodes in a deployed flow (array from GET /flows) by `demo`, keeping the rest. */
function mergeDemo(existing, demo) {
  const kept = (existing || []).filter((n) => !String(n.id).startsWith(ID_PREFIX));
  return [...kept, ...demo];
}

module.exports = { demoFlow, mergeDemo, DEFAULT_PORTS, ID_PREFIX, TAB_ID };
