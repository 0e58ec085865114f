'use strict';
// The file queue under persist: what is appended is read back after a restart, in order, with
// its save time; delivered records are not; a torn or corrupt tail is cut off and reported; size
// and age limits drop the oldest records and say which; a full disk rejects the append that hit it;
// a SIGKILL right after an append resolved loses nothing.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const lib = path.join(__dirname, '..', '..', 'nodes', 'lib', 'device', 'disk-queue.js');
const { DiskQueue, queueFolder } = require(lib);

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-disk-queue-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const options = (dir, extra = {}) => ({ dir, maxBytes: 1024 * 1024, maxAgeMs: 7 * 86400e3, cursorDelayMs: 5, ...extra });
const texts = (records) => records.map((r) => r.data.toString());
const segments = (dir) => fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();

test('appended records come back after a restart, oldest first, with their save time', async (t) => {
  const dir = tempDir(t);
  let clock = 1_000_000;
  const { queue, report } = await DiskQueue.open(options(dir, { now: () => clock }));
  assert.deepEqual(report.records, []);
  await queue.append([Buffer.from('a'), Buffer.from('b')]);
  clock += 10;
  await queue.append([Buffer.from('c')]);
  await queue.close();

  const again = await DiskQueue.open(options(dir, { now: () => clock }));
  assert.deepEqual(texts(again.report.records), ['a', 'b', 'c']);
  assert.deepEqual(again.report.records.map((r) => r.savedAt), [1_000_000, 1_000_000, 1_000_010]);
  assert.equal(again.report.tornBytes, 0);
  assert.equal(again.queue.count, 3);
  await again.queue.close();
});

test('delivered records are not read back; one delivered out of order keeps the older one (at least once)', async (t) => {
  const dir = tempDir(t);
  const { queue } = await DiskQueue.open(options(dir));
  const ids = await queue.append(['1', '2', '3', '4'].map((s) => Buffer.from(s)));
  queue.complete(ids[0]);
  queue.complete(ids[2]); // 2 is still out: 3 comes back too, since the cursor only moves over a prefix
  await queue.close();

  const second = await DiskQueue.open(options(dir));
  assert.deepEqual(texts(second.report.records), ['2', '3', '4']);
  for (const r of second.report.records) second.queue.complete(r.id);
  const more = await second.queue.append([Buffer.from('5')]);
  await second.queue.close();

  const third = await DiskQueue.open(options(dir));
  assert.deepEqual(texts(third.report.records), ['5']);
  third.queue.complete(third.report.records[0].id);
  assert.equal(third.queue.count, 0);
  assert.ok(more.length === 1);
  await third.queue.close();
  const fourth = await DiskQueue.open(options(dir));
  assert.deepEqual(fourth.report.records, []);
  await fourth.queue.close();
  // Segments whose records were all delivered are deleted, not kept forever.
  assert.ok(segments(dir).length <= 2, `segments left: ${segments(dir)}`);
});

test('a torn last record is cut off and reported; later appends follow the last complete one', async (t) => {
  const dir = tempDir(t);
  const { queue } = await DiskQueue.open(options(dir));
  await queue.append([Buffer.from('first'), Buffer.from('second'), Buffer.from('third')]);
  await queue.close();
  const [file] = segments(dir);
  const size = fs.statSync(path.join(dir, file)).size;
  fs.truncateSync(path.join(dir, file), size - 3); // a power cut in the middle of 'third'

  const again = await DiskQueue.open(options(dir));
  assert.deepEqual(texts(again.report.records), ['first', 'second']);
  assert.equal(again.report.tornBytes, 16 + 'third'.length - 3);
  await again.queue.append([Buffer.from('fourth')]);
  await again.queue.close();
  const last = await DiskQueue.open(options(dir));
  assert.deepEqual(texts(last.report.records), ['first', 'second', 'fourth']);
  assert.equal(last.report.tornBytes, 0);
  await last.queue.close();
});

test('a record whose bytes changed (CRC mismatch) ends the read of its segment', async (t) => {
  const dir = tempDir(t);
  const { queue } = await DiskQueue.open(options(dir));
  await queue.append([Buffer.from('good'), Buffer.from('flipped'), Buffer.from('after')]);
  await queue.close();
  const file = path.join(dir, segments(dir)[0]);
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf('flipped');
  bytes[at] ^= 0x20;
  fs.writeFileSync(file, bytes);
  const again = await DiskQueue.open(options(dir));
  assert.deepEqual(texts(again.report.records), ['good']);
  assert.equal(again.report.tornBytes, 2 * 16 + 'flipped'.length + 'after'.length);
  await again.queue.close();
});

test('records older than maxAgeMs are dropped at open and at append, and counted', async (t) => {
  const dir = tempDir(t);
  let clock = 0;
  const day = 86400e3;
  const { queue } = await DiskQueue.open(options(dir, { now: () => clock, maxAgeMs: day }));
  await queue.append([Buffer.from('old')]);
  clock = 0.5 * day;
  await queue.append([Buffer.from('newer')]);
  clock = 1.2 * day;
  const dropped = [];
  queue.onDrop = (ids, reason) => dropped.push([ids.length, reason]);
  await queue.append([Buffer.from('newest')]);
  assert.deepEqual(dropped, [[1, 'age']]);
  await queue.close();
  clock = 1.6 * day;
  const again = await DiskQueue.open(options(dir, { now: () => clock, maxAgeMs: day }));
  assert.equal(again.report.droppedByAge, 1);
  assert.deepEqual(texts(again.report.records), ['newest']);
  await again.queue.close();
});

test('over maxBytes the oldest records are dropped and named', async (t) => {
  const dir = tempDir(t);
  const { queue } = await DiskQueue.open(options(dir, { maxBytes: 30 }));
  const drops = [];
  queue.onDrop = (ids, reason) => drops.push({ ids, reason });
  const first = await queue.append([Buffer.alloc(10, 'a'), Buffer.alloc(10, 'b')]);
  await queue.append([Buffer.alloc(10, 'c')]);
  assert.deepEqual(drops, []);
  await queue.append([Buffer.alloc(15, 'd')]);
  assert.deepEqual(drops, [{ ids: first, reason: 'size' }]);
  assert.equal(queue.bytes, 25);
  await queue.close();
  const again = await DiskQueue.open(options(dir, { maxBytes: 30 }));
  assert.deepEqual(texts(again.report.records), ['c'.repeat(10), 'd'.repeat(15)]);
  await again.queue.close();
});

test('a full disk rejects the append with ENOSPC, and the queue works again when there is room', { skip: !fs.existsSync('/dev/full') && 'no /dev/full' }, async (t) => {
  const dir = tempDir(t);
  const { queue } = await DiskQueue.open(options(dir));
  // The queue writes new records into a fresh segment: make that segment the full device.
  const next = path.join(dir, '0000000001.log');
  fs.symlinkSync('/dev/full', next);
  await assert.rejects(queue.append([Buffer.from('lost?')]), (err) => err.code === 'ENOSPC');
  assert.equal(queue.count, 0);
  await queue.close();
  fs.unlinkSync(next);
  const again = await DiskQueue.open(options(dir));
  await again.queue.append([Buffer.from('kept')]);
  await again.queue.close();
  const last = await DiskQueue.open(options(dir));
  assert.deepEqual(texts(last.report.records), ['kept']);
  await last.queue.close();
});

test('SIGKILL right after appends resolved loses none of them', async (t) => {
  const dir = tempDir(t);
  const child = spawn(process.execPath, ['-e', `
    const { DiskQueue } = require(${JSON.stringify(lib)});
    DiskQueue.open({ dir: ${JSON.stringify(dir)}, maxBytes: 1e9, maxAgeMs: 1e12 }).then(async ({ queue }) => {
      for (let i = 0; ; i++) {
        const batch = Array.from({ length: 1 + (i % 7) }, (_, k) => Buffer.from(i + '.' + k));
        await queue.append(batch);
        process.stdout.write(batch.map(String).join(' ') + '\\n');
      }
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  await new Promise((resolve) => {
    const check = setInterval(() => {
      if (out.split('\n').length > 300) {
        clearInterval(check);
        child.kill('SIGKILL');
        resolve();
      }
    }, 5);
  });
  await new Promise((resolve) => child.on('exit', resolve));
  const acknowledged = out.split('\n').slice(0, -1).join(' ').split(' ').filter(Boolean);
  const { queue, report } = await DiskQueue.open(options(dir, { maxAgeMs: 1e12 }));
  const recovered = texts(report.records);
  assert.deepEqual(recovered.slice(0, acknowledged.length), acknowledged);
  await queue.close();
});

test('queueFolder gives every config node its own folder', () => {
  assert.notEqual(queueFolder('/u', 'a1.b2'), queueFolder('/u', 'a1_b2'));
  assert.notEqual(queueFolder('/u', 'a1.b2'), queueFolder('/u', 'a1%2eb2'));
  for (const id of ['..', '../../etc', 'a/b', '.']) assert.equal(path.dirname(queueFolder('/u', id)), path.join('/u', 'thingsboard-queue'), id);
});

test('the portable CRC-32 (Node < 20.15 has no zlib.crc32) gives zlib\'s results', () => {
  const { crc32Portable } = require(path.join(__dirname, '..', '..', 'nodes', 'lib', 'device', 'crc32.js'));
  assert.equal(crc32Portable(Buffer.from('123456789')), 0xcbf43926); // the standard check value
  assert.equal(crc32Portable(Buffer.alloc(0)), 0);
  const zlib = require('node:zlib');
  if (zlib.crc32) {
    for (const len of [1, 7, 64, 1000]) {
      const data = require('node:crypto').randomBytes(len);
      assert.equal(crc32Portable(data), zlib.crc32(data) >>> 0);
    }
  }
});
