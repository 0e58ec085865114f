'use strict';
// The gateway benchmark, one side per process: `subDevices` × readings through
//   gateway  one thingsboard-device (gateway) + thingsboard-out with msg.device,
//   devices  today's path: one thingsboard-device connection per device (`devices` of them),
//   core     a function node building the gateway JSON by hand → core mqtt out (what users wire today).
// Readings go round robin over the devices, `window` unfinished at once (done() → Complete →
// driver). The peer is ThingsBoard's side as the emulator plays it (bench/lib/tb-peer.js, its own
// process): mosquitto would not do, it acknowledges a publish once whatever it holds, where
// ThingsBoard acknowledges each device entry. Throughput is counted there, as readings are
// stored: first send → last entry stored; CPU is this whole process's, per reading.
const { scenario } = require('../lib/child.js');
const { startNodeRed } = require('../lib/node-red.js');
const { buildFlow, buildGatewayFlow, subDeviceName, reading } = require('../lib/flows.js');
const { startTbPeer } = require('../lib/tb-peer.js');
const { waitForConnections } = require('../lib/sockets.js');
const { waitUntil, withTimeout } = require('../lib/wait.js');
const { percentile } = require('../lib/stats.js');
const { startProfiler } = require('../lib/profiler.js');

scenario(async ({ side, subDevices = 10000, devices = 1000, count, window, warmup = 500, profile }) => {
  const perDevice = side === 'devices';
  const peer = await startTbPeer({ devices: perDevice ? devices : 0, profile: profile ? profile.replace(/\.cpuprofile$/, '-peer.cpuprofile') : undefined });
  const port = peer.port;
  const nr = await startNodeRed();
  try {
    if (side !== 'core' && !nr.hasType('thingsboard-out')) throw new Error('thingsboard-out is not built');
    const built = perDevice ? buildFlow('ours', { devices, port, qos: 1 }) : buildGatewayFlow(side === 'gateway' ? 'ours' : 'core', { port, qos: 1 });
    await nr.deploy(built.flows);
    await waitForConnections(port, perDevice ? devices : 1, 120000);
    if (side === 'core') await waitUntil(() => nr.getNode('gwcfg').connected, 60000, 'CONNACK');
    const driver = nr.getNode(built.driverId);
    const outputs = perDevice ? devices : 1;
    const extra = perDevice ? undefined : (seq) => ({ device: subDeviceName(seq, subDevices) });
    // Warm-up (JIT, connections settled) on names outside the measured set: every measured
    // sub-device's first reading still pays for its v1/gateway/connect, as in production.
    const warmExtra = perDevice ? undefined : (seq) => ({ device: `warm-${seq % 50}` });
    const warm = await withTimeout(driver.run({ count: Math.max(warmup, outputs), window, outputs, payload: reading, extra: warmExtra }), 120000, 'warm-up');
    if (warm.failed) throw new Error(`warm-up: ${warm.failed} messages failed`);
    await new Promise((r) => setTimeout(r, 300));
    await new Promise((r) => setTimeout(r, 300));
    await peer.reset();
    const profiler = profile ? await startProfiler() : null;
    const cpu0 = process.cpuUsage();
    const run = await withTimeout(driver.run({ count, window, outputs, payload: reading, extra }), 300000, 'run');
    const cpu = process.cpuUsage(cpu0);
    if (profiler) await profiler.stopInto(profile);
    const got = await peer.settle(count);
    if (profile) await peer.stopProfile();
    return {
      side, count, window, subDevices: perDevice ? 0 : subDevices, devices: perDevice ? devices : 1,
      ok: run.ok, failed: run.failed, storedEntries: got.entries, telemetryPublishes: got.publishes,
      readingsPerSec: got.entries >= count ? count / ((got.lastAt - run.startedAt) / 1000) : null,
      doneReadingsPerSec: count / ((run.endedAt - run.startedAt) / 1000),
      p50: percentile(run.latenciesMs, 50), p99: percentile(run.latenciesMs, 99),
      cpuUsPerReading: (cpu.user + cpu.system) / count,
      peerCpuUsPerReading: got.cpuUs / count,
    };
  } finally {
    await nr.stop();
    await peer.stop();
  }
});
