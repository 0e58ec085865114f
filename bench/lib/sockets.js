'use strict';
// How many TCP connections THIS process has established to a port: a way to tell that N device
// connections are up that does not depend on either node's internals.
const fs = require('node:fs');

function ownSocketInodes() {
  const inodes = new Set();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* fd closed meanwhile */ }
  }
  return inodes;
}

function establishedTo(port) {
  const inodes = ownSocketInodes();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[3] === '01' && f[2].endsWith(`:${hexPort}`) && inodes.has(f[9])) n++;
    }
  }
  return n;
}

async function waitForConnections(port, count, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const n = establishedTo(port);
    if (n >= count) return n;
    if (Date.now() > until) throw new Error(`only ${n} of ${count} connections to port ${port} came up`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

module.exports = { establishedTo, waitForConnections };
