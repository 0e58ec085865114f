'use strict';
// One side (ours | core) of the MQTT flow benchmark in its own process: embedded Node-RED,
// the shared flow shape, a warm-up, then `count` QoS 1 messages with `window` unfinished at once.
// Throughput is counted at the broker (mosquitto_sub in its own process): first send → arrival of
// the last telemetry entry. Latency is send → Complete node (done()) per message, in the driver.
const { scenario } = require('../lib/child.js');
const { startNodeRed } = require('../lib/node-red.js');
const { buildFlow, reading, TELEMETRY_TOPIC } = require('../lib/flows.js');
const { startCounter } = require('../lib/peers.js');
const { waitForConnections } = require('../lib/sockets.js');
const { waitUntil, withTimeout } = require('../lib/wait.js');
const { percentile } = require('../lib/stats.js');
const { startProfiler } = require('../lib/profiler.js');
const { applyFromEnv } = require('../lib/experiments.js');

scenario(async ({ side, port, devices = 1, count, window, warmup = 500, qos = 1, profile, deviceProps }) => {
  const nr = await startNodeRed();
  let counter;
  try {
    if (side === 'ours' && !nr.hasType('thingsboard-out')) throw new Error('thingsboard-out is not built');
    const experiments = side === 'ours' ? applyFromEnv() : [];
    // deviceProps: thingsboard-device properties of a run (e.g. persist, whose queue lives in the userDir on this machine's disk).
    const { flows, driverId, configIds } = buildFlow(side, { devices, port, qos, deviceProps });
    await nr.deploy(flows);
    await waitForConnections(port, devices);
    // Core mqtt out drops (without done) what arrives before CONNACK: wait for it on every config.
    if (side === 'core') await waitUntil(() => configIds.every((id) => nr.getNode(id).connected), 60000, 'CONNACK on every mqtt-broker');
    const driver = nr.getNode(driverId);
    const payload = reading;
    // Warm-up: connections settled, code paths JIT-compiled, before anything is counted.
    const warm = await withTimeout(driver.run({ count: Math.max(warmup, devices), window, outputs: devices, payload }), 60000, 'warm-up');
    if (warm.failed) throw new Error(`warm-up: ${warm.failed} messages failed`);
    await new Promise((r) => setTimeout(r, 300));
    counter = await startCounter(port, TELEMETRY_TOPIC);
    const profiler = profile ? await startProfiler() : null;
    const cpu0 = process.cpuUsage();
    const run = await withTimeout(driver.run({ count, window, outputs: devices, payload }), 120000, 'run');
    const cpu = process.cpuUsage(cpu0);
    if (profiler) await profiler.stopInto(profile);
    const got = await counter.settle(count);
    const lat = run.latenciesMs;
    return {
      side, devices, count, window, experiments,
      ok: run.ok, failed: run.failed,
      brokerEntries: got.entries, brokerPublishes: got.publishes,
      msgsPerSec: got.entries >= count ? count / ((got.lastAt - run.startedAt) / 1000) : null,
      doneMsgsPerSec: count / ((run.endedAt - run.startedAt) / 1000),
      p50: percentile(lat, 50), p99: percentile(lat, 99),
      // CPU time of this whole process per message: robust when other load shares the machine.
      cpuUsPerMsg: (cpu.user + cpu.system) / count,
    };
  } finally {
    if (counter) await counter.stop();
    await nr.stop();
  }
});
