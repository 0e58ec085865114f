'use strict';
// Baseline for the CoAPS handshake: libcoap's `coap-client-openssl` one-shot (the client the
// ThingsBoard docs use), handshake + one confirmable POST, wall clock from spawn to exit, `repeat`
// times against the same server. Its exit code says nothing about success, so its output is read.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { scenario } = require('../lib/child.js');
const { reading, tokenFor } = require('../lib/flows.js');
const { median } = require('../lib/stats.js');

scenario(async ({ port, caCert, repeat = 10 }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-bench-oneshot-'));
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, caCert);
  const uri = `coaps://127.0.0.1:${port}/api/v1/${tokenFor(0)}/telemetry`;
  const walls = [];
  try {
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      const { code, out } = await new Promise((resolve, reject) => {
        const child = spawn('coap-client-openssl', ['-R', caFile, '-m', 'post', '-t', 'json', '-e', JSON.stringify(reading(i)), '-B', '10', uri], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => { out += d; });
        child.stderr.on('data', (d) => { out += d; });
        child.once('error', reject);
        child.once('exit', (c) => resolve({ code: c, out }));
      });
      const wall = performance.now() - t0;
      if (code !== 0 || /error|unknown ca|4\.\d\d|5\.\d\d|fail/i.test(out)) throw new Error(`coap-client-openssl failed (${code}): ${out.slice(0, 300)}`);
      walls.push(wall);
    }
    return { repeat, medianMs: median(walls), walls };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
