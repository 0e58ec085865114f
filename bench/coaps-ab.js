'use strict';
// CoAPS vs plain CoAP, two builds of this package side by side in ONE process: one libcoap server,
// four transports (A/B × CoAP/CoAPS, 4 in flight each), chunks of `chunk` messages interleaved
// with a rotating order for `rounds` rounds; client CPU per message (process.cpuUsage around each
// chunk) and msgs/s, medians per transport, and the CoAPS/CoAP ratios per tree. On a shared
// machine whose load swings from run to run, this compares the trees under the same load, which
// separate `npm run bench` runs cannot. Absolute figures are lower than the bench's (the four
// transports keep the shared `coap` library's code warm for each other): read the differences.
// Each tree must be built (`npm run build`); e.g. a `git archive` of the old commit with a
// node_modules link.
//   node bench/coaps-ab.js <treeA> <treeB> [rounds=20] [chunk=500]
const path = require('node:path'); const fs = require('node:fs'); const os = require('node:os');
const root = path.join(__dirname, '..');
const peers = require(path.join(root, 'bench/lib/peers.js'));
const { createCA, createLeaf, writePki } = require(path.join(root, 'test/support/pki.js'));
const { closedLoop } = require(path.join(root, 'bench/lib/closed-loop.js'));
const { reading, tokenFor } = require(path.join(root, 'bench/lib/flows.js'));
if (process.argv.length < 4) { console.error('usage: node bench/coaps-ab.js <treeA> <treeB> [rounds] [chunk]'); process.exit(2); }
const trees = { A: path.resolve(process.argv[2]), B: path.resolve(process.argv[3]) };
const ROUNDS = Number(process.argv[4] || 20), CHUNK = Number(process.argv[5] || 500);
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
(async () => {
  const ca = await createCA({ name: 'Bench Root', keyType: 'ec-p256' });
  const leaf = await createLeaf({ issuer: ca, keyType: 'ec-p256' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-coaps-ab-'));
  const files = writePki(dir, { 'ca.pem': ca.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem });
  const server = await peers.startCoapServer({ cert: files['leaf.pem'], key: files['leaf.key'], caFile: files['ca.pem'] });
  const ts = {};
  for (const [tree, d] of Object.entries(trees)) {
    const ours = require(path.join(d, 'bench/lib/ours.js'));
    for (const transport of ['coap', 'coaps']) {
      const t = ours.createCoapTransport(ours.connectionSettings({ transport, port: transport === 'coaps' ? server.dtlsPort : server.port, accessToken: tokenFor(0), caCert: ca.certPem, maxInFlight: 4 }));
      await t.connect();
      ts[`${tree}-${transport}`] = { t, cpu: [], rate: [] };
    }
  }
  const body = (seq) => Buffer.from(JSON.stringify(reading(seq)));
  const chunk = async (t, n) => closedLoop(n, 4, (seq, done) => t.send({ kind: 'telemetry', body: body(seq), qos: 1 }).then(() => done(), done));
  for (const k of Object.keys(ts)) await chunk(ts[k].t, 1000); // warm-up
  const keys = Object.keys(ts);
  for (let r = 0; r < ROUNDS; r++) {
    const order = keys.map((_, i) => keys[(i + r) % keys.length]);
    if (r % 2) order.reverse();
    for (const k of order) {
      const c0 = process.cpuUsage(); const run = await chunk(ts[k].t, CHUNK); const c = process.cpuUsage(c0);
      ts[k].cpu.push((c.user + c.system) / CHUNK); ts[k].rate.push(CHUNK / (run.ms / 1000));
    }
  }
  const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`${ROUNDS} rounds × ${CHUNK} messages per transport, interleaved; load now ${load}`);
  const s = {};
  for (const k of keys) { s[k] = { cpu: med(ts[k].cpu), rate: med(ts[k].rate) }; console.log(`${k.padEnd(10)} CPU/msg median ${s[k].cpu.toFixed(1)} µs   msgs/s median ${Math.round(s[k].rate)}`); }
  for (const tree of Object.keys(trees)) {
    const rc = ts[`${tree}-coaps`].cpu.map((v, i) => v / ts[`${tree}-coap`].cpu[i]);
    const rr = ts[`${tree}-coaps`].rate.map((v, i) => v / ts[`${tree}-coap`].rate[i]);
    console.log(`${tree} (${trees[tree]}): CoAPS/CoAP CPU ratio (median per round) ${med(rc).toFixed(3)}, of medians ${(s[`${tree}-coaps`].cpu / s[`${tree}-coap`].cpu).toFixed(3)}; extra ${(s[`${tree}-coaps`].cpu - s[`${tree}-coap`].cpu).toFixed(1)} µs; msgs/s ratio (median per round) ${med(rr).toFixed(3)}, of medians ${(s[`${tree}-coaps`].rate / s[`${tree}-coap`].rate).toFixed(3)}`);
  }
  for (const k of keys) await ts[k].t.close();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
