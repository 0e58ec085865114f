'use strict';
// Experiments the bench can run against our compiled code WITHOUT changing it, to measure what a
// change that is NOT shipped would buy. Never used for the table's goals: run.js passes
// BENCH_EXPERIMENT_* only to the extra runs it marks [experiment] (BENCH_EXPERIMENTS=1), and
// strips them from every other scenario's environment (bench/lib/child.js).
//
// Removed once shipped: the coalescing sketch (src/device/batch.ts + pump()), the cached datagram
// socket address (src/transports/coap/datagram.ts, src/transports/coap/dtls-dgram-adapter.ts).
const path = require('node:path');

const lib = path.join(__dirname, '..', '..', 'nodes', 'lib');

/**
 * Our transports allow `n` sends in flight instead of their own limit. Shipped: MQTT is fixed at
 * 16 (MQTT_MAX_IN_FLIGHT in src/transports/mqtt/transport.ts); how many messages wait behind that window
 * decides how many are coalesced into one array publish.
 */
function overrideInFlight(n) {
  const index = require(path.join(lib, 'transports', 'index.js'));
  const create = index.createTransport;
  index.createTransport = (settings) => {
    const t = create(settings);
    Object.defineProperty(t, 'maxInFlight', { value: n });
    return t;
  };
}

function applyFromEnv() {
  const applied = [];
  if (process.env.BENCH_EXPERIMENT_INFLIGHT) {
    overrideInFlight(Number(process.env.BENCH_EXPERIMENT_INFLIGHT));
    applied.push(`inflight=${process.env.BENCH_EXPERIMENT_INFLIGHT}`);
  }
  return applied;
}

module.exports = { applyFromEnv };
