'use strict';
// DTLS peers for tests: openssl s_server and libcoap's coap-server-openssl / -gnutls, started on
// 127.0.0.1 and stopped by PID; plus a minimal CoAP message codec so a test can speak CoAP over
// a DtlsConnection without any CoAP library.
const { spawn } = require('node:child_process');
const { startCoapServer: startLibcoapServer } = require('./libcoap');

/** Spawns `cmd args`, collecting stdout+stderr; returns { proc, output(), waitFor(re, ms), stop() }. */
function startProcess(cmd, args, { keepStdinOpen = false, env } = {}) {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  let out = '';
  const waiters = new Set();
  const onData = (chunk) => {
    out += chunk.toString('latin1');
    for (const w of waiters) if (w.re.test(out)) { waiters.delete(w); clearTimeout(w.timer); w.resolve(); }
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  proc.on('error', (err) => { out += `\n[spawn error] ${err.message}`; });
  if (!keepStdinOpen) proc.stdin.end();
  let exited = false;
  const exitedPromise = new Promise((resolve) => proc.on('exit', () => { exited = true; resolve(); }));
  return {
    proc,
    output: () => out,
    waitFor(re, ms = 10000) {
      if (re.test(out)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { re, resolve, timer: setTimeout(() => { waiters.delete(w); reject(new Error(`${cmd} did not print ${re} within ${ms} ms; output:\n${out}`)); }, ms) };
        waiters.add(w);
      });
    },
    async stop() {
      if (exited) return;
      try { proc.stdin.end(); } catch { /* closed */ }
      try { process.kill(proc.pid, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(proc.pid, 'SIGKILL'); } catch { /* gone */ } }, 2000);
      await exitedPromise;
      clearTimeout(t);
    },
  };
}

/**
 * openssl s_server -dtls1_2 on `port`: asks for (but does not require) a client certificate,
 * like ThingsBoard, and prints the application data it receives. Resolves once it listens.
 */
async function startSServer({ port, cert, key, chain, mtu = 400, cipher, groups, sigalgs, extra = [], env }) {
  const args = ['s_server', '-dtls1_2', '-listen', '-accept', String(port), '-cert', cert, '-key', key, '-verify', '1', '-mtu', String(mtu)];
  if (chain) args.push('-cert_chain', chain);
  if (cipher) args.push('-cipher', cipher);
  if (groups) args.push('-groups', groups);
  if (sigalgs) args.push('-sigalgs', sigalgs);
  args.push(...extra);
  return startOpensslServer(args, env);
}

/** `openssl <args>` (s_server) once it prints ACCEPT; stopped again when it never does. */
async function startOpensslServer(args, env) {
  const p = startProcess('openssl', args, { keepStdinOpen: true, env });
  try {
    await p.waitFor(/ACCEPT/);
  } catch (err) {
    await p.stop(); // never leave a server running that its caller cannot stop
    throw err;
  }
  return p;
}

/**
 * coap-server-openssl / coap-server-gnutls with a PKI certificate (test/support/libcoap.js starts
 * and stops it): plain CoAP on `port`, CoAPS (DTLS) on `port + 1`, -d lets a POST create a
 * resource that a GET then returns. `-n`: no client certificate demanded (ThingsBoard's WANTED).
 */
function startCoapServer({ flavor = 'openssl', port, cert, key, ca, extra = [] }) {
  const extraArgs = ['-c', cert, '-j', key, '-n', ...(ca ? ['-R', ca] : []), ...extra];
  return startLibcoapServer({ port, command: `coap-server-${flavor}`, extraArgs });
}

// ---- a minimal CoAP (RFC 7252) codec -----------------------------------------------------------

const CoapCode = { GET: 1, POST: 2, PUT: 3, DELETE: 4 };

function optionHeaderPart(value) {
  if (value < 13) return { nibble: value, ext: Buffer.alloc(0) };
  if (value < 269) return { nibble: 13, ext: Buffer.from([value - 13]) };
  const ext = Buffer.alloc(2); ext.writeUInt16BE(value - 269); return { nibble: 14, ext };
}

/** Encodes a confirmable request: { code, messageId, token?, path: [segments], contentFormat?, payload? }. */
function encodeCoap({ code, messageId, token = Buffer.alloc(0), path = [], contentFormat, payload, type = 0 }) {
  const options = path.map((seg) => [11, Buffer.from(seg, 'utf8')]);
  if (contentFormat !== undefined) options.push([12, contentFormat === 0 ? Buffer.alloc(0) : Buffer.from([contentFormat])]);
  const parts = [Buffer.from([0x40 | (type << 4) | token.length, code, messageId >> 8, messageId & 0xff]), token];
  let last = 0;
  for (const [num, value] of options) {
    const d = optionHeaderPart(num - last);
    const l = optionHeaderPart(value.length);
    parts.push(Buffer.from([(d.nibble << 4) | l.nibble]), d.ext, l.ext, value);
    last = num;
  }
  if (payload && payload.length) parts.push(Buffer.from([0xff]), Buffer.from(payload));
  return Buffer.concat(parts);
}

/** Decodes { type, code: 'c.dd', messageId, token, payload }. */
function decodeCoap(buf) {
  const tkl = buf[0] & 0x0f;
  const type = (buf[0] >> 4) & 3;
  const code = `${buf[1] >> 5}.${String(buf[1] & 0x1f).padStart(2, '0')}`;
  const messageId = buf.readUInt16BE(2);
  const token = buf.subarray(4, 4 + tkl);
  let i = 4 + tkl;
  while (i < buf.length && buf[i] !== 0xff) {
    const dn = buf[i] >> 4; const ln = buf[i] & 0x0f; i++;
    if (dn === 13) i += 1; else if (dn === 14) i += 2;
    let len = ln;
    if (ln === 13) { len = buf[i] + 13; i += 1; } else if (ln === 14) { len = buf.readUInt16BE(i) + 269; i += 2; }
    i += len;
  }
  const payload = i < buf.length ? buf.subarray(i + 1) : Buffer.alloc(0);
  return { type, code, messageId, token, payload };
}

/**
 * Sends a CoAP request over a DtlsConnection-like object (send + 'message') and resolves the
 * response whose messageId (piggybacked ACK) or token matches. Retransmits every `retryMs`.
 */
function coapExchange(conn, request, { retryMs = 1000, timeoutMs = 20000 } = {}) {
  const bytes = encodeCoap(request);
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      let r;
      try { r = decodeCoap(msg); } catch { return; }
      if (r.messageId === request.messageId || (request.token && r.token.equals(request.token) && r.code !== '0.00')) {
        if (r.code === '0.00') return; // empty ACK: wait for the separate response
        cleanup();
        if (r.type === 0) conn.send(encodeCoap({ code: 0, messageId: r.messageId, type: 2 })).catch(() => {});
        resolve(r);
      }
    };
    const retry = setInterval(() => conn.send(bytes).catch(() => {}), retryMs);
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no CoAP answer to message ${request.messageId}`)); }, timeoutMs);
    const cleanup = () => { clearInterval(retry); clearTimeout(timer); conn.off('message', onMessage); };
    conn.on('message', onMessage);
    conn.send(bytes).catch((err) => { cleanup(); reject(err); });
  });
}

module.exports = { startProcess, startSServer, startOpensslServer, startCoapServer, encodeCoap, decodeCoap, coapExchange, CoapCode };
