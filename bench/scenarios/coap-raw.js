'use strict';
// Baseline for CoAP: the `coap` package's Agent (one UDP socket) outside Node-RED, confirmable
// POSTs of the same readings to /api/v1/TOKEN/telemetry with `concurrency` requests in flight.
const coap = require('coap');
const { scenario } = require('../lib/child.js');
const { reading, tokenFor } = require('../lib/flows.js');
const { percentile } = require('../lib/stats.js');

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
  const loop = (n) => new Promise((resolve, reject) => {
    const lat = new Float64Array(n);
    let next = 0;
    let finished = 0;
    const t0 = performance.now();
    const one = () => {
      const seq = next++;
      const s = performance.now();
      post(seq).then(() => {
        lat[seq] = performance.now() - s;
        if (++finished === n) return resolve({ ms: performance.now() - t0, lat });
        if (next < n) one();
      }, reject);
    };
    for (let i = 0; i < Math.min(concurrency, n); i++) one();
  });
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
