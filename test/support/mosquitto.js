'use strict';
// mosquitto from Debian as a ThingsBoard-like MQTT(S) peer (see shared/reference/test-peers.md):
// anonymous connections allowed, and an ACL that lets only the access token publish to
// v1/devices/me/# — a publish from any other username is dropped (under 3.1.1 still PUBACKed),
// so what the observer sees proves the username was the token. An observer (mosquitto_sub -u
// observer) on a separate plain listener counts what arrived at the broker.
//
//   const broker = await startMosquitto({ token, tls: { caPem, certPem, keyPem } });
//   MQTT basic credentials: { passwords: { user: 'pw' } } writes a password file (a wrong password
//   → CONNACK 5) and lets each of those users publish to v1/devices/me/#; `aclUsers` adds users
//   to the ACL without a password. Client certificates: tls.requireCertificate (mosquitto then
//   verifies the client's chain against tls.caPem or tls.clientCaPem) and
//   tls.useIdentityAsUsername (the certificate's CN becomes the user name: put it in aclUsers).
//   const obs = await broker.observe();            // obs.messages: [{topic, payload: Buffer}]
//   broker.log()                                   // mosquitto's log so far (stderr)
//   await broker.restart(); await broker.stop();
// Every process is started and stopped by PID.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freeTcpPort } = require('./ports');

function waitForText(getText, pattern, what, ms = 10000) {
  return new Promise((resolve, reject) => {
    const end = Date.now() + ms;
    const tick = () => {
      if (pattern.test(getText())) return resolve();
      if (Date.now() > end) return reject(new Error(`mosquitto: timed out waiting for ${what}; log:\n${getText()}`));
      setTimeout(tick, 20);
    };
    tick();
  });
}

function stopProcess(child) {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try { process.kill(child.pid, 'SIGTERM'); } catch { clearTimeout(timer); resolve(); }
  });
}

/**
 * @param {{token: string, tls?: {caPem: string, certPem: string, keyPem: string}, extraTokens?: string[], topics?: string[]}} opts
 *   topics: what the tokens may read and write (default v1/devices/me/#; a gateway adds v1/gateway/#)
 */
async function startMosquitto({ token, tls, extraTokens = [], passwords, aclUsers = [], topics = ['v1/devices/me/#'] }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-mosquitto-'));
  const port = await freeTcpPort();
  const observerPort = await freeTcpPort();
  const acl = [
    ...[token, ...extraTokens, ...Object.keys(passwords || {}), ...aclUsers].flatMap((t) => [`user ${t}`, ...topics.map((topic) => `topic readwrite ${topic}`), '']),
    'user observer',
    'topic read #',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'acl'), acl);
  const passwordLines = [];
  if (passwords) {
    const file = path.join(dir, 'passwd');
    fs.writeFileSync(file, '', { mode: 0o600 });
    for (const [user, pw] of Object.entries(passwords)) {
      const r = require('node:child_process').spawnSync('mosquitto_passwd', ['-b', file, user, pw], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr}`);
    }
    passwordLines.push(`password_file ${file}`);
  }
  const conf = [
    // mosquitto drops root privileges to the user "mosquitto", which cannot read this folder.
    process.getuid && process.getuid() === 0 ? 'user root' : '',
    'per_listener_settings false',
    'allow_anonymous true',
    `acl_file ${path.join(dir, 'acl')}`,
    ...passwordLines,
    'persistence false',
    'log_dest stderr',
    'log_type all',
    'connection_messages true',
    `listener ${port} 127.0.0.1`,
  ];
  if (tls) {
    fs.writeFileSync(path.join(dir, 'ca.pem'), tls.caPem);
    fs.writeFileSync(path.join(dir, 'server.pem'), tls.certPem);
    fs.writeFileSync(path.join(dir, 'server.key'), tls.keyPem, { mode: 0o600 });
    if (tls.clientCaPem) fs.writeFileSync(path.join(dir, 'ca.pem'), tls.clientCaPem);
    conf.push(`cafile ${path.join(dir, 'ca.pem')}`, `certfile ${path.join(dir, 'server.pem')}`, `keyfile ${path.join(dir, 'server.key')}`);
    if (tls.requireCertificate) conf.push('require_certificate true');
    if (tls.useIdentityAsUsername) conf.push('use_identity_as_username true');
  }
  conf.push(`listener ${observerPort} 127.0.0.1`, '');
  fs.writeFileSync(path.join(dir, 'mosquitto.conf'), conf.join('\n'));

  let logText = '';
  let child;
  const observers = new Set();

  async function start() {
    const startAt = logText.length;
    child = spawn('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { logText += d; });
    await waitForText(() => logText.slice(startAt), new RegExp(`Opening ipv4 listen socket on port ${observerPort}`), 'the listeners');
  }

  /** Counts every message at the broker (the observer reconnects after restart() on its own). */
  async function observe(topic = 'v1/devices/me/#') {
    const messages = [];
    const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(observerPort), '-u', 'observer', '-q', '1', '-t', topic, '-F', '%t %x', '-c', '-i', `observer-${process.pid}-${observers.size}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffer = '';
    sub.stdout.setEncoding('utf8');
    sub.stdout.on('data', (d) => {
      buffer += d;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const space = line.indexOf(' ');
        if (space > 0) messages.push({ topic: line.slice(0, space), payload: Buffer.from(line.slice(space + 1), 'hex') });
      }
    });
    sub.stderr.resume();
    observers.add(sub);
    await waitForText(() => logText, /Received SUBSCRIBE from observer-/, 'the observer to subscribe');
    return { messages, process: sub };
  }

  async function stop() {
    await stopProcess(child);
  }

  await start();
  return {
    port,
    observerPort,
    dir,
    log: () => logText,
    observe,
    /** Stops the broker process (clients see the connection drop) and starts it again. */
    async restart(pauseMs = 0) {
      await stop();
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      await start();
    },
    stopBroker: stop,
    startBroker: start,
    async close() {
      for (const sub of observers) await stopProcess(sub);
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startMosquitto, stopProcess };
