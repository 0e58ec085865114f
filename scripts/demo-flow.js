'use strict';
// The ready flow that `npm start` deploys: one row per transport, each a simulated sensor →
// thingsboard-out → its own thingsboard-device config node (credentials carried in the flow,
// as the admin API accepts them), one row of client attributes, and a Catch → debug so failed
// deliveries show in the sidebar. Every id starts with `tb-demo-`, so a restart replaces the
// demo tab and leaves the user's own tabs alone. The browser tests deploy the same flow.
//
// The first row's sensor is under control from ThingsBoard (the emulator page): server-side RPC
// `setInterval` (params: seconds) and `setLed` (params: true/false) arrive at a thingsboard-in
// (rpc), change the sensor and are answered through thingsboard-rpc-response; the new state is
// reported as client attributes (interval, led). The shared attribute `targetTemperature`
// (thingsboard-in, attributes, initial values at connect) makes that sensor's temperature move
// towards it.
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

// The controlled sensor: ticks every second, sends when its interval (flow context, set by
// setInterval) is due; the temperature approaches the shared attribute targetTemperature.
const CONTROLLED_SENSOR_CODE = [
  '// A simulated sensor under control: interval from RPC setInterval, target from the shared',
  '// attribute targetTemperature (see the nodes below).',
  "const every = flow.get('interval') || DEFAULT_INTERVAL;",
  "const last = context.get('last') || 0;",
  'if (Date.now() - last < every * 1000 - 100) return null;',
  "context.set('last', Date.now());",
  "const s = context.get('state') || { temperature: 20 + Math.random() * 3, humidity: 40 + Math.random() * 10 };",
  "const target = flow.get('targetTemperature');",
  "const pull = typeof target === 'number' ? (target - s.temperature) * 0.25 : 0;",
  's.temperature = Math.round((s.temperature + pull + (Math.random() - 0.5) * 0.6) * 100) / 100;',
  's.humidity = Math.min(100, Math.max(0, Math.round((s.humidity + (Math.random() - 0.5) * 2) * 10) / 10));',
  "context.set('state', s);",
  "node.status({ fill: flow.get('led') ? 'yellow' : 'grey', shape: 'dot', text: `every ${every} s · led ${flow.get('led') ? 'on' : 'off'}${typeof target === 'number' ? ` · target ${target}` : ''}` });",
  'msg.payload = { temperature: s.temperature, humidity: s.humidity };',
  'return msg;',
].join('\n');

// RPC from ThingsBoard → new sensor settings; output 1 is the reply (to thingsboard-rpc-response),
// output 2 the device's new state as client attributes.
const COMMAND_CODE = [
  '// setInterval: params = seconds (a number, or {"seconds": n}); setLed: params = true/false.',
  "const p = msg.payload !== null && typeof msg.payload === 'object' ? (msg.payload.seconds ?? msg.payload.on ?? msg.payload.value) : msg.payload;",
  "if (msg.topic === 'setInterval') {",
  '  const seconds = Number(p);',
  '  if (!Number.isFinite(seconds) || seconds < 1 || seconds > 3600) {',
  "    msg.payload = { error: 'setInterval takes the seconds between readings, 1 to 3600' };",
  '    return [msg, null];',
  '  }',
  "  flow.set('interval', seconds);",
  '  msg.payload = { interval: seconds };',
  "} else if (msg.topic === 'setLed') {",
  "  const on = p === true || p === 'true' || p === 1 || p === 'on';",
  "  flow.set('led', on);",
  '  msg.payload = { led: on };',
  '} else {',
  '  msg.payload = { error: `unknown method ${msg.topic}` };',
  '  return [msg, null];',
  '}',
  'return [msg, { payload: { ...msg.payload } }];',
].join('\n');

// Shared attribute → the sensor's target (msg.deleted: the attribute was removed).
const TARGET_CODE = [
  "if (Array.isArray(msg.deleted) && msg.deleted.includes('targetTemperature')) flow.set('targetTemperature', undefined);",
  "if (msg.payload && 'targetTemperature' in msg.payload) {",
  '  const t = Number(msg.payload.targetTemperature);',
  "  flow.set('targetTemperature', Number.isFinite(t) ? t : undefined);",
  '}',
  "const now = flow.get('targetTemperature');",
  "node.status({ fill: 'blue', shape: 'ring', text: now === undefined ? 'no target' : `target ${now}${msg.initial ? ' (at connect)' : ''}` });",
  'return null;',
].join('\n');

/**
 * @param {object} opts
 * @param {string} opts.host
 * @param {{transport: 'mqtt'|'mqtts'|'coap'|'coaps', port?: number, token: string, deviceName?: string}[]} opts.targets
 * @param {string} [opts.caPem] the CA for MQTTS/CoAPS (emulator CA, or TB_CA_FILE's contents)
 * @param {string} [opts.tabLabel]
 * @param {boolean} [opts.emulator] the targets are the local emulator (default true); false: a real
 *   ThingsBoard, whose own pages are where RPC and shared attributes are sent from
 * @param {number} [opts.intervalSeconds]
 * @returns {object[]} flow nodes (a JSON array, as in flows.json / examples)
 */
// Every property of a device config node the editor knows, at its default, so the editor shows the
// demo's devices as valid.
const DEVICE_DEFAULTS = {
  verifyServer: true,
  serverName: '',
  clientId: '',
  keepalive: 60,
  cleanSession: true,
  protocolVersion: 4,
  maxPayloadBytes: 65536,
  queueSize: 1000,
  confirmable: true,
  maxInFlight: 4,
};

function demoFlow({ host, targets, caPem = '', tabLabel = 'ThingsBoard demo', emulator = true, intervalSeconds = 2, gateway = null }) {
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
    const controlled = i === 0;
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
      ...DEVICE_DEFAULTS,
      credentials: { accessToken: target.token, caCert: secure ? caPem : '' },
    });
    add({
      id: `${ID_PREFIX}tick-${t}`,
      type: 'inject',
      name: controlled ? 'every second' : `every ${intervalSeconds} s`,
      props: [{ p: 'payload' }],
      repeat: controlled ? '1' : String(intervalSeconds),
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
      name: controlled ? 'sensor (controlled)' : 'simulated sensor',
      func: controlled ? CONTROLLED_SENSOR_CODE.replace('DEFAULT_INTERVAL', String(intervalSeconds)) : SENSOR_CODE,
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

  if (targets.length) y = controlLoop(add, targets[0], y, emulator);
  if (gateway) y = gatewayRows(add, nodes, host, gateway, y);

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

/**
 * RPC setInterval / setLed and the shared attribute targetTemperature for the first row's
 * device: thingsboard-in → function → thingsboard-rpc-response (+ the state as client attributes).
 */
function controlLoop(add, target, y, emulator) {
  const device = `${ID_PREFIX}device-${target.transport}`;
  const label = LABELS[target.transport];
  // Against a real server the device is "ThingsBoard device": "Control ThingsBoard device from
  // ThingsBoard" would read as nonsense, and the emulator page is not there to send from.
  const name = emulator
    ? `Control ${target.deviceName || 'the device'} from the emulator page: RPC setInterval / setLed, shared targetTemperature`
    : 'Control this device from ThingsBoard: RPC setInterval / setLed, shared targetTemperature';
  const info = emulator
    ? 'On the emulator page, in the card of this device: send RPC setLed (params true or false) or setInterval (params: seconds), or set the shared attribute targetTemperature. The reply appears on the page; the sensor in the first row changes.'
    : 'In ThingsBoard, for this device: send the RPC setLed (params true or false) or setInterval (params: seconds) from a dashboard\'s RPC widget or the REST API, or add the shared attribute targetTemperature (device → Attributes → Shared attributes). The sensor in the first row changes, and the new state comes back as client attributes.';
  add({ id: `${ID_PREFIX}control-comment`, type: 'comment', name, info, x: 430, y, wires: [] });
  y += 50;
  add({ id: `${ID_PREFIX}rpc-in`, type: 'thingsboard-in', name: 'RPC setInterval, setLed', device, receive: 'rpc', keys: '', initial: true, methods: 'setInterval,setLed', x: 160, y, wires: [[`${ID_PREFIX}command`]] });
  add({ id: `${ID_PREFIX}command`, type: 'function', name: 'apply to the sensor', func: COMMAND_CODE, outputs: 2, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 390, y, wires: [[`${ID_PREFIX}rpc-reply`], [`${ID_PREFIX}state-out`]] });
  add({ id: `${ID_PREFIX}rpc-reply`, type: 'thingsboard-rpc-response', name: 'reply', x: 610, y: y - 20, wires: [] });
  add({ id: `${ID_PREFIX}state-out`, type: 'thingsboard-out', name: `state as client attributes (${label})`, device, kind: 'attributes', qos: 1, key: '', x: 660, y: y + 20, wires: [] });
  y += 70;
  add({ id: `${ID_PREFIX}shared-in`, type: 'thingsboard-in', name: 'shared targetTemperature', device, receive: 'attributes', keys: 'targetTemperature', initial: true, methods: '', x: 170, y, wires: [[`${ID_PREFIX}target`]] });
  add({ id: `${ID_PREFIX}target`, type: 'function', name: 'set the sensor\'s target', func: TARGET_CODE, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 410, y, wires: [[]] });
  return y + 60;
}

// A simulated Modbus poll of four field devices, split into one message per sub-device.
const POLL_CODE = [
  '// One poll of a Modbus line: each unit becomes its own ThingsBoard device through the gateway',
  '// (msg.device = its name, msg.deviceType = its device profile).',
  "const units = [['boiler-1', 'boiler', 60], ['boiler-2', 'boiler', 55], ['pump-1', 'pump', 1450], ['meter-1', 'meter', 0]];",
  "const state = context.get('state') || {};",
  'const out = units.map(([name, type, base]) => {',
  "  const s = state[name] || (state[name] = { v: base, kwh: 100 * Math.random() });",
  "  s.v = type === 'meter' ? s.v : Math.round((s.v + (Math.random() - 0.5) * (type === 'pump' ? 20 : 0.8)) * 10) / 10;",
  '  s.kwh = Math.round((s.kwh + Math.random() * 0.2) * 1000) / 1000;',
  "  const payload = type === 'boiler' ? { temperature: s.v, setpoint: flow.get(`setpoint-${name}`) ?? 60 } : type === 'pump' ? { rpm: s.v } : { energy: s.kwh };",
  '  return { device: name, deviceType: type, payload };',
  '});',
  "context.set('state', state);",
  'return [out];',
].join('\n');

// RPC for one sub-device: setSetpoint (params: a number) / getSetpoint, answered per device.
const GATEWAY_RPC_CODE = [
  '// msg.device = the sub-device, msg.topic = the method; keep msg.device and msg.rpc for the reply.',
  "if (msg.topic === 'setSetpoint') flow.set(`setpoint-${msg.device}`, Number(msg.payload));",
  "msg.payload = { device: msg.device, setpoint: flow.get(`setpoint-${msg.device}`) ?? 60 };",
  'return msg;',
].join('\n');

/** A gateway (ThingsBoard's gateway API) with a handful of simulated sub-devices over one MQTT connection. */
function gatewayRows(add, nodes, host, gateway, y) {
  const configId = `${ID_PREFIX}device-gateway`;
  nodes.push({
    id: configId,
    type: 'thingsboard-device',
    name: `${gateway.deviceName || 'gateway'} (MQTT gateway)`,
    host,
    port: String(gateway.port || DEFAULT_PORTS.mqtt),
    transport: 'mqtt',
    ...DEVICE_DEFAULTS,
    gateway: true,
    credentials: { accessToken: gateway.token, caCert: '' },
  });
  add({ id: `${ID_PREFIX}gateway-comment`, type: 'comment', name: 'Gateway: four field devices over ONE connection (RPC setSetpoint / getSetpoint per sub-device)', info: 'A simulated Modbus poll split into one message per device: msg.device names the ThingsBoard sub-device. On the emulator page each sub-device has its own card; send RPC setSetpoint (params: a number) to boiler-1 and watch its setpoint change.', x: 470, y, wires: [] });
  y += 50;
  add({ id: `${ID_PREFIX}gateway-tick`, type: 'inject', name: 'poll every 2 s', props: [{ p: 'payload' }], repeat: '2', crontab: '', once: true, onceDelay: 1.5, topic: '', payload: '', payloadType: 'date', x: 140, y, wires: [[`${ID_PREFIX}gateway-poll`]] });
  add({ id: `${ID_PREFIX}gateway-poll`, type: 'function', name: 'Modbus poll → one msg per device', func: POLL_CODE, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 370, y, wires: [[`${ID_PREFIX}gateway-out`]] });
  add({ id: `${ID_PREFIX}gateway-out`, type: 'thingsboard-out', name: 'sub-device telemetry', device: configId, kind: 'telemetry', qos: 1, key: '', deviceName: '', deviceType: '', x: 620, y, wires: [] });
  y += 60;
  add({ id: `${ID_PREFIX}gateway-rpc-in`, type: 'thingsboard-in', name: 'sub-device RPC', device: configId, receive: 'rpc', keys: '', initial: true, methods: 'setSetpoint,getSetpoint', devices: '', x: 150, y, wires: [[`${ID_PREFIX}gateway-rpc`]] });
  add({ id: `${ID_PREFIX}gateway-rpc`, type: 'function', name: 'setpoint per sub-device', func: GATEWAY_RPC_CODE, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 370, y, wires: [[`${ID_PREFIX}gateway-reply`]] });
  add({ id: `${ID_PREFIX}gateway-reply`, type: 'thingsboard-rpc-response', name: 'reply to the sub-device', x: 600, y, wires: [] });
  return y + 60;
}

/** Replaces the demo nodes in a deployed flow (array from GET /flows) by `demo`, keeping the rest. */
function mergeDemo(existing, demo) {
  const kept = (existing || []).filter((n) => !String(n.id).startsWith(ID_PREFIX));
  return [...kept, ...demo];
}

module.exports = { demoFlow, mergeDemo, DEFAULT_PORTS, ID_PREFIX, TAB_ID };
