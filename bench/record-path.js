'use strict';
// The DTLS record path alone, per cipher suite: one record sealed and one opened through our
// RecordLayer (src/dtls/record-layer.ts), as an established CoAPS session does per message.
//   warm: in a tight loop (caches hot);
//   cold: one seal or open per 1 ms timer, as on a session where each record is handled between
//         idle waits while other processes run (what the CoAPS bench sees).
// `npm run build` first; then: node bench/record-path.js [bytes=110] [samples=400]
const path = require('node:path');
const crypto = require('node:crypto');

const lib = path.join(__dirname, '..', 'nodes', 'lib', 'dtls');
const { RecordLayer } = require(path.join(lib, 'record-layer.js'));
const { parseDatagram } = require(path.join(lib, 'protocol', 'record.js'));
const { CIPHER_SUITES } = require(path.join(lib, 'crypto', 'ciphersuites.js'));

const bytes = Number(process.argv[2] || 110);
const samples = Number(process.argv[3] || 400);
const names = ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8'];

function pair(suite) {
  const keys = { suite, key: crypto.randomBytes(suite.keyLength), salt: crypto.randomBytes(4) };
  const writer = new RecordLayer();
  const reader = new RecordLayer();
  writer.setWriteKeys(1, keys);
  reader.setReadKeys(1, keys);
  reader.readEpoch = 1;
  const plaintext = crypto.randomBytes(bytes);
  let last;
  return {
    seal: () => { last = writer.seal(23, 1, plaintext); },
    open: () => { if (!Buffer.isBuffer(reader.open(parseDatagram(last)[0]))) throw new Error('record did not open'); },
  };
}

const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const us = (t0) => Number(process.hrtime.bigint() - t0) / 1000;

(async () => {
  const cases = names.map((n) => [n, pair(CIPHER_SUITES.find((s) => s.name === n))]);
  const warm = new Map();
  for (const [name, p] of cases) {
    for (let i = 0; i < 20000; i++) { p.seal(); p.open(); }
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 20000; i++) { p.seal(); p.open(); }
    warm.set(name, us(t0) / 20000);
  }
  const cold = new Map(cases.map(([n]) => [n, { seal: [], open: [] }]));
  for (let r = 0; r < samples; r++) {
    for (const [name, p] of cases) {
      for (const step of ['seal', 'open']) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        const t0 = process.hrtime.bigint();
        p[step]();
        cold.get(name)[step].push(us(t0));
      }
    }
  }
  console.log(`record path, ${bytes}-byte records, node ${process.version}: µs per record`);
  for (const [name] of cases) {
    const c = cold.get(name);
    console.log(`${name.padEnd(42)} warm seal+open ${warm.get(name).toFixed(1).padStart(5)}   cold seal ${median(c.seal).toFixed(1).padStart(5)}  open ${median(c.open).toFixed(1).padStart(5)}  (medians of ${samples})`);
  }
})();
