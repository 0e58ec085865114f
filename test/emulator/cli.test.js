'use strict';
// emulator/cli.js as a user runs it: the summary names every front end, and one that is off says
// why on its own row (turned off by its option, or no socat for CoAPS), never pointing at a note
// that is not there; --help lists every port option.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', '..');
const cli = path.join(root, 'emulator', 'cli.js');

/** Runs cli.js until its summary is printed, then stops it with SIGINT; resolves its output. */
function summary(t, args, env = process.env) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-cli-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const child = spawn(process.execPath, [cli, '--data-dir', dataDir, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let out = '';
  let stopped = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no summary within 20 s:\n${out}`)), 20000);
    const onData = (c) => {
      out += c;
      // One Ctrl-C: a second one means "stop now" (exit 130).
      if (!stopped && /Ctrl-C stops it/.test(out)) {
        stopped = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!/Ctrl-C stops it/.test(out)) reject(new Error(`cli.js exited (${code}) before its summary:\n${out}`));
      else resolve({ out, code });
    });
  });
}

const row = (out, label) => (new RegExp(`^  ${label} +(.*)$`, 'm').exec(out) || [])[1];

test('cli: a front end turned off says so on its row; no "see the note above" without a note', { timeout: 30000 }, async (t) => {
  const { out, code } = await summary(t, ['--mqtt', '0', '--mqtts', 'off', '--coap', '0', '--coaps', 'off', '--web', 'off']);
  assert.match(row(out, 'MQTT'), /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(row(out, 'MQTTS'), 'off (--mqtts off)');
  assert.match(row(out, 'CoAP'), /^coap:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(row(out, 'CoAPS'), 'off (--coaps off)');
  assert.equal(row(out, 'page'), 'off (--web off)');
  assert.doesNotMatch(out, /see the note/);
  assert.match(out, /demo-device-1 … demo-device-4, tokens demo-token-1 … demo-token-4/);
  assert.equal(code, 0, 'Ctrl-C stops it cleanly');
});

test('cli: without socat the CoAPS row gives the reason itself', { timeout: 30000 }, async (t) => {
  // A PATH without socat (and without anything else: node is started by its full path).
  const { out } = await summary(t, ['--mqtt', 'off', '--mqtts', 'off', '--coap', 'off', '--coaps', '0', '--web', 'off', '--devices', '1'], { ...process.env, PATH: '/nonexistent' });
  assert.match(row(out, 'CoAPS'), /^off: .*socat/);
  assert.doesNotMatch(out, /see the note|CoAPS is off/, 'the reason is said once, on the row');
  assert.equal(row(out, 'device'), 'demo-device-1 (token demo-token-1)');
});

test('cli: --help lists every front end option', () => {
  const res = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  assert.equal(res.status, 0);
  for (const flag of ['--host', '--mqtt', '--mqtts', '--coap', '--coaps', '--web', '--devices', '--data-dir', '--json']) assert.ok(res.stdout.includes(flag), `--help mentions ${flag}`);
  assert.doesNotMatch(res.stdout, /^const |require\(/m, 'only the usage comment, no code');
});

test('cli: the summary names the example flows\' devices (example-token-N)', { timeout: 30000 }, async (t) => {
  const { out } = await summary(t, ['--mqtt', '0', '--mqtts', 'off', '--coap', 'off', '--coaps', 'off', '--web', 'off']);
  assert.match(row(out, 'examples'), /example-1 … example-99, tokens example-token-1 … example-token-99/);
});

test('cli: a busy MQTT port is explained loudly: what moved, who still points at the old port, how to choose', { timeout: 30000 }, async (t) => {
  // "A Mosquitto on 1883": a port this test holds.
  const other = require('node:net').createServer((s) => s.destroy());
  await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
  t.after(() => other.close());
  const busy = other.address().port;
  const { out } = await summary(t, ['--mqtt', String(busy), '--mqtts', 'off', '--coap', 'off', '--coaps', 'off', '--web', 'off']);
  const port = /^mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(row(out, 'MQTT'))[1];
  assert.notEqual(Number(port), busy);
  const warning = out.split('\n').filter((l) => l.startsWith('!!! '));
  assert.ok(warning.length >= 5, `a multi-line warning:\n${out}`);
  const text = warning.join('\n');
  assert.match(text, new RegExp(`MQTT port ${busy} is taken by another program .*listens on 127\\.0\\.0\\.1:${port} instead`));
  assert.match(text, new RegExp(`still set to ${busy} \\(the imported examples`));
  assert.match(text, /"connected" and Complete says "delivered", but nothing reaches the emulator/);
  assert.match(text, /stop the other program/);
  assert.match(text, new RegExp(`--mqtt ${port}`));
});
