'use strict';
// Heap and RSS per idle device connection: embedded Node-RED in a fresh process started with
// --expose-gc; measure after start (nodes loaded, no flow), deploy `devices` config nodes each with
// one out node (a config node connects only when it has a user), wait until this process holds
// that many established TCP connections to the broker, let it idle, collect garbage, measure again.
const { scenario } = require('../lib/child.js');
const { startNodeRed } = require('../lib/node-red.js');
const { buildFlow } = require('../lib/flows.js');
const { waitForConnections } = require('../lib/sockets.js');
const { waitUntil } = require('../lib/wait.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function settledMemory() {
  for (let i = 0; i < 4; i++) {
    global.gc();
    await sleep(100);
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external + m.arrayBuffers };
}

scenario(async ({ side, port, devices, idleMs = 3000, transport = 'mqtt' }) => {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');
  const nr = await startNodeRed();
  try {
    if (side === 'ours' && !nr.hasType('thingsboard-out')) throw new Error('thingsboard-out is not built');
    // First a flow with ONE connected device, so one-time costs (modules loaded lazily on first
    // connect, the flow engine, Complete/Catch, the driver) are in the baseline; then `devices`
    // more: per connection = (after - before) / devices.
    const { flows: one } = buildFlow(side, { devices: 1, port, transport });
    await nr.deploy(one);
    if (transport === 'mqtt' || transport === 'mqtts') await waitForConnections(port, 1, 30000);
    await sleep(1000);
    const before = await settledMemory();
    const { flows, configIds: cfg } = buildFlow(side, { devices: devices + 1, port, transport });
    const t0 = Date.now();
    await nr.deploy(flows);
    if (transport === 'mqtt' || transport === 'mqtts') await waitForConnections(port, devices + 1, 120000);
    if (side === 'core') await waitUntil(() => cfg.every((id) => nr.getNode(id).connected), 60000, 'CONNACK on every connection');
    const connectMs = Date.now() - t0;
    await sleep(idleMs);
    const after = await settledMemory();
    return {
      side, devices, connectMs,
      heapPerConn: (after.heapUsed - before.heapUsed) / devices,
      rssPerConn: (after.rss - before.rss) / devices,
      externalPerConn: (after.external - before.external) / devices,
      before, after,
    };
  } finally {
    await nr.stop();
  }
});
