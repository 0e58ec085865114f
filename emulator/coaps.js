'use strict';
// The CoAPS front end of the emulator: Node.js has no DTLS server, so Debian's socat terminates
// DTLS 1.2 with the emulator's server certificate and relays the plain CoAP datagrams to the CoAP
// emulator (emulator/coap.js) — one socat child per DTLS session. The CoAP emulator then
// answers as ThingsBoard does (2.01 / 4.00 / 4.01), so CoAPS readings land in the same store.
// Unlike ThingsBoard, socat does not send a CertificateRequest (verify=0); the tests against
// `openssl s_server -verify 1` cover that part of the handshake.
//
//   const { startCoapsEmulator, coapsUnavailable } = require('./coaps');
//   if (!coapsUnavailable()) emu = await startCoapsEmulator({ host, port, coapPort, certs });
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');

/** Why CoAPS cannot run here (a sentence for the user), or null when it can. */
function coapsUnavailable() {
  const probe = spawnSync('socat', ['-h'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'needs socat (apt-get install socat)';
  if (!/openssl-dtls-server/.test(probe.stdout)) return 'this socat has no DTLS support';
  return null;
}

function freeUdpPort(host) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', reject);
    sock.bind(0, host, () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

/**
 * @param {{host?: string, port?: number, coapPort: number, certs: {certFile: string, keyFile: string}}} opts
 * @returns {Promise<{port: number, host: string, pid: number, close(): Promise<void>, stats: object}>}
 */
async function startCoapsEmulator({ host = '127.0.0.1', port = 0, coapPort, certs }) {
  const why = coapsUnavailable();
  if (why) throw new Error(`CoAPS emulator ${why}`);
  if (!certs || !certs.certFile || !certs.keyFile) throw new Error('CoAPS emulator: certificate files are required');
  const listenPort = port || (await freeUdpPort(host));
  const ipv6 = host.includes(':');
  const listen = [
    `openssl-dtls-server:${listenPort}`,
    `bind=${ipv6 ? `[${host}]` : host}`,
    `cert=${certs.certFile}`,
    `key=${certs.keyFile}`,
    'verify=0',
    'fork',
    ipv6 ? 'pf=ip6' : 'pf=ip4',
  ].join(',');
  const target = `udp:${ipv6 ? `[${host}]` : host}:${coapPort}`;
  // socat runs under a small shell in a process group of its own: close() ends the group (socat
  // and the per-session children it forked), and the shell ends it too if this Node.js process
  // dies without closing (a SIGKILL), so no DTLS listener is left behind.
  const watchdog = 'socat "$@" & while kill -0 "$NODE_PID" 2>/dev/null && kill -0 $! 2>/dev/null; do sleep 1; done; kill -TERM 0';
  const child = spawn('sh', ['-c', watchdog, 'sh', '-d', '-d', '-T', '600', listen, target], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: { ...process.env, NODE_PID: String(process.pid) },
  });
  let log = '';
  child.stderr.setEncoding('utf8');
  const stats = { sessions: 0 };

  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log += chunk;
      if (/listening on/.test(log)) resolve();
      stats.sessions += (chunk.match(/forked off child process/g) || []).length;
      if (log.length > 65536) log = log.slice(-16384);
    };
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`socat (CoAPS) exited with ${code}: ${log.trim().split('\n').slice(-3).join(' | ')}`)));
    child.once('error', reject);
  });

  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
    await exited;
  }

  return { port: listenPort, host, pid: child.pid, close, stats };
}

module.exports = { startCoapsEmulator, coapsUnavailable };
