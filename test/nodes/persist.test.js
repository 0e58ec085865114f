'use strict';
// `persist` across real restarts: Node-RED runs in a child process (test/support/node-red-child.js)
// with a flow of thingsboard-out nodes whose device keeps unsent messages on disk. Readings queue
// while the broker is down; the child is killed (SIGKILL) or stopped (RED.stop()); a new child on
// the same user directory loads flows.json and meets the broker up. The broker (the emulator)
// counts every reading: none of those the status counted on disk may be missing, each keeps the
// ts it was taken at, duplicates are counted, and a restart after the backlog is delivered sends
// nothing again. Also: a full redeploy, a torn/corrupt tail, a full disk (a tiny tmpfs), a size limit,
// two devices.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startChild } = require('../support/node-red-child');
const { waitFor } = require('../support/wait');
const { freeTcpPort } = require('../support/ports');
const { TOKEN, TOKEN2, emulator } = require('../mqtt/common');

const N = 300;

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-persist-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function device(id, port, extra = {}) {
  return {
    id, type: 'thingsboard-device', name: `device ${id}`, host: '127.0.0.1', port: String(port), transport: 'mqtt',
    queueSize: '100000', persist: true, credentials: { accessToken: id === 'dev2' ? TOKEN2 : TOKEN }, ...extra,
  };
}

function flow(port, { devices = ['dev'], extra = {} } = {}) {
  const nodes = [{ id: 'tab', type: 'tab', label: 'persist' }];
  for (const id of devices) {
    nodes.push(device(id, port, extra));
    nodes.push({ id: `out-${id}`, z: 'tab', type: 'thingsboard-out', device: id, kind: 'telemetry', qos: '1', wires: [] });
  }
  return nodes;
}

/** Every telemetry entry the emulator stores: reading n of `tag` → [ts, ...] (one per copy). */
function countAtBroker(store) {
  const seen = new Map();
  let copies = 0;
  store.on('telemetry', (e) => {
    for (const { ts, values } of e.entries) {
      const key = `${e.device}/${values.tag}/${values.n}`;
      if (!seen.has(key)) seen.set(key, []);
      seen.get(key).push({ ts, values });
      copies++;
    }
  });
  return {
    seen,
    get copies() { return copies; },
    duplicates: () => [...seen.values()].filter((c) => c.length > 1).length,
  };
}

const readings = (tag, count = N) => Array.from({ length: count }, (_, n) => ({ tag, n, takenAt: Date.now() }));

async function queueWhileDown(t, userDir, port, { devices = ['dev'], extra, count = N } = {}) {
  const nr = await startChild(t, { userDir, flow: flow(port, { devices, extra }) });
  for (const id of devices) await nr.send(`out-${id}`, readings(id, count));
  // Everything the status counts on disk must survive what comes next.
  for (const id of devices) await waitFor(async () => (await nr.status(id))?.onDisk === count, `${count} readings on disk for ${id}`);
  const status = await nr.status(devices[0]);
  assert.notEqual(status.state, 'connected');
  return nr;
}

function assertAllDelivered(atBroker, devices, restartedAt, count = N) {
  for (const id of devices) {
    const name = id === 'dev2' ? 'dev2' : 'dev1';
    for (let n = 0; n < count; n++) {
      const copies = atBroker.seen.get(`${name}/${id}/${n}`);
      assert.ok(copies, `reading ${id}/${n} reached the broker`);
      // Its own time (taken before the restart), not the time it was delivered.
      for (const c of copies) assert.ok(c.ts >= c.values.takenAt && c.ts < restartedAt, `reading ${id}/${n} keeps its ts (${c.ts})`);
    }
  }
}

/** The readings in the queue's segment files before `cursor` (what the disk has recorded as delivered). */
function readingsBefore(folder, cursor) {
  const ns = [];
  for (const file of fs.readdirSync(folder).filter((f) => f.endsWith('.log')).sort()) {
    const no = Number(file.slice(0, 10));
    if (no > cursor.segment) break;
    const bytes = fs.readFileSync(path.join(folder, file));
    const end = no === cursor.segment ? cursor.offset : bytes.length;
    // Frames: u32 length, u32 CRC, f64 saved-at, then a header line and the body (device/disk-queue.ts, persist.ts).
    for (let at = 0; at + 16 <= end; ) {
      const length = bytes.readUInt32BE(at);
      const data = bytes.subarray(at + 16, at + 16 + length).toString();
      ns.push(JSON.parse(data.slice(data.indexOf('\n') + 1)).n);
      at += 16 + length;
    }
  }
  return ns;
}

async function restartAndDeliver(t, userDir, port, devices = ['dev']) {
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const atBroker = countAtBroker(store);
  const restartedAt = Date.now();
  const nr = await startChild(t, { userDir });
  await waitFor(() => atBroker.seen.size >= N * devices.length, 'every reading at the broker', 60000);
  await waitFor(() => nr.logs().filter((l) => /readings recovered from disk: \d+ delivered/.test(l)).length >= devices.length, 'the recovered tally in the log');
  return { nr, store, emu, atBroker, restartedAt };
}

test('SIGKILL while readings wait on disk: a restart sends every one, in order, with its own ts; then nothing again', { timeout: 120000 }, async (t) => {
  const userDir = tempDir(t);
  const port = await freeTcpPort();
  const first = await queueWhileDown(t, userDir, port);
  await first.kill();

  const { nr, atBroker, restartedAt } = await restartAndDeliver(t, userDir, port);
  assertAllDelivered(atBroker, ['dev'], restartedAt);
  const logs = nr.logs().join('\n');
  assert.match(logs, new RegExp(`${N} readings recovered from disk`));
  assert.match(logs, new RegExp(`readings recovered from disk: ${N} delivered, 0 failed`));
  // In order: the n of the first copies, in arrival order, rise.
  const order = [];
  for (const [key] of atBroker.seen) order.push(Number(key.split('/')[2]));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'recovered readings arrive in order');
  t.diagnostic(`${atBroker.copies} copies for ${N} readings, ${atBroker.duplicates()} duplicated`);
  assert.equal(atBroker.duplicates(), 0, 'nothing was delivered before the kill, so nothing comes twice');

  // Delivered and stopped gracefully: the next start finds nothing to send.
  await nr.stop();
  const copies = atBroker.copies;
  const third = await startChild(t, { userDir });
  await waitFor(async () => (await third.status('dev'))?.state === 'connected', 'connected again');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(atBroker.copies, copies, 'nothing delivered is sent again');
  assert.doesNotMatch(third.logs().join('\n'), /recovered from disk/);
  assert.equal((await third.status('dev')).onDisk, 0);
  await third.stop();
});

test('SIGKILL in the middle of delivering the backlog: the next start sends the rest; at most the last unsaved deliveries come twice', { timeout: 120000 }, async (t) => {
  const userDir = tempDir(t);
  const port = await freeTcpPort();
  // Small publishes (about 10 readings each), so the kill lands in the middle of the backlog.
  const count = 20000;
  const first = await queueWhileDown(t, userDir, port, { count, extra: { maxPayloadBytes: '700' } });
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const atBroker = countAtBroker(store);
  // Kill once the disk has recorded some deliveries (its cursor), while the rest is still going out.
  const folder = path.join(userDir, 'thingsboard-queue', 'dev');
  const cursor = await waitFor(() => {
    try {
      const c = JSON.parse(fs.readFileSync(path.join(folder, 'cursor.json'), 'utf8'));
      return c.offset > 0 ? c : undefined;
    } catch { return undefined; }
  }, 'the first saved cursor', 60000);
  await first.kill();
  const deliveredBeforeKill = atBroker.seen.size;
  const recorded = readingsBefore(folder, cursor);
  const restartedAt = Date.now();
  const second = await startChild(t, { userDir });
  await waitFor(() => atBroker.seen.size >= count, 'every reading at the broker', 60000);
  assertAllDelivered(atBroker, ['dev'], restartedAt, count);
  t.diagnostic(`${deliveredBeforeKill} delivered before the kill; ${atBroker.copies} copies for ${count} readings, ${atBroker.duplicates()} duplicated`);
  assert.ok(deliveredBeforeKill < count, 'the kill came before the backlog was through');
  // At least once: what the cursor had not recorded yet may come again, with the same ts; what it had, never.
  assert.ok(recorded.length > 0);
  for (const n of recorded) assert.equal(atBroker.seen.get(`dev1/dev/${n}`).length, 1, `reading ${n}, recorded as delivered, came once`);
  assert.ok(atBroker.duplicates() <= deliveredBeforeKill - recorded.length);
  for (const copies of atBroker.seen.values()) assert.equal(new Set(copies.map((c) => c.ts)).size, 1, 'a duplicate carries the same ts');
  await second.stop();
});

test('graceful restart (RED.stop) while readings wait: they are kept on disk and sent by the next start', { timeout: 120000 }, async (t) => {
  const userDir = tempDir(t);
  const port = await freeTcpPort();
  const first = await queueWhileDown(t, userDir, port);
  await first.stop();
  const { nr, atBroker, restartedAt } = await restartAndDeliver(t, userDir, port);
  assertAllDelivered(atBroker, ['dev'], restartedAt);
  assert.equal(atBroker.duplicates(), 0);
  await nr.stop();
});

test('a full redeploy while readings wait on disk: none is lost, and they go out once the broker is back', { timeout: 120000 }, async (t) => {
  const userDir = tempDir(t);
  const port = await freeTcpPort();
  const nr = await queueWhileDown(t, userDir, port);
  // The same flow again, as the Deploy button sends it (a changed name: the device node is redeployed).
  const changed = flow(port).map((n) => (n.type === 'thingsboard-device' ? { ...n, name: 'renamed device' } : n));
  await nr.deploy(changed);
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const atBroker = countAtBroker(store);
  await waitFor(() => atBroker.seen.size >= N, 'every reading at the broker after the redeploy', 60000);
  assertAllDelivered(atBroker, ['dev'], Date.now());
  t.diagnostic(`${atBroker.copies} copies for ${N} readings, ${atBroker.duplicates()} duplicated`);
  await waitFor(async () => (await nr.status('dev'))?.onDisk === 0, 'nothing left on disk');
  await nr.stop();
});

test('a torn, corrupt tail after a kill is cut off and reported; every complete reading is sent', { timeout: 120000 }, async (t) => {
  const userDir = tempDir(t);
  const port = await freeTcpPort();
  const first = await queueWhileDown(t, userDir, port);
  await first.kill();
  const folder = path.join(userDir, 'thingsboard-queue', 'dev');
  const last = fs.readdirSync(folder).filter((f) => f.endsWith('.log')).sort().pop();
  // A frame header that promises 200 bytes, then 7 bytes of garbage: a write cut by a power loss.
  const torn = Buffer.alloc(23, 0xab);
  torn.writeUInt32BE(200, 0);
  fs.appendFileSync(path.join(folder, last), torn);

  const { nr, atBroker, restartedAt } = await restartAndDeliver(t, userDir, port);
  assertAllDelivered(atBroker, ['dev'], restartedAt);
  assert.match(nr.logs().join('\n'), /incomplete or damaged record \(23 bytes/);
  await nr.stop();
});

test('two devices with persist keep their own folders: each gets exactly its own readings back', { timeout: 120000 }, async (t) => {
  const userDir = tempDir(t);
  const port = await freeTcpPort();
  const first = await queueWhileDown(t, userDir, port, { devices: ['dev', 'dev2'] });
  await first.kill();
  assert.deepEqual(fs.readdirSync(path.join(userDir, 'thingsboard-queue')).sort(), ['dev', 'dev2']);
  const { nr, atBroker, restartedAt } = await restartAndDeliver(t, userDir, port, ['dev', 'dev2']);
  assertAllDelivered(atBroker, ['dev', 'dev2'], restartedAt);
  // No mixing: dev1 (TOKEN) got only readings tagged dev, dev2 only dev2.
  for (const key of atBroker.seen.keys()) {
    const [name, tag] = key.split('/');
    assert.equal(name === 'dev1' ? 'dev' : 'dev2', tag, `${key} reached the right device`);
  }
  assert.equal(atBroker.seen.size, 2 * N);
  await nr.stop();
});

test('a size limit drops the oldest readings on disk, counts them in the log, and sends the rest', { timeout: 120000 }, async (t) => {
  const userDir = tempDir(t);
  const port = await freeTcpPort();
  const nr = await startChild(t, { userDir, flow: flow(port, { extra: { persistMaxMB: '1' } }) });
  // 300 readings of ~10 KB: about 3 MB for a 1 MB queue.
  const big = 'x'.repeat(10_000);
  await nr.send('out-dev', readings('dev').map((r) => ({ ...r, big })));
  await waitFor(async () => (await nr.status('dev'))?.onDisk > 0, 'readings on disk');
  // The drops are summed in the log every 10 s and when the queue closes.
  await nr.stop();
  const logs = nr.logs().join('\n');
  const m = /(\d+) readings dropped, not sent: the disk queue reached its size limit \(1 MB\)/.exec(logs);
  assert.ok(m, `the drops are counted in the log:\n${logs}`);
  const dropped = Number(m[1]);

  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const atBroker = countAtBroker(store);
  const again = await startChild(t, { userDir });
  await waitFor(() => again.logs().some((l) => /readings recovered from disk: \d+ delivered/.test(l)), 'the recovered tally');
  t.diagnostic(`${dropped} dropped, ${atBroker.seen.size} delivered after the restart`);
  assert.ok(dropped > 0 && atBroker.seen.size > 0);
  assert.equal(dropped + atBroker.seen.size, N, 'every reading is either delivered or counted as dropped');
  // The newest are the ones kept.
  assert.ok(atBroker.seen.has(`dev1/dev/${N - 1}`));
  assert.ok(!atBroker.seen.has('dev1/dev/0'));
  await again.stop();
});

function mountTinyTmpfs(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-persist-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    fs.rmdirSync(dir);
    return undefined;
  }
  t.after(() => {
    try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); } catch { /* already gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

test('a full disk: a clear error on the status and in the log, and every reading still goes through memory', { timeout: 120000 }, async (t) => {
  const full = mountTinyTmpfs(t);
  if (!full) {
    t.diagnostic('SKIPPED LOUDLY: cannot mount a tmpfs here (needs root); the full-disk path is covered by test/device/disk-queue.test.js');
    t.skip('cannot mount a tmpfs');
    return;
  }
  // Fill the tmpfs to the last byte, and make it the device's queue folder.
  const folder = path.join(full, 'queue');
  fs.mkdirSync(folder);
  try { fs.writeFileSync(path.join(full, 'filler'), Buffer.alloc(1024 * 1024)); } catch { /* ENOSPC: full, as wanted */ }
  const userDir = tempDir(t);
  fs.mkdirSync(path.join(userDir, 'thingsboard-queue'));
  fs.symlinkSync(folder, path.join(userDir, 'thingsboard-queue', 'dev'));

  const port = await freeTcpPort();
  const { store, emu } = await emulator({ port });
  t.after(() => emu.close());
  const atBroker = countAtBroker(store);
  const nr = await startChild(t, { userDir, flow: flow(port) });
  await nr.send('out-dev', readings('dev'));
  await waitFor(() => atBroker.seen.size === N, 'every reading at the broker through memory', 60000);
  const status = await nr.status('dev');
  assert.equal(status.diskError, 'ENOSPC');
  assert.equal(status.onDisk, 0);
  const warnings = nr.logs().filter((l) => /cannot write the disk queue/.test(l));
  assert.equal(warnings.length, 1, 'said once, not once per message');
  assert.match(warnings[0], /the disk is full, ENOSPC\): messages are kept in memory only/);
  await nr.stop();
});
