'use strict';
// Debian peers the bench starts (mosquitto, mosquitto_sub, libcoap servers) and always stops,
// by PID, on success, failure, or Ctrl-C.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freeTcpPort, freeUdpPortPair } = require('../../test/support/ports.js');

const started = new Set();

function have(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

function track(child) {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

function stopAll() {
  for (const child of started) {
    try { process.kill(child.pid, 'SIGTERM'); } catch { /* already gone */ }
  }
}
process.once('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => { stopAll(); process.exit(130); });
}

function stop(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
    try { process.kill(child.pid, 'SIGTERM'); } catch { clearTimeout(timer); resolve(); }
  });
}

function waitForLine(child, stream, pattern, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${pattern} (${seen.slice(-300)})`)), timeoutMs);
    const onData = (d) => {
      seen += d.toString();
      if (pattern.test(seen)) { clearTimeout(timer); stream.off('data', onData); resolve(); }
    };
    stream.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code}: ${seen.slice(-300)}`)); });
  });
}

/** mosquitto on a free loopback port; no ACL, no persistence, unlimited queues (nothing dropped). */
async function startMosquitto() {
  const port = await freeTcpPort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-bench-mosq-'));
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, [
    `user ${os.userInfo().username}`,
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'max_queued_messages 0',
    'max_inflight_messages 0',
    'connection_messages false',
    'log_type error',
    'log_type warning',
    'log_dest stderr',
    '',
  ].join('\n'));
  const child = track(spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
  child.stderr.resume();
  // With connection logging off mosquitto prints nothing on start: poll the port instead.
  await waitForTcp(port);
  return { port, child, stop: async () => { await stop(child); fs.rmSync(dir, { recursive: true, force: true }); } };
}

async function waitForTcp(port, timeoutMs = 5000) {
  const net = require('node:net');
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listening on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * mosquitto_sub writing "<unix time with ns> <payload>" lines into a file: counting happens at the
 * broker's far side, in a separate C process, so it costs the measured Node process nothing.
 */
/** `gateway`: bodies are ThingsBoard gateway telemetry {"name":[entries], ...}: count the entries. */
async function startCounter(port, topic, { gateway = false } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-bench-sub-'));
  const file = path.join(dir, 'received.txt');
  const fd = fs.openSync(file, 'w');
  const child = track(spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', topic, '-q', '1', '-F', '%U %p\n', '-i', `bench-counter-${process.pid}`], { stdio: ['ignore', fd, 'pipe'] }));
  fs.closeSync(fd);
  child.stderr.resume();
  await new Promise((r) => setTimeout(r, 300)); // let it subscribe before anything is sent
  return {
    file,
    /** Parses what arrived: telemetry entries (an array publish counts each element) and when. */
    read() {
      const text = fs.readFileSync(file, 'utf8');
      let entries = 0;
      let publishes = 0;
      let lastAt = 0;
      let firstAt = 0;
      let pos = 0;
      while (pos < text.length) {
        let nl = text.indexOf('\n', pos);
        if (nl < 0) nl = text.length;
        const line = text.slice(pos, nl);
        pos = nl + 1;
        if (!line) continue;
        const sp = line.indexOf(' ');
        const at = Number(line.slice(0, sp)) * 1000;
        const body = line.slice(sp + 1);
        publishes++;
        if (gateway) {
          for (const list of Object.values(JSON.parse(body))) entries += Array.isArray(list) ? list.length : 1;
        } else {
          entries += body.startsWith('[') ? JSON.parse(body).length : 1;
        }
        if (!firstAt) firstAt = at;
        if (at > lastAt) lastAt = at;
      }
      return { entries, publishes, firstAt, lastAt };
    },
    /** Waits until `expected` entries arrived or nothing new came for `quietMs`. */
    async settle(expected, quietMs = 2000) {
      let last = -1;
      let since = Date.now();
      for (;;) {
        const r = this.read();
        if (r.entries >= expected) return r;
        if (r.entries !== last) { last = r.entries; since = Date.now(); }
        if (Date.now() - since > quietMs) return r;
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    stop: async () => { await stop(child); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

module.exports = { have, startMosquitto, startCounter, stop, stopAll, track, waitForLine, freeTcpPort, freeUdpPortPair };

/**
 * libcoap's coap-server-notls (or -openssl with DTLS on port + 1 when `dtls` is given:
 * {cert, key, caFile}); -d lets the POSTs create their resource, as ThingsBoard accepts them.
 */
async function startCoapServer(dtls) {
  const port = await freeUdpPortPair();
  const args = ['-A', '127.0.0.1', '-p', String(port), '-d', '100'];
  if (dtls) args.push('-c', dtls.cert, '-j', dtls.key, '-R', dtls.caFile, '-n');
  const child = track(spawn(dtls ? 'coap-server-openssl' : 'coap-server-notls', args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let errText = '';
  child.stderr.on('data', (d) => { errText = (errText + d).slice(-2000); });
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`coap server exited: ${errText}`);
  return { port, dtlsPort: port + 1, child, stop: () => stop(child) };
}

module.exports.startCoapServer = startCoapServer;
