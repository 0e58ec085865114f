'use strict';
// Our CoAP path as users get it: bench-driver → thingsboard-out → thingsboard-device (transport
// coap, default in-flight limit) in embedded Node-RED, against libcoap's server. CoAP has no
// broker to count at: a confirmable POST is delivered when its 2.xx arrives, which is when done()
// is called, so throughput is counted from Complete (first send → last done()).
const { scenario } = require('../lib/child.js');
const { startNodeRed } = require('../lib/node-red.js');
const { buildFlow, reading } = require('../lib/flows.js');
const { percentile } = require('../lib/stats.js');
const { startProfiler } = require('../lib/profiler.js');

scenario(async ({ port, count, window, warmup = 300, transport = 'coap', caCert = '', profile }) => {
  const nr = await startNodeRed();
  try {
    if (!nr.hasType('thingsboard-out')) throw new Error('thingsboard-out is not built');
    const { flows, driverId } = buildFlow('ours', { devices: 1, port, transport, caCert });
    await nr.deploy(flows);
    const driver = nr.getNode(driverId);
    const warm = await driver.run({ count: warmup, window, payload: reading });
    if (warm.failed) throw new Error(`warm-up: ${warm.failed} of ${warmup} failed`);
    const profiler = profile ? await startProfiler() : null;
    const cpu0 = process.cpuUsage();
    const run = await driver.run({ count, window, payload: reading });
    const cpu = process.cpuUsage(cpu0);
    if (profiler) await profiler.stopInto(profile);
    if (run.failed) throw new Error(`${run.failed} of ${count} failed`);
    return {
      side: 'ours', transport, count, window,
      msgsPerSec: count / ((run.endedAt - run.startedAt) / 1000),
      p50: percentile(run.latenciesMs, 50), p99: percentile(run.latenciesMs, 99),
      cpuUsPerMsg: (cpu.user + cpu.system) / count,
    };
  } finally {
    await nr.stop();
  }
});
