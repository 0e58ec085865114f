'use strict';
// Our CoAP transport (src/transports/coap/transport.ts) used directly, the way the device layer drives it:
// `maxInFlight` sends outstanding, the next one when one resolves. mode 'throughput' measures an
// established endpoint (CoAP or CoAPS after its handshake); mode 'handshake' measures, `repeat`
// times, a fresh transport's connect() (DTLS handshake) plus its first POST, wall clock and CPU,
// with the POST waiting at connect as a deployed device's first reading does (connectAndSend);
// with `resume`, one transport is closed and connected again each time, so every handshake after
// the first offers the previous session (an abbreviated handshake when the server resumes it).
const { scenario } = require('../lib/child.js');
const { reading, tokenFor } = require('../lib/flows.js');
const { connectionSettings, createCoapTransport } = require('../lib/ours.js');
const { percentile, median } = require('../lib/stats.js');
const { startProfiler } = require('../lib/profiler.js');
const { closedLoop } = require('../lib/closed-loop.js');

/**
 * connect() and the first POST the way the device layer does it when a message is waiting at
 * connect (Transport.connectWith: the POST's answer is the token check); `separateCheck`:
 * connect() first (its token check is a request of its own), then send().
 */
async function connectAndSend(t, message, separateCheck) {
  if (separateCheck || !t.connectWith) {
    await t.connect();
    return t.send(message);
  }
  let sent;
  await t.connectWith(() => {
    let first;
    sent = new Promise((resolve, reject) => { first = { message, settle: (err) => (err ? reject(err) : resolve()) }; });
    return first;
  });
  return sent ?? t.send(message);
}

scenario(async ({ mode, transport, port, caCert, count, maxInFlight = 4, warmup = 300, repeat = 10, profile, resume = false, separateCheck = false }) => {
  const settings = connectionSettings({ transport, port, accessToken: tokenFor(0), caCert, maxInFlight });
  const body = (seq) => Buffer.from(JSON.stringify(reading(seq)));
  if (mode === 'handshake') {
    const walls = [];
    const cpus = [];
    const shared = resume ? createCoapTransport(settings) : null;
    // With `resume` the first handshake is a full one that only fills the session cache.
    for (let i = resume ? -1 : 0; i < repeat; i++) {
      const t = shared ?? createCoapTransport(settings);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await connectAndSend(t, { kind: 'telemetry', body: body(i), qos: 1 }, separateCheck);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (i >= 0) {
        walls.push(wall);
        cpus.push((cpu.user + cpu.system) / 1000);
      }
      await t.close();
    }
    return { mode, transport, repeat, resume, separateCheck, medianMs: median(walls), cpuMedianMs: median(cpus), walls };
  }
  const t = createCoapTransport(settings);
  await t.connect();
  try {
    const loop = (n) => closedLoop(n, t.maxInFlight, (seq, done) => t.send({ kind: 'telemetry', body: body(seq), qos: 1 }).then(() => done(), done));
    await loop(warmup);
    const profiler = profile ? await startProfiler() : null;
    const cpu0 = process.cpuUsage();
    const run = await loop(count);
    const cpu = process.cpuUsage(cpu0);
    if (profiler) await profiler.stopInto(profile);
    return { mode, transport, count, warmup, concurrency: t.maxInFlight, msgsPerSec: count / (run.ms / 1000), p50: percentile(run.lat, 50), p99: percentile(run.lat, 99), cpuUsPerMsg: (cpu.user + cpu.system) / count };
  } finally {
    await t.close();
  }
});
