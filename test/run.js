'use strict';
// `npm test`: runs test/**/*.test.js with node's test runner on two runtimes:
//   1. on this Node.js (20 on our machines) with node-red 4.1.x (devDependency `node-red`);
//   2. on Node.js 22 with node-red 5.0.x, since node-red 5 needs Node >= 22.9. Neither is a
//      devDependency (Node 22's `node` bin would shadow ours in every npm script; node-red 5's
//      engines made every `npm install` on Node 20 print EBADENGINE): both are installed on
//      first use, Node 22 (npm package `node@22`) into .cache/node22 and node-red 5 into
//      .cache/node-red-5 (scripts/node-red-runtimes.js), and reused after that.
// Only the files that load Node-RED run on both; the others ("core": transports, DTLS, payload,
// emulator, ...) run once, on the first runtime. test/support/test-files.js decides from each
// file's source; test/support/core-guard.js fails a core file that loads Node-RED after all.
// Set TB_TEST_RUNTIMES=4 or =5 to run one of them; pass file paths to run only those files.
// TB_TEST_CONCURRENCY: test files run at the same time (default 4; node's own default is one
// less than the cores, which is 1 on a 2-core machine, while most files wait on sockets). A file
// with the line `// test/run.js: alone` (wall-clock budgets) runs after the others, by itself.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { ensureNodeRed5, nodeRedDir } = require('../scripts/node-red-runtimes');
const { findTests, classify, aloneFiles } = require('./support/test-files');
const { DURATION } = require('./support/failures-reporter');

const root = path.join(__dirname, '..');
const inCI = process.env.CI === 'true' || process.env.CI === '1';

function node22() {
  const prefix = path.join(root, '.cache', 'node22');
  const bin = path.join(prefix, 'node_modules', 'node', 'bin', 'node');
  const works = () => fs.existsSync(bin) && spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.startsWith('v22');
  if (works()) return bin;
  console.log('test/run: installing Node.js 22 (npm package node@22) into .cache/node22 for the node-red 5 run ...');
  fs.mkdirSync(prefix, { recursive: true });
  spawnSync('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', prefix, 'node@22'], { stdio: 'inherit' });
  return works() ? bin : null;
}

const files = (process.argv.slice(2).length ? process.argv.slice(2) : findTests()).map((f) => path.resolve(f));
const wanted = (process.env.TB_TEST_RUNTIMES || '4,5').split(',');
const concurrency = Number(process.env.TB_TEST_CONCURRENCY) || 4;
const { core, nodeRed: nodeRedFiles, why } = classify(files);
console.log(`test/run: ${files.length} test files: ${nodeRedFiles.length} load Node-RED (run on every runtime), `
  + `${core.length} core (run once, on the first runtime); ${concurrency} files at a time`);
for (const f of nodeRedFiles) console.log(`  node-red: ${why.get(f)}`);
let failed = false;
// What failed in each runtime's pass, printed again at the very end (see failures-reporter.js).
const failures = [];
const tmp = require('node:os').tmpdir();
const alone = new Set(aloneFiles(files));
if (alone.size) console.log(`  alone (after the others, one at a time): ${[...alone].map((f) => path.relative(root, f)).join(', ')}`);

/** The slowest files (failures-reporter.js's #duration lines: one per top-level test), one line. */
function slowest(durationLines, count = 6) {
  const perFile = new Map();
  for (const line of durationLines) {
    const [, file, ms] = line.split('\t');
    perFile.set(file, (perFile.get(file) || 0) + Number(ms));
  }
  const rows = [...perFile].sort((x, y) => y[1] - x[1]);
  return rows.slice(0, count).map(([f, ms]) => `${f} ${(ms / 1000).toFixed(1)} s`).join(', ');
}

/** One `node --test` over `list`: {status, failureLines, durationLines}. */
function runFiles(exe, list, filesAtATime, env) {
  const failuresFile = path.join(tmp, `tb-test-failures-${process.pid}.txt`);
  fs.rmSync(failuresFile, { force: true });
  const reporters = [
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(__dirname, 'support', 'failures-reporter.js')}`, `--test-reporter-destination=${failuresFile}`,
  ];
  // core-guard.js (forwarded to every file's process) fails a core file that loads Node-RED.
  const guard = ['--require', path.join(__dirname, 'support', 'core-guard.js')];
  // --test-timeout: a default for every test that sets none, so a test that waits for something
  // that never happens fails instead of hanging the run. --test-force-exit: a file whose tests
  // have all ended ends too, even when a failed test left a socket open (the runner would wait
  // for that process forever; the leak tests check handles themselves).
  const res = spawnSync(exe, [...guard, '--test', ...reporters, '--test-timeout=300000', '--test-force-exit', `--test-concurrency=${filesAtATime}`, ...list], {
    stdio: 'inherit', cwd: root, env,
  });
  const lines = (fs.existsSync(failuresFile) ? fs.readFileSync(failuresFile, 'utf8') : '').split('\n').filter(Boolean);
  fs.rmSync(failuresFile, { force: true });
  const isDuration = (l) => l.startsWith(`${DURATION}\t`);
  return { status: res.status ?? res.signal, failureLines: lines.filter((l) => !isDuration(l)).join('\n'), durationLines: lines.filter(isDuration) };
}

// Core files go with the first runtime that actually runs.
let coreDone = false;
for (const runtime of wanted) {
  const passFiles = coreDone ? nodeRedFiles : files;
  if (!passFiles.length) continue;
  let exe = process.execPath;
  let nodeRed = 'node-red';
  if (runtime === '5') {
    nodeRed = 'node-red-5';
    exe = node22();
    const missing = !exe ? 'Node.js 22' : !ensureNodeRed5(exe) ? 'node-red 5' : null;
    if (missing) {
      const msg = `test/run: !!! ${missing} could not be installed: the node-red 5 run is SKIPPED !!!`;
      console.error(msg);
      if (inCI) failed = true;
      continue;
    }
  }
  const version = spawnSync(exe, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const nrVersion = require(path.join(nodeRedDir(nodeRed), 'package.json')).version;
  console.log(`\n=== node-red ${nrVersion} on Node.js ${version} (${passFiles.length} test files${coreDone ? ': those that load Node-RED' : ''}) ===\n`);
  const env = { ...process.env, TB_NODE_RED: nodeRed, TB_TEST_CORE_FILES: coreDone ? '' : core.join(path.delimiter) };
  const started = Date.now();
  // (An empty list would make `node --test` look for test files itself: groups with none are left out.)
  const groups = [[passFiles.filter((f) => !alone.has(f)), concurrency], [passFiles.filter((f) => alone.has(f)), 1]];
  const runs = groups.filter(([list]) => list.length).map(([list, n]) => runFiles(exe, list, n, env));
  coreDone = true;
  console.log(`test/run: node-red ${nrVersion} pass: ${passFiles.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s; `
    + `slowest files: ${slowest(runs.flatMap((r) => r.durationLines))}`);
  const bad = runs.filter((r) => r.status !== 0);
  if (bad.length) {
    failed = true;
    const lines = bad.map((r) => r.failureLines).filter(Boolean).join('\n');
    failures.push(`node-red ${nrVersion} on Node.js ${version}: exit code ${bad.map((r) => r.status).join(', ')}\n${lines || '(no test reported a failure: the runner itself failed)'}`);
  }
}
if (failures.length) console.error(`\n=== FAILED ===\n${failures.join('\n\n')}\n`);
process.exit(failed ? 1 : 0);
