'use strict';
// A DTLS 1.2 server with Connection ID (RFC 9146) for the tests: test/support/CidEchoServer.java
// on Bouncy Castle's TLS API (1.80 has CID; Debian bookworm's 1.72 does not, so .ci/run puts the
// jars from Debian's newer release into BC_JAR_DIR). The Java file is compiled at run time into
// a temporary folder. It echoes every application record, gives a client that offers the
// extension an 8-byte CID (as ThingsBoard's Californium does) and follows the client to a new
// address only when its records carry the CID.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { X509Certificate, createPrivateKey } = require('node:crypto');
const { startProcess } = require('./dtls-peers');
const { inCI } = require('./peers');

const BC_JAR_DIR = process.env.BC_JAR_DIR || '/opt/bouncycastle-1.80';
const JARS = ['bcprov.jar', 'bctls.jar', 'bcutil.jar'].map((j) => path.join(BC_JAR_DIR, j));

function haveJava() {
  try { execFileSync('javac', ['-version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

/** True when java and the jars are there; otherwise skips the test loudly (fails it in CI). */
function requireBcPeer(t) {
  const missing = [];
  if (!haveJava()) missing.push('javac/java (default-jdk-headless)');
  for (const jar of JARS) if (!fs.existsSync(jar)) missing.push(jar);
  if (missing.length === 0) return true;
  const msg = `Bouncy Castle DTLS peer missing: ${missing.join(', ')} (see .ci/run: it installs them)`;
  if (inCI) throw new Error(msg);
  console.warn(`# SKIP ${msg}`);
  t.skip(msg);
  return false;
}

/**
 * Starts the server on 127.0.0.1:`port` with `keyPem` and the chain `certPems` (leaf first);
 * `cid` false: it does not offer a Connection ID; `forwardPort`: relays each session's
 * application data to that plain UDP port on 127.0.0.1 (a CoAP server) instead of echoing. Returns the process handle of startProcess
 * plus `handshakes()` (how many it completed) and `rebinds()`.
 */
async function startCidServer({ port, keyPem, certPems, cid = true, forwardPort = 0, resume = false }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bc-dtls-'));
  const classpath = JARS.join(path.delimiter);
  execFileSync('javac', ['-cp', classpath, '-d', dir, path.join(__dirname, 'CidEchoServer.java')], { stdio: 'pipe' });
  const keyFile = path.join(dir, 'key.der');
  fs.writeFileSync(keyFile, createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' }), { mode: 0o600 });
  const certFiles = certPems.map((pem, i) => {
    const file = path.join(dir, `cert${i}.der`);
    fs.writeFileSync(file, new X509Certificate(pem).raw);
    return file;
  });
  const p = startProcess('java', [...(forwardPort ? [`-Dforward=${forwardPort}`] : []), ...(resume ? ['-Dresume=true'] : []), '-cp', classpath + path.delimiter + dir, 'CidEchoServer', String(port), keyFile, cid ? 'cid' : 'nocid', ...certFiles]);
  const stop = p.stop;
  p.stop = async () => { await stop(); fs.rmSync(dir, { recursive: true, force: true }); };
  try {
    await p.waitFor(/LISTEN \d+/, 20000);
  } catch (err) {
    await p.stop();
    throw err;
  }
  p.handshakes = () => (p.output().match(/^HANDSHAKE \d+/gm) || []).length;
  p.rebinds = () => (p.output().match(/^REBIND /gm) || []).length;
  p.resumed = () => (p.output().match(/^HANDSHAKE \d+ CID \S+ resumed/gm) || []).length;
  p.lastCid = () => { const m = p.output().match(/^HANDSHAKE \d+ CID (\S+)/gm); return m ? m[m.length - 1].split(' ')[3] : null; };
  return p;
}

module.exports = { startCidServer, requireBcPeer, BC_JAR_DIR };
