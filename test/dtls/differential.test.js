'use strict';
// test/run.js: every runtime
// Differential test of the trust decision: every chain of test/support/chain-corpus.js (made by the
// openssl CLI here, no checked-in keys) is served by `openssl s_server -dtls1_2` to our DTLS client
// and by `openssl s_server` (TLS 1.2) to Node's tls.connect, with the same chain, CA bundle, name
// and partial-chain setting. The two must agree, except where we are stricter by a documented
// choice (STRICTER). The peer proves each outcome: after an accept the secret reached s_server;
// after a reject nothing did.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const tls = require('node:tls');
const { connectDtls, DtlsError } = require('../../nodes/lib/dtls');
const { requirePeer } = require('../support/peers');
const { freeUdpPort, freeTcpPort } = require('../support/ports');
const { startSServer, startOpensslServer } = require('../support/dtls-peers');
const { opensslPki } = require('../support/openssl-pki');
const { buildCorpus, STRICTER } = require('../support/chain-corpus');

const CERT_CODES = new Set(['UNKNOWN_CA', 'CERT_EXPIRED', 'HOST_MISMATCH', 'BAD_CERTIFICATE', 'BAD_SIGNATURE']);
const PARALLEL = 4;
// The servers serve weak chains on purpose: their own security level must not stop them.
const WEAK_OK = 'ALL:@SECLEVEL=0';

async function startTlsServer({ port, cert, key, chain }) {
  const args = ['s_server', '-tls1_2', '-accept', String(port), '-cert', cert, '-key', key, '-cipher', WEAK_OK];
  if (chain) args.push('-cert_chain', chain);
  return startOpensslServer(args);
}

/**
 * The DTLS and the TLS s_server for one case, on free ports. A port found free can still be taken
 * by a test file running in parallel before openssl binds it: then both go and other ports are
 * tried. Whatever started is stopped on failure, so no server outlives its case.
 */
async function startServers({ cert, key, chain }) {
  for (let attempt = 1; ; attempt++) {
    const [udp, tcp] = [await freeUdpPort(), await freeTcpPort()];
    const started = await Promise.allSettled([
      startSServer({ port: udp, cert, key, chain, mtu: 1200, cipher: WEAK_OK }),
      startTlsServer({ port: tcp, cert, key, chain }),
    ]);
    if (started.every((s) => s.status === 'fulfilled')) return { udp, tcp, dServer: started[0].value, tServer: started[1].value };
    await Promise.all(started.filter((s) => s.status === 'fulfilled').map((s) => s.value.stop()));
    const err = started.find((s) => s.status === 'rejected').reason;
    if (attempt >= 3 || !/Address already in use/.test(String(err?.message))) throw err;
  }
}

/** Resolves 'accept' once `secret` reached the server, or 'reject' with the client's error. */
async function viaDtls({ port, ca, host, partial, server, secret }) {
  let conn;
  try {
    conn = await connectDtls({ host: '127.0.0.1', port, ca, serverName: host, allowPartialChain: partial, handshakeTimeoutMs: 10000, mtu: 1200 });
  } catch (err) {
    return { outcome: 'reject', code: err instanceof DtlsError ? err.code : 'INTERNAL', message: err.message };
  }
  try {
    await conn.send(Buffer.from(secret));
    await server.waitFor(new RegExp(secret), 5000);
    return { outcome: 'accept', message: '' };
  } finally { conn.close(); }
}

function viaTls({ port, ca, host, partial, server, secret }) {
  return new Promise((resolve) => {
    const isIp = /^[0-9.]+$/.test(host);
    const socket = tls.connect({
      host: '127.0.0.1', port, ca, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2',
      ...(isIp ? {} : { servername: host }), ...(partial ? { allowPartialTrustChain: true } : {}),
      checkServerIdentity: (_h, cert) => tls.checkServerIdentity(host, cert),
    });
    const timer = setTimeout(() => { socket.destroy(); resolve({ outcome: 'timeout', message: 'no TLS result in 10 s' }); }, 10000);
    socket.once('secureConnect', () => {
      socket.write(secret);
      server.waitFor(new RegExp(secret), 5000)
        .then(() => resolve({ outcome: 'accept', message: '' }), (err) => resolve({ outcome: 'lost', message: err.message }))
        .finally(() => { clearTimeout(timer); socket.destroy(); });
    });
    socket.once('error', (err) => { clearTimeout(timer); socket.destroy(); resolve({ outcome: 'reject', code: err.code, message: err.message }); });
  });
}

async function runCase(pki, c, index) {
  const cert = await pki.file(c.leaf);
  const key = await pki.keyFileOf(c.leaf);
  const chain = c.chain.length ? await pki.bundle(c.chain, `chain-${index}`) : undefined;
  const caFile = await pki.bundle(c.bundle, `ca-${index}`);
  const ca = fs.readFileSync(caFile, 'utf8');
  const { udp, tcp, dServer, tServer } = await startServers({ cert, key, chain });
  try {
    const secretD = `SECRET-DTLS-${index}-X`;
    const secretT = `SECRET-TLS-${index}-X`;
    const [ours, node] = await Promise.all([
      viaDtls({ port: udp, ca, host: c.host, partial: c.partial, server: dServer, secret: secretD }),
      viaTls({ port: tcp, ca, host: c.host, partial: c.partial, server: tServer, secret: secretT }),
    ]);
    await new Promise((r) => setTimeout(r, 100)); // anything in flight reaches the servers' output
    return { ours, node, leakedD: ours.outcome !== 'accept' && dServer.output().includes(secretD), leakedT: node.outcome !== 'accept' && tServer.output().includes(secretT) };
  } finally {
    await Promise.all([dServer.stop(), tServer.stop()]);
  }
}

test('differential: our DTLS client and Node tls reach the same trust decision on every chain of the corpus', { timeout: 300000 }, async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  assert.ok(typeof tls.connect === 'function');
  const started = Date.now();
  const pki = await opensslPki();
  t.after(() => pki.remove());
  const cases = await buildCorpus(pki);
  assert.ok(cases.length >= 60, `corpus has ${cases.length} chains`);
  const results = new Array(cases.length);
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runCase(pki, cases[i], i);
    }
  }));

  const problems = [];
  const table = [];
  cases.forEach((c, i) => {
    const { ours, node, leakedD, leakedT } = results[i];
    table.push(`${String(i).padStart(2)} ${c.name}: ours ${ours.outcome}${ours.code ? ` (${ours.code}: ${ours.message})` : ''}; node ${node.outcome}${node.code ? ` (${node.code})` : ''}`);
    if (leakedD || leakedT) problems.push(`${c.name}: a rejected connection still delivered data (${leakedD ? 'DTLS' : 'TLS'})`);
    if (ours.outcome === 'reject' && !CERT_CODES.has(ours.code) && node.outcome === 'reject' && ours.code !== 'ALERT_RECEIVED') {
      problems.push(`${c.name}: our rejection is not a certificate error: ${ours.code} ${ours.message}`);
    }
    if (node.outcome !== c.expect) problems.push(`${c.name}: the corpus expects Node to ${c.expect}, it did ${node.outcome} (${node.code} ${node.message})`);
    if (ours.outcome !== node.outcome) {
      const stricter = ours.outcome === 'reject' && node.outcome === 'accept' && STRICTER[c.name];
      if (!stricter) problems.push(`${c.name}: ours ${ours.outcome} (${ours.code ?? ''} ${ours.message}), node ${node.outcome} (${node.code ?? ''} ${node.message})`);
    } else if (STRICTER[c.name]) {
      problems.push(`${c.name}: listed as a stricter choice, but both ${ours.outcome}: update STRICTER`);
    }
  });
  t.diagnostic(`${cases.length} chains in ${((Date.now() - started) / 1000).toFixed(1)} s; accepted by both: ${results.filter((r) => r.ours.outcome === 'accept' && r.node.outcome === 'accept').length}`);
  for (const line of table) t.diagnostic(line);
  assert.deepEqual(problems, []);
});
