'use strict';
// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_PROFILE=dir npm run bench):
// self time per function (top N) and per area (our code by folder, Node-RED runtime, mqtt.js,
// Node internals, GC, idle), so the hot path's costs can be named.
//   node bench/profile-summary.js file.cpuprofile [topN]
//   node bench/profile-summary.js --compare ours.cpuprofile core.cpuprofile messages
//     (µs of busy CPU per message, by area, side by side)
const fs = require('node:fs');
const path = require('node:path');

function area(url, name) {
  if (!url) return name === '(garbage collector)' ? 'GC' : name === '(idle)' ? 'idle' : name === '(program)' ? 'program (native, unattributed)' : `native: ${name}`;
  const u = url.replace(/^file:\/\//, '');
  const ours = /\/nodes\/lib\/([^/]+)\//.exec(u);
  if (ours && !u.includes('node_modules')) return `ours: ${ours[1]}`;
  if (u.includes('/bench/')) return 'bench driver';
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 13).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    if (pkg === '@node-red/nodes') return `@node-red/nodes: ${rest.slice(2).join('/')}`;
    return pkg;
  }
  if (u.startsWith('node:')) return 'node internals';
  return u;
}

function load(file) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const areas = new Map();
  for (let i = 0; i < prof.samples.length; i++) {
    const cf = byId.get(prof.samples[i]).callFrame;
    if (cf.functionName === '(idle)') continue;
    const a = area(cf.url, cf.functionName);
    areas.set(a, (areas.get(a) || 0) + (prof.timeDeltas[i] || 0));
  }
  return areas;
}

function compare(fileA, fileB, messages) {
  const a = load(fileA);
  const b = load(fileB);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => ((a.get(y) || 0) - (b.get(y) || 0)) - ((a.get(x) || 0) - (b.get(x) || 0)));
  const per = (m, k) => (m.get(k) || 0) / messages;
  const sum = (m) => [...m.values()].reduce((x, y) => x + y, 0) / messages;
  console.log(`µs of CPU per message (${messages} messages): ${path.basename(fileA)} vs ${path.basename(fileB)}`);
  console.log(`${'area'.padEnd(40)} ${'A'.padStart(7)} ${'B'.padStart(7)} ${'A-B'.padStart(7)}`);
  for (const k of keys) {
    const d = per(a, k) - per(b, k);
    if (Math.abs(d) < 0.05 && per(a, k) < 0.2) continue;
    console.log(`${k.slice(0, 40).padEnd(40)} ${per(a, k).toFixed(2).padStart(7)} ${per(b, k).toFixed(2).padStart(7)} ${d.toFixed(2).padStart(7)}`);
  }
  console.log(`${'total busy'.padEnd(40)} ${sum(a).toFixed(2).padStart(7)} ${sum(b).toFixed(2).padStart(7)} ${(sum(a) - sum(b)).toFixed(2).padStart(7)}`);
}

function main() {
  if (process.argv[2] === '--compare') return compare(process.argv[3], process.argv[4], Number(process.argv[5]));
  const file = process.argv[2];
  const top = Number(process.argv[3] || 25);
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) || 0) + (dt[i] || 0));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const fn = new Map();
  const areas = new Map();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') idle += us;
    const where = cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`;
    const a = area(cf.url, cf.functionName);
    fn.set(key, { us: (fn.get(key)?.us || 0) + us, area: a });
    areas.set(a, (areas.get(a) || 0) + us);
  }
  const busy = total - idle;
  const pct = (us) => `${((100 * us) / busy).toFixed(1)}% ${(us / 1000).toFixed(0).padStart(5)} ms`;
  console.log(`${path.basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages of busy time)`);
  console.log('\nby area:');
  for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 20)) if (a !== 'idle') console.log(`  ${pct(us).padStart(15)}  ${a}`);
  console.log(`\ntop ${top} functions (self time):`);
  for (const [k, v] of [...fn].sort((x, y) => y[1].us - x[1].us).slice(0, top)) if (!k.startsWith('(idle)')) console.log(`  ${pct(v.us).padStart(15)}  ${k}  [${v.area}]`);
}

main();
