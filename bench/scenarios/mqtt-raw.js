'use strict';
// The ceiling: a plain mqtt.js client outside Node-RED publishing the same readings at QoS 1 with
// the same number unfinished at once (next publish when a PUBACK callback fires). Counted at the
// broker exactly like the flows.
const mqtt = require('mqtt');
const { scenario } = require('../lib/child.js');
const { reading, tokenFor, TELEMETRY_TOPIC } = require('../lib/flows.js');
const { startCounter } = require('../lib/peers.js');
const { percentile } = require('../lib/stats.js');
const { closedLoop } = require('../lib/closed-loop.js');

scenario(async ({ port, count, window, warmup = 500, qos = 1 }) => {
  const client = mqtt.connect({ host: '127.0.0.1', port, username: tokenFor(0), clientId: `bench-raw-${process.pid}`, protocolVersion: 4, reconnectPeriod: 0 });
  await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
  let counter;
  try {
    const loop = (n) => closedLoop(n, window, (seq, done) => client.publish(TELEMETRY_TOPIC, JSON.stringify(reading(seq)), { qos }, done));
    await loop(warmup);
    await new Promise((r) => setTimeout(r, 300));
    counter = await startCounter(port, TELEMETRY_TOPIC);
    const cpu0 = process.cpuUsage();
    const run = await loop(count);
    const cpu = process.cpuUsage(cpu0);
    const got = await counter.settle(count);
    return {
      side: 'raw', count, window, ok: count, failed: 0,
      brokerEntries: got.entries, brokerPublishes: got.publishes,
      msgsPerSec: got.entries >= count ? count / ((got.lastAt - run.startedAt) / 1000) : null,
      doneMsgsPerSec: count / ((run.endedAt - run.startedAt) / 1000),
      p50: percentile(run.lat, 50), p99: percentile(run.lat, 99),
      cpuUsPerMsg: (cpu.user + cpu.system) / count,
    };
  } finally {
    if (counter) await counter.stop();
    await client.endAsync();
  }
});
