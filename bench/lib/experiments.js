'use strict';
// Experiments the bench can run against our compiled code WITHOUT changing it, to measure what a
// proposed change to another owner's file would buy. Never used for the table; enabled only by
// BENCH_EXPERIMENT_* variables in the scenario's process.
const path = require('node:path');

const lib = path.join(__dirname, '..', '..', 'nodes', 'lib');

/** Our transports allow `n` sends in flight instead of their own limit. */
function overrideInFlight(n) {
  const index = require(path.join(lib, 'transports', 'index.js'));
  const create = index.createTransport;
  index.createTransport = (settings) => {
    const t = create(settings);
    Object.defineProperty(t, 'maxInFlight', { value: n });
    return t;
  };
}

/**
 * A sketch of issue 6's coalescing in DeviceConnection.pump(): when the in-flight limit leaves
 * messages queued, consecutive telemetry entries with the same QoS go out as ONE ThingsBoard array
 * `[{ts, values}, ...]` (ts = when the node received the message), and each entry resolves when
 * that publish is acknowledged. Good enough to measure (plain-object telemetry bodies, failure =
 * reject the whole batch); the real change belongs in src/device with the payload helper's
 * coalesceTelemetry(), per-message errors and putBack() of a batch.
 */
function coalesceInDeviceLayer() {
  const { DeviceConnection } = require(path.join(lib, 'device', 'connection.js'));
  const proto = DeviceConnection.prototype;
  const send = proto.send;
  proto.send = function (message) {
    message.receivedAt = Date.now();
    return send.call(this, message);
  };
  proto.pump = function () {
    const transport = this.transport;
    if (this.state !== 'connected' || !transport) return;
    const limit = Math.max(1, transport.maxInFlight || 1);
    const max = this.settings.maxPayloadBytes || 65536;
    const session = this.session;
    while (this.queue.length > 0 && this.inFlight.size < limit) {
      const first = this.queue.shift();
      const batch = [first];
      let bytes = first.message.body.length + 32;
      if (first.message.kind === 'telemetry') {
        while (this.queue.length > 0) {
          const next = this.queue[0].message;
          if (next.kind !== 'telemetry' || next.qos !== first.message.qos || bytes + next.body.length + 32 > max) break;
          bytes += next.body.length + 32;
          batch.push(this.queue.shift());
        }
      }
      const body = batch.length === 1 ? first.message.body
        : Buffer.from(`[${batch.map((e) => `{"ts":${e.message.receivedAt},"values":${e.message.body.toString('utf8')}}`).join(',')}]`, 'utf8');
      const token = { batch };
      this.inFlight.add(token);
      transport.send({ kind: first.message.kind, body, qos: first.message.qos }).then(
        () => {
          this.inFlight.delete(token);
          for (const e of batch) e.resolve();
          this.queueChanged();
          if (session === this.session) this.pump();
        },
        (err) => {
          this.inFlight.delete(token);
          for (const e of batch) e.reject(err);
        },
      );
    }
  };
}

/**
 * The `coap` Agent calls socket.address() on every datagram it receives; on a dgram socket that
 * is a getsockname() system call. The bound address never changes: cache it per socket.
 */
function cacheSocketAddress() {
  const dgram = require('node:dgram');
  const address = dgram.Socket.prototype.address;
  dgram.Socket.prototype.address = function cachedAddress() {
    if (!this.__benchAddress) this.__benchAddress = address.call(this);
    return this.__benchAddress;
  };
}

function applyFromEnv() {
  const applied = [];
  if (process.env.BENCH_EXPERIMENT_CACHE_ADDRESS === '1') {
    cacheSocketAddress();
    applied.push('cache-address');
  }
  if (process.env.BENCH_EXPERIMENT_INFLIGHT) {
    overrideInFlight(Number(process.env.BENCH_EXPERIMENT_INFLIGHT));
    applied.push(`inflight=${process.env.BENCH_EXPERIMENT_INFLIGHT}`);
  }
  if (process.env.BENCH_EXPERIMENT_COALESCE === '1') {
    coalesceInDeviceLayer();
    applied.push('coalesce');
  }
  return applied;
}

module.exports = { applyFromEnv };
