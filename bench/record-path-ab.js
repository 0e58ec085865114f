'use strict';
// bench/record-path.js for two builds side by side in ONE process: one seal or one open per 1 ms
// timer (cold, as on an established session), alternating tree A and tree B sample by sample, so
// both see the same load; then each warm in a tight loop. Each tree must be built.
//   node bench/record-path-ab.js <treeA> <treeB> [bytes=110] [samples=1000] [suite=TLS_ECDHE_ECDSA_WITH_AES_128_CCM]
const path = require('node:path'); const crypto = require('node:crypto');
if (process.argv.length < 4) { console.error('usage: node bench/record-path-ab.js <treeA> <treeB> [bytes] [samples] [suite]'); process.exit(2); }
const trees = { A: path.resolve(process.argv[2]), B: path.resolve(process.argv[3]) };
const bytes = Number(process.argv[4] || 110), samples = Number(process.argv[5] || 1000), suiteName = process.argv[6] || 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM';
function pair(dir) {
  const lib = path.join(dir, 'nodes', 'lib', 'dtls');
  const { RecordLayer } = require(path.join(lib, 'record-layer.js'));
  const { parseDatagram } = require(path.join(lib, 'protocol', 'record.js'));
  const { CIPHER_SUITES } = require(path.join(lib, 'crypto', 'ciphersuites.js'));
  const suite = CIPHER_SUITES.find((s) => s.name === suiteName);
  const keys = { suite, key: crypto.randomBytes(suite.keyLength), salt: crypto.randomBytes(4) };
  const w = new RecordLayer(), r = new RecordLayer(); w.setWriteKeys(1, keys); r.setReadKeys(1, keys); r.readEpoch = 1;
  const pt = crypto.randomBytes(bytes); let last;
  return { seal: () => { last = w.seal(23, 1, pt); }, open: () => { if (!Buffer.isBuffer(r.open(parseDatagram(last)[0]))) throw new Error('no open'); } };
}
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const q = (a, p) => a.slice().sort((x, y) => x - y)[Math.floor(a.length * p)];
(async () => {
  const p = { A: pair(trees.A), B: pair(trees.B) };
  for (let i = 0; i < 20000; i++) for (const k of ['A', 'B']) { p[k].seal(); p[k].open(); }
  const t = { A: { seal: [], open: [] }, B: { seal: [], open: [] } };
  for (let s = 0; s < samples; s++) {
    const order = s % 2 ? ['A', 'B'] : ['B', 'A'];
    for (const k of order) for (const step of ['seal', 'open']) {
      await new Promise((res) => setTimeout(res, 1));
      const t0 = process.hrtime.bigint(); p[k][step](); t[k][step].push(Number(process.hrtime.bigint() - t0) / 1000);
    }
  }
  const wt = {};
  for (const k of ['A', 'B']) { const t0 = process.hrtime.bigint(); for (let i = 0; i < 20000; i++) { p[k].seal(); p[k].open(); } wt[k] = Number(process.hrtime.bigint() - t0) / 1000 / 20000; }
  console.log(`${suiteName} ${bytes} B, ${samples} interleaved cold samples, load ${require('fs').readFileSync('/proc/loadavg','utf8').split(' ')[0]}`);
  for (const k of ['A', 'B']) console.log(`${k} (${trees[k]}): cold seal median ${med(t[k].seal).toFixed(2)} (p25 ${q(t[k].seal, .25).toFixed(2)})  open median ${med(t[k].open).toFixed(2)} (p25 ${q(t[k].open, .25).toFixed(2)})  warm seal+open ${wt[k].toFixed(2)} µs`);
})();
