'use strict';
// DeviceConnection with `persist`, over the real MQTT transport and the in-process emulator: a
// message is on disk before the status counts it as queued; delivered messages leave the disk, a
// message the connection stopped before sending stays and goes first when the connection starts
// again (with the ts it was taken at), and the record format keeps kind, QoS, time and shape.
// (Restarts of a whole Node-RED: test/nodes/persist.test.js.)
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { lib, mqttSettings, emulator, waitFor } = require('../mqtt/common');
const { freeTcpPort } = require('../support/ports');

const { DeviceConnection } = lib('device/connection.js');
const { DiskQueue } = lib('device/disk-queue.js');
const { encodeRecord, decodeRecord } = lib('device/persist.js');

const FAST = { backoffInitialMs: 50, backoffMaxMs: 200, stableAfterMs: 60_000, quickDropMs: 5000, statusThrottleMs: 5 };

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-persist-conn-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function setup(t, port) {
  const dir = tempDir(t);
  const warnings = [];
  const infos = [];
  const make = () => new DeviceConnection(mqttSettings({ port }), {
    log: { warn: (x) => warnings.push(x), info: (x) => infos.push(x) },
    queueSize: 1000,
    timing: FAST,
    persist: { dir, maxBytes: 1024 * 1024, maxAgeMs: 86400e3, cursorDelayMs: 5 },
  });
  return { dir, warnings, infos, make };
}

/** Complete records in the folder's segment files (a synchronous look, as a crash would leave them). */
function recordsOnDisk(dir) {
  let count = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    const bytes = fs.readFileSync(path.join(dir, file));
    for (let at = 0; at + 16 <= bytes.length; ) {
      const end = at + 16 + bytes.readUInt32BE(at);
      if (end > bytes.length) break;
      count++;
      at = end;
    }
  }
  return count;
}

const reading = (n) => ({ kind: 'telemetry', body: Buffer.from(JSON.stringify({ n })), qos: 1, receivedAt: 1_700_000_000_000 + n, batchShape: 'wrap' });

test('persist: a message is on disk before the status counts it as queued', { timeout: 30000 }, async (t) => {
  const port = await freeTcpPort(); // nothing listens: messages wait
  const { dir, make } = setup(t, port);
  const conn = make();
  const user = { onStatus: () => {} };
  conn.register(user);
  const ends = [];
  for (let n = 0; n < 50; n++) conn.submit(reading(n), (err) => ends.push(err));
  // Until the last record is written, at every turn of the event loop: what the status counts
  // as queued is already on disk (read after the status, so the disk can only be ahead).
  for (;;) {
    const status = conn.status();
    const onDisk = fs.existsSync(dir) ? recordsOnDisk(dir) : 0;
    assert.ok(status.queued <= onDisk, `queued ${status.queued} but only ${onDisk} on disk`);
    if (status.queued === 50) break;
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(conn.status().onDisk, 50);
  await conn.close();
  assert.equal(ends.length, 50);
  assert.ok(ends.every((e) => e && e.code === 'STOPPED' && /stays on disk/.test(e.message)), 'stopped messages say they stay on disk');
});

test('persist: delivered messages leave the disk; stopped ones stay and go first, with their ts, when the connection starts again', { timeout: 60000 }, async (t) => {
  const port = await freeTcpPort();
  const { dir, make, infos } = setup(t, port);
  const conn = make();
  const user = { onStatus: () => {} };
  conn.register(user);
  for (let n = 0; n < 20; n++) conn.submit(reading(n), () => {});
  await waitFor(() => conn.status().onDisk === 20, '20 on disk');
  // The connection stops (the last node of a partial redeploy), then starts again with the broker up.
  await conn.deregister(user);
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const arrived = [];
  store.on('telemetry', (e) => { for (const x of e.entries) arrived.push(x); });
  conn.register(user);
  const liveDone = [];
  for (let n = 100; n < 105; n++) conn.submit(reading(n), (err) => liveDone.push(err));
  await waitFor(() => arrived.length >= 25 && liveDone.length === 5, 'recovered and live readings delivered');
  assert.deepEqual(liveDone, [undefined, undefined, undefined, undefined, undefined]);
  assert.deepEqual(arrived.map((e) => e.values.n), [...Array.from({ length: 20 }, (_, n) => n), 100, 101, 102, 103, 104], 'recovered first, in order');
  for (const e of arrived.slice(0, 20)) assert.equal(e.ts, 1_700_000_000_000 + e.values.n, 'each recovered reading keeps the time it was taken');
  assert.ok(infos.some((i) => /^20 readings recovered from disk/.test(i)), infos.join('\n'));
  await waitFor(() => infos.some((i) => /readings recovered from disk: 20 delivered, 0 failed/.test(i)), 'the tally');
  await conn.close();
  // Nothing delivered is read back.
  const { queue, report } = await DiskQueue.open({ dir, maxBytes: 1 << 20, maxAgeMs: 86400e3 });
  assert.deepEqual(report.records, []);
  await queue.close();
});

test('records keep kind, QoS, time and shape; a values object read back carries its ts', () => {
  const wrap = decodeRecord(encodeRecord(reading(7)));
  assert.equal(wrap.kind, 'telemetry');
  assert.equal(wrap.qos, 1);
  assert.equal(wrap.receivedAt, 1_700_000_000_007);
  assert.equal(wrap.batchShape, 'entry');
  assert.deepEqual(JSON.parse(wrap.body), { ts: 1_700_000_000_007, values: { n: 7 } });
  const attrs = decodeRecord(encodeRecord({ kind: 'attributes', body: Buffer.from('{"a":"x\\ny"}'), qos: 0 }));
  assert.deepEqual(attrs, { kind: 'attributes', body: Buffer.from('{"a":"x\\ny"}'), qos: 0, receivedAt: undefined, batchShape: undefined });
  const entries = decodeRecord(encodeRecord({ kind: 'telemetry', body: Buffer.from('[{"ts":1,"values":{"a":1}}]'), qos: 1, receivedAt: 5, batchShape: 'entries' }));
  assert.equal(entries.batchShape, 'entries');
  assert.equal(entries.body.toString(), '[{"ts":1,"values":{"a":1}}]');
  assert.equal(decodeRecord(Buffer.from('not ours')), undefined);
  assert.equal(decodeRecord(Buffer.from('{"k":"rpc","q":1}\n{}')), undefined);
});

test('persist: readings older than the age limit are dropped, end with done(err), and are counted in the log — also those read back', { timeout: 30000 }, async (t) => {
  const port = await freeTcpPort(); // nothing listens: readings wait
  const dir = tempDir(t);
  const warnings = [];
  const make = () => new DeviceConnection(mqttSettings({ port }), {
    log: { warn: (x) => warnings.push(x), info: () => {} },
    queueSize: 1000,
    timing: FAST,
    persist: { dir, maxBytes: 1024 * 1024, maxAgeMs: 300, cursorDelayMs: 5 },
  });
  const conn = make();
  const user = { onStatus: () => {} };
  conn.register(user);
  const ends = [];
  for (let n = 0; n < 10; n++) conn.submit(reading(n), (err) => ends.push({ n, err }));
  await waitFor(() => conn.status().onDisk === 10, '10 on disk');
  await new Promise((r) => setTimeout(r, 400));
  // The next write finds them too old: they leave the disk and the queue, each with its reason.
  conn.submit(reading(10), (err) => ends.push({ n: 10, err }));
  await waitFor(() => ends.length >= 10, 'the old readings ended');
  assert.deepEqual(ends.map((e) => e.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(ends.every((e) => e.err && e.err.code === 'DISK_AGE_LIMIT'), JSON.stringify(ends[0]));
  await conn.close();
  assert.ok(warnings.some((w) => /^10 readings dropped, not sent: older than the disk queue age limit/.test(w)), warnings.join('\n'));

  // Reading 10 is still on disk; read back after it is too old, it is dropped and counted too.
  await new Promise((r) => setTimeout(r, 400));
  const again = make();
  again.register(user);
  await waitFor(() => warnings.some((w) => /^1 reading on disk older than the age limit dropped, not sent/.test(w)), 'the read-back drop in the log');
  assert.equal(again.status().onDisk, 0);
  await again.close();
});

test('persist: a queue folder that cannot be made is a disk error on the status and in the log; messages still go through memory', { timeout: 30000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const parent = tempDir(t);
  const blocked = path.join(parent, 'not-a-folder');
  fs.writeFileSync(blocked, 'a file where the queue folder should be');
  const warnings = [];
  const conn = new DeviceConnection(mqttSettings({ port: emu.port }), {
    log: { warn: (x) => warnings.push(x), info: () => {} },
    queueSize: 1000,
    timing: FAST,
    persist: { dir: path.join(blocked, 'dev'), maxBytes: 1024 * 1024, maxAgeMs: 86400e3 },
  });
  conn.register({ onStatus: () => {} });
  const arrived = [];
  store.on('telemetry', (e) => { for (const x of e.entries) arrived.push(x.values.n); });
  const ends = await Promise.all(Array.from({ length: 5 }, (_, n) => new Promise((resolve) => conn.submit(reading(n), resolve))));
  assert.deepEqual(ends, [undefined, undefined, undefined, undefined, undefined], 'every message delivered');
  assert.deepEqual(arrived, [0, 1, 2, 3, 4]);
  assert.equal(conn.status().diskError, 'ENOTDIR');
  const said = warnings.filter((w) => /cannot write the disk queue/.test(w));
  assert.equal(said.length, 1, warnings.join('\n'));
  assert.match(said[0], /ENOTDIR\): messages are kept in memory only, and are lost if Node-RED stops before they are sent/);
  await conn.close();
});

test('persist: stopped and started again before the queue finished opening — no stale queue, no disk error, everything delivered', { timeout: 30000 }, async (t) => {
  const { store, emu } = await emulator();
  t.after(() => emu.close());
  const { make, warnings } = setup(t, emu.port);
  const conn = make();
  const user = { onStatus: () => {} };
  conn.register(user);
  const stopped = conn.deregister(user); // before the folder is even read
  conn.register(user);
  await stopped;
  const arrived = [];
  store.on('telemetry', (e) => { for (const x of e.entries) arrived.push(x.values.n); });
  const ends = await Promise.all(Array.from({ length: 5 }, (_, n) => new Promise((resolve) => conn.submit(reading(n), resolve))));
  assert.deepEqual(ends, [undefined, undefined, undefined, undefined, undefined]);
  assert.deepEqual(arrived, [0, 1, 2, 3, 4]);
  assert.equal(conn.status().diskError, undefined, warnings.join('\n'));
  await waitFor(() => conn.status().onDisk === 0, 'nothing left on disk');
  await conn.close();
});

test('persist on a gateway: a sub-device reading read back after a restart goes to the same sub-device (name, type), with its ts', { timeout: 30000 }, async (t) => {
  const { TOKEN } = require('../mqtt/common');
  const { startTbBroker } = require('../support/tb-broker');
  const dir = tempDir(t);
  const persist = { dir, maxBytes: 1024 * 1024, maxAgeMs: 86400e3, cursorDelayMs: 5 };
  const target = { device: 'Zähler "7"', type: 'meter' };
  const down = await freeTcpPort(); // nothing listens: the readings wait on disk
  const first = new DeviceConnection(mqttSettings({ port: down }), { log: { warn() {}, info() {} }, queueSize: 100, timing: FAST, gateway: true, persist });
  first.register({ onStatus() {} });
  for (let n = 0; n < 3; n++) first.submit(reading(n), () => {}, target);
  first.submit(reading(9), () => {}); // the gateway device itself
  await waitFor(() => first.status().onDisk === 4, '4 on disk');
  await first.close();

  const tb = await startTbBroker({ tokens: [TOKEN] });
  t.after(() => tb.close());
  const second = new DeviceConnection(mqttSettings({ port: tb.port }), { log: { warn() {}, info() {} }, queueSize: 100, timing: FAST, gateway: true, persist });
  second.register({ onStatus() {} });
  t.after(() => second.close());
  await waitFor(() => second.status().onDisk === 0 && tb.publishedOn('v1/gateway/telemetry').length > 0, 'the backlog delivered');
  assert.deepEqual(tb.publishedOn('v1/gateway/connect').map((p) => JSON.parse(p.payload)), [{ device: 'Zähler "7"', type: 'meter' }]);
  const sub = tb.publishedOn('v1/gateway/telemetry').flatMap((p) => JSON.parse(p.payload)['Zähler "7"']);
  assert.deepEqual(sub, [0, 1, 2].map((n) => ({ ts: 1_700_000_000_000 + n, values: { n } })));
  const own = tb.publishedOn('v1/devices/me/telemetry').flatMap((p) => [].concat(JSON.parse(p.payload)));
  assert.deepEqual(own, [{ ts: 1_700_000_000_009, values: { n: 9 } }]);
});

test('persist + redeploy to other settings of the same device: the heir sends each waiting reading exactly once (from disk, not also from memory)', { timeout: 60000 }, async (t) => {
  const port = await freeTcpPort(); // nothing listens yet: readings wait
  const { dir, make, warnings } = setup(t, port);
  const old = make();
  const oldUser = { onStatus: () => {} };
  old.register(oldUser);
  const oldEnds = [];
  for (let n = 0; n < 10; n++) old.submit(reading(n), (err) => oldEnds.push(err));
  await waitFor(() => old.status().onDisk === 10, '10 on disk');
  // Five more, still being written when the redeploy comes: the heir reads the folder only
  // after the old connection has finished writing and closed it.
  for (let n = 10; n < 15; n++) old.submit(reading(n), (err) => oldEnds.push(err));
  // What thingsboard-device.ts does for a changed config node of the same device.
  await old.deregister(oldUser, { keepQueue: true });
  old.releaseToken();
  const heir = make();
  const handedOver = old.handOver(heir);
  const user = { onStatus: () => {} };
  heir.register(user);
  await handedOver;
  assert.equal(oldEnds.length, 15);
  assert.ok(oldEnds.every((e) => e && e.code === 'STOPPED' && /stays on disk/.test(e.message)), 'the old connection leaves them on disk');
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const arrived = [];
  store.on('telemetry', (e) => { for (const x of e.entries) arrived.push(x.values.n); });
  await waitFor(() => arrived.length >= 15, 'the waiting readings delivered');
  await waitFor(() => heir.status().onDisk === 0, 'the disk emptied');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(arrived, Array.from({ length: 15 }, (_, n) => n), `each reading exactly once, in order (${warnings.join('; ')})`);
  await heir.close();
  const { queue, report } = await DiskQueue.open({ dir, maxBytes: 1 << 20, maxAgeMs: 86400e3 });
  assert.deepEqual(report.records, [], 'nothing delivered is read back');
  await queue.close();
});

test('persist: a connection stopped because another config node uses its token keeps its readings on disk, and sends them once the token is its own again', { timeout: 60000 }, async (t) => {
  const port = await freeTcpPort();
  const { dir } = setup(t, port);
  const { DeviceRegistry } = lib('device/registry.js');
  const registry = new DeviceRegistry();
  const first = new DeviceConnection(mqttSettings({ port }), {
    log: { warn: () => {}, info: () => {} },
    queueSize: 1000,
    timing: FAST,
    registry,
    persist: { dir, maxBytes: 1024 * 1024, maxAgeMs: 86400e3, cursorDelayMs: 5 },
  });
  const user = { onStatus: () => {} };
  first.register(user);
  const ends = [];
  for (let n = 0; n < 5; n++) first.submit(reading(n), (err) => ends.push(err));
  await waitFor(() => first.status().onDisk === 5, '5 on disk');
  // A second config node with the same token in this runtime: the first one stops.
  const second = new DeviceConnection(mqttSettings({ port }), { log: { warn: () => {}, info: () => {} }, queueSize: 10, timing: FAST, registry });
  await waitFor(() => ends.length === 5, 'the waiting readings ended');
  assert.ok(ends.every((e) => e && e.code === 'TOKEN_IN_USE' && /stays on disk/.test(e.message)), ends.map((e) => e && e.message).join('\n'));
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const arrived = [];
  store.on('telemetry', (e) => { for (const x of e.entries) arrived.push(x.values.n); });
  await second.close(); // the token is the first one's again: it connects and reads its disk back
  await waitFor(() => arrived.length >= 5, 'the kept readings delivered');
  assert.deepEqual(arrived, [0, 1, 2, 3, 4]);
  await first.close();
});
