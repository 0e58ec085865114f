'use strict';
// libcoap's command-line peers (Debian libcoap3-bin) for CoAP tests:
//   const server = await startCoapServer();          // coap-server-notls on 127.0.0.1, free port
//   ... POST to coap://127.0.0.1:server.port/api/v1/TOKEN/telemetry ...
//   const body = await coapGet(server.port, 'api/v1/TOKEN/telemetry');   // the last POSTed payload
//   await server.stop();                              // killed by PID
// `-d 100` lets a POST create the resource it names (ThingsBoard's paths do not exist on a bare
// libcoap server), and a later GET returns the last payload: that proves what was delivered.
const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const { freeUdpPortPair } = require('./ports');

/** Resolves when something at host:port answers a CoAP ping (empty CON) within `ms`. */
function coapPing(port, host = '127.0.0.1', ms = 200) {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => { sock.close(); resolve(false); }, ms);
    sock.on('message', () => { clearTimeout(timer); sock.close(); resolve(true); });
    sock.on('error', () => { clearTimeout(timer); sock.close(); resolve(false); });
    sock.send(Buffer.from([0x40, 0x00, 0x4a, 0x11]), port, host);
  });
}

/**
 * Starts `coap-server-notls -A host -p PORT -d 100 -v 7` (or `command`, e.g. coap-server-openssl
 * with its -c/-j/-R/-n in extraArgs) and waits until it answers a ping on PORT.
 * @returns {Promise<{ port: number, host: string, pid: number, log: () => string, stop: () => Promise<void> }>}
 */
async function startCoapServer({ host = '127.0.0.1', port, extraArgs = [], command = 'coap-server-notls' } = {}) {
  const chosen = port || await freeUdpPortPair();
  // coap-server-openssl / -gnutls serve plain CoAP on PORT too, and DTLS on PORT + 1.
  const child = spawn(command, ['-A', host, '-p', String(chosen), '-d', '100', '-v', '7', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (d) => { output = (output + d).slice(-200000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exitedPromise = new Promise((resolve) => child.once('exit', () => { exited = true; resolve(); }));

  const stop = async () => {
    if (!exited) {
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 2000);
      await exitedPromise;
      clearTimeout(timer);
    }
  };

  for (let i = 0; i < 50 && !exited; i++) {
    if (await coapPing(chosen, host)) return { port: chosen, host, pid: child.pid, log: () => output, stop };
  }
  await stop();
  throw new Error(`${command} did not start on ${host}:${chosen}:\n${output.slice(-2000)}`);
}

/** Runs coap-client-notls with args; resolves { code, stdout, stderr } (it exits 0 even on errors). */
function coapClient(args) {
  return new Promise((resolve, reject) => {
    const child = spawn('coap-client-notls', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** GETs coap://host:port/path with coap-client-notls and resolves its body (block-wise if needed). */
async function coapGet(port, path, host = '127.0.0.1') {
  const where = host.includes(':') ? `[${host}]` : host;
  const { stdout, stderr } = await coapClient(['-m', 'get', '-B', '10', `coap://${where}:${port}/${path.replace(/^\//, '')}`]);
  if (stderr.trim() && !stdout) throw new Error(`coap-client-notls GET ${path}: ${stderr.trim()}`);
  return stdout.replace(/\n$/, ''); // coap-client ends the body with a newline of its own
}

module.exports = { startCoapServer, coapClient, coapGet, coapPing };
