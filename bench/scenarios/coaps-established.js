'use strict';
// CoAPS vs plain CoAP on established sessions, in ONE process: two transports of this package (one
// over plain UDP, one over its DTLS session) to the same libcoap server, driven as
// coap-transport.js drives one (`maxInFlight` sends outstanding), in chunks of `chunk` messages
// that take turns, `rounds` times, the order swapped every round. Each chunk's client CPU
// (process.cpuUsage) and rate, and, when `serverPid` is given, the server's CPU over the chunk
// (/proc/<pid>/stat, summed over the chunks), are kept per transport; the result is their medians.
// Why one process: two child processes measured one after the other see different machines on a
// shared host (the same transport moves ±15 % from process to process here), so the ratio of two
// such runs is mostly noise. Taking turns chunk by chunk, both transports meet the same load, the
// same heap and the same state of the shared `coap` library's compiled code; the plain transport
// keeps that code as warm for the DTLS one as for itself, so this ratio is, if anything, stricter
// than that of two processes.
const { scenario } = require('../lib/child.js');
const { reading, tokenFor } = require('../lib/flows.js');
const { connectionSettings, createCoapTransport } = require('../lib/ours.js');
const { median, processCpuUs } = require('../lib/stats.js');
const { closedLoop } = require('../lib/closed-loop.js');

scenario(async ({ plainPort, dtlsPort, caCert, rounds = 16, chunk = 250, maxInFlight = 4, warmup = 1000, serverPid }) => {
  const sides = {};
  for (const [name, transport, port] of [['coap', 'coap', plainPort], ['coaps', 'coaps', dtlsPort]]) {
    const t = createCoapTransport(connectionSettings({ transport, port, accessToken: tokenFor(0), caCert, maxInFlight }));
    await t.connect();
    sides[name] = { t, cpu: [], rate: [], serverUs: 0, serverChunks: 0 };
  }
  const body = (seq) => Buffer.from(JSON.stringify(reading(seq)));
  const loop = (t, n) => closedLoop(n, t.maxInFlight, (seq, done) => t.send({ kind: 'telemetry', body: body(seq), qos: 1 }).then(() => done(), done));
  try {
    for (const side of Object.values(sides)) await loop(side.t, warmup);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? ['coaps', 'coap'] : ['coap', 'coaps'];
      for (const name of order) {
        const side = sides[name];
        const s0 = serverPid ? processCpuUs(serverPid) : null;
        const c0 = process.cpuUsage();
        const run = await loop(side.t, chunk);
        const c = process.cpuUsage(c0);
        const s1 = serverPid ? processCpuUs(serverPid) : null;
        side.cpu.push((c.user + c.system) / chunk);
        side.rate.push(chunk / (run.ms / 1000));
        if (s0 !== null && s1 !== null) { side.serverUs += s1 - s0; side.serverChunks++; }
      }
    }
  } finally {
    for (const side of Object.values(sides)) await side.t.close();
  }
  const summary = (side) => ({
    count: rounds * chunk,
    msgsPerSec: median(side.rate),
    cpuUsPerMsg: median(side.cpu),
    // Summed, not a median: /proc counts in 10 ms ticks, more than a chunk takes.
    serverCpuUsPerMsg: side.serverChunks === rounds ? side.serverUs / (rounds * chunk) : null,
  });
  const perRound = (key) => median(sides.coaps[key].map((v, i) => v / sides.coap[key][i]));
  return {
    rounds,
    chunk,
    coap: summary(sides.coap),
    coaps: summary(sides.coaps),
    rateRatioPerRound: perRound('rate'),
    cpuRatioPerRound: perRound('cpu'),
  };
});
