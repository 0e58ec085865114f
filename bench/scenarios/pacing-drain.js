'use strict';
// How long a backlog takes to drain under a rate limit, against the least time the limit allows.
// A DeviceConnection holds `count` one-key readings queued before it connects (a backlog after an
// outage) and sends them to the emulator, which enforces `limits` on every budget (messages,
// telemetry messages, telemetry data points) like ThingsBoard: MQTT 3.1.1 session closed when a
// bucket runs dry. Time is scaled on both sides: a window's second lasts `msPerSecond` ms (the
// real 20:1,600:60 drain takes about 20 minutes); the ratio to the minimum does not depend on it.
const path = require('node:path');
const { scenario } = require('../lib/child.js');

const root = path.join(__dirname, '..', '..');

/** Least time (emulated seconds) to pass `count` tokens through buckets full at the start. */
function minimumSeconds(windows, count) {
  return Math.max(...windows.map((w) => Math.max(0, (count - w.count) / (w.count / w.seconds))));
}

scenario(async ({ count = 10000, limits = '20:1,600:60', msPerSecond = 25 }) => {
  const { DeviceStore } = require(path.join(root, 'emulator', 'store.js'));
  const { startMqttEmulator } = require(path.join(root, 'emulator', 'mqtt.js'));
  const { parseWindows } = require(path.join(root, 'emulator', 'limits.js'));
  const { DeviceConnection, parseDeviceConfig } = require(path.join(root, 'nodes', 'lib', 'device'));
  const every = `messages=${limits}; telemetryMessages=${limits}; telemetryDataPoints=${limits}`;
  const store = new DeviceStore({ devices: [{ name: 'bench', token: 'bench-token' }], rateLimits: every, limitsMsPerSecond: msPerSecond });
  const emu = await startMqttEmulator({ store });
  const parsed = parseDeviceConfig({ host: '127.0.0.1', port: emu.port, rateLimits: every, queueSize: count + 10 }, { accessToken: 'bench-token' });
  if (parsed.problems.length) throw new Error(parsed.problems.join('; '));
  const conn = new DeviceConnection(parsed.settings, {
    queueSize: parsed.queueSize,
    rateLimits: parsed.rateLimits,
    pacing: { msPerSecond },
    log: { warn: () => {}, info: () => {} },
  });
  try {
    let firstAt = 0;
    store.once('telemetry', () => { firstAt = Date.now(); });
    conn.register({ onStatus() {} });
    const base = Date.now();
    const all = [];
    for (let n = 0; n < count; n++) {
      all.push(conn.send({ kind: 'telemetry', body: Buffer.from(`{"v":${n}}`), qos: 1, receivedAt: base + n, batchShape: 'wrap' }));
    }
    await Promise.all(all);
    const drainMs = Date.now() - firstAt;
    const minimumMs = minimumSeconds(parseWindows(limits), count) * msPerSecond;
    return {
      value: drainMs / msPerSecond, // emulated seconds
      minimumSeconds: minimumMs / msPerSecond,
      ratio: drainMs / minimumMs,
      violations: store.rateLimitStats.exceeded,
      sessions: emu.stats.connects,
      msPerSecond,
    };
  } finally {
    await conn.close();
    await emu.close();
  }
});
