'use strict';
// Heap per idle sub-device of a gateway: embedded Node-RED (--expose-gc), one gateway connection
// (thingsboard-device with gateway + thingsboard-out). One reading for a first sub-device puts
// the one-time costs in the baseline; then one reading for each of `subDevices` more names; when
// all are done (PUBACKed) and the queue is empty, the heap difference ÷ subDevices is what an
// idle sub-device costs (its name, its profile, its "connected in this session" mark).
const { scenario } = require('../lib/child.js');
const { startNodeRed } = require('../lib/node-red.js');
const { buildGatewayFlow, subDeviceName, reading } = require('../lib/flows.js');
const { waitForConnections } = require('../lib/sockets.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function settledHeap() {
  for (let i = 0; i < 4; i++) {
    global.gc();
    await sleep(100);
  }
  return process.memoryUsage().heapUsed;
}

scenario(async ({ port, subDevices = 10000, window = 100 }) => {
  if (typeof global.gc !== 'function') throw new Error('run with --expose-gc');
  const nr = await startNodeRed();
  try {
    if (!nr.hasType('thingsboard-out')) throw new Error('thingsboard-out is not built');
    const built = buildGatewayFlow('ours', { port });
    await nr.deploy(built.flows);
    await waitForConnections(port, 1, 30000);
    const driver = nr.getNode(built.driverId);
    // Warm-up: the code paths and one-time allocations, on names outside the measured set.
    await driver.run({ count: 2000, window, payload: reading, extra: (seq) => ({ device: `warm-${seq % 20}` }) });
    await sleep(500);
    const before = await settledHeap();
    const run = await driver.run({ count: subDevices, window, payload: reading, extra: (seq) => ({ device: subDeviceName(seq, subDevices) }) });
    if (run.failed) throw new Error(`${run.failed} readings failed`);
    await sleep(1500); // status throttles, PUBACK callbacks, Node-RED message bookkeeping
    const after = await settledHeap();
    const known = nr.getNode('gwcfg').connection.gateway.subDevices.size;
    return { subDevices, known, heapBefore: before, heapAfter: after, heapPerSubDevice: (after - before) / subDevices };
  } finally {
    await nr.stop();
  }
});
