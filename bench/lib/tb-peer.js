'use strict';
// ThingsBoard's MQTT side for the gateway bench, in its own process (its CPU is not the measured
// Node-RED process's): the emulator's MQTT front end (aedes), which behaves like ThingsBoard on
// v1/gateway/* (one PUBACK per device entry, array-only telemetry), with the gateway token and
// per-device tokens. mosquitto cannot stand in here: it acknowledges a publish once, whatever it
// holds. It counts telemetry entries as they are stored and answers {entries, lastAt} over IPC.
//
//   parent: const peer = await startTbPeer({ devices: 1000 }); ... await peer.counts(); peer.stop()
const path = require('node:path');

if (require.main === module) {
  const { DeviceStore } = require(path.join(__dirname, '..', '..', 'emulator', 'store.js'));
  const { startMqttEmulator } = require(path.join(__dirname, '..', '..', 'emulator', 'mqtt.js'));
  const { tokenFor } = require('./flows.js');
  const { startProfiler } = require('./profiler.js');
  const devices = Number(process.argv[2] || 0);
  // BENCH_PROFILE: a CPU profile of the peer from reset() to 'profile-stop' (the measured part).
  const profileFile = process.argv[3] || '';
  let profiler = null;
  const list = [{ name: 'bench-gateway', token: 'bench-gateway-token', gateway: true }];
  for (let i = 0; i < devices; i++) list.push({ name: `bench-device-${i}`, token: tokenFor(i) });
  const store = new DeviceStore({ devices: list });
  let entries = 0;
  let lastAt = 0;
  let publishes = 0;
  // The peer's own CPU since the last reset: it shares the two cores with the measured process,
  // so a side that costs the peer more is slower for it (reported beside the readings/s).
  let cpu0 = process.cpuUsage();
  store.on('telemetry', (e) => {
    entries += e.entries.length;
    lastAt = Date.now();
  });
  startMqttEmulator({ store, oneSessionPerToken: true }).then((emu) => {
    // Telemetry publishes (a packed one holds several sub-devices).
    emu.broker.on('publish', (packet, client) => {
      if (client && (packet.topic === 'v1/gateway/telemetry' || packet.topic === 'v1/devices/me/telemetry')) publishes++;
    });
    process.send({ port: emu.port });
    process.on('message', (m) => {
      if (m === 'counts') {
        const cpu = process.cpuUsage(cpu0);
        process.send({ entries, lastAt, publishes, cpuUs: cpu.user + cpu.system });
      }
      if (m === 'reset') {
        entries = 0; lastAt = 0; publishes = 0; cpu0 = process.cpuUsage();
        if (profileFile && !profiler) startProfiler().then((p) => { profiler = p; process.send('profiling'); });
        else process.send('reset');
      }
      if (m === 'profile-stop') {
        const done = () => process.send('profiled');
        if (profiler) profiler.stopInto(profileFile).then(done); else done();
        profiler = null;
      }
    });
  });
} else {
  const { fork } = require('node:child_process');
  const { track, stop } = require('./peers.js');
  module.exports.startTbPeer = function startTbPeer({ devices = 0, profile } = {}) {
    return new Promise((resolve, reject) => {
      const child = track(fork(__filename, [String(devices), profile || ''], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      child.once('error', reject);
      child.once('message', ({ port }) => {
        const ask = (what) => new Promise((res) => {
          child.once('message', res);
          child.send(what);
        });
        resolve({
          port,
          /** Zeroes the counts (and starts the peer's profile when asked for one). */
          reset: () => ask('reset'),
          /** Writes the peer's profile (no-op without one). */
          stopProfile: () => ask('profile-stop'),
          counts: () => ask('counts'),
          /** Waits until `expected` entries were stored or nothing new came for `quietMs`. */
          async settle(expected, quietMs = 3000) {
            let last = -1;
            let since = Date.now();
            for (;;) {
              const r = await ask('counts');
              if (r.entries >= expected) return r;
              if (r.entries !== last) { last = r.entries; since = Date.now(); }
              if (Date.now() - since > quietMs) return r;
              await new Promise((res) => setTimeout(res, 50));
            }
          },
          stop: () => stop(child),
        });
      });
    });
  };
}
