'use strict';
// Baseline for CoAP: the `coap` package's Agent (one UDP socket) outside Node-RED, confirmable
// POSTs of the same readings to /api/v1/TOKEN/telemetry with `concurrency` requests in flight.
const coap = require('coap');
const { scenario } = require('../lib/child.js');
const { reading, tokenFor } = require('../lib/flows.js');
const { percentile } = require('../lib/stats.js');
const { closedLoop } = require('../lib/closed-loop.js');

scenario(async ({ port, count, concurrency, warmup = 300 }) => {
  const agent = new coap.Agent({ type: 'udp4' });
  const pathname = `/api/v1/${tokenFor(0)}/telemetry`;
  const post = (seq) => new Promise((resolve, reject) => {
    const req = coap.request({ hostname: '127.0.0.1', port, pathname, method: 'POST', confirmable: true, agent });
    req.setOption('Content-Format', 'application/json');
    req.once('response', (res) => {
      res.resume();
      if (String(res.code).startsWith('2.')) resolve();
      else reject(new Error(`CoAP ${res.code}`));
    });
    req.once('error', reject);
    req.end(JSON.stringify(reading(seq)));
  });
  const loop = (n) => closedLoop(n, concurrency, (seq, done) => post(seq).then(() => done(), done));
  try {
    await loop(warmup);
    const cpu0 = process.cpuUsage();
    const run = await loop(count);
    const cpu = process.cpuUsage(cpu0);
    return { side: 'raw', count, concurrency, msgsPerSec: count / (run.ms / 1000), p50: percentile(run.lat, 50), p99: percentile(run.lat, 99), cpuUsPerMsg: (cpu.user + cpu.system) / count };
  } finally {
    agent.close();
  }
});
