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
// less than the cores, which is 1 on a 2-core machine, while most files wait on sockets).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { ensureNodeRed5, nodeRedDir } = require('../scripts/node-red-runtimes');
const { findTests, classify } = require('./support/test-files');

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
const failuresFile = path.join(require('node:os').tmpdir(), `tb-test-failures-${process.pid}.txt`);
const durationsFile = path.join(require('node:os').tmpdir(), `tb-test-durations-${process.pid}.txt`);

/** The slowest files of a pass (durations-reporter.js), one line. */
function slowest(count = 6) {
  if (!fs.existsSync(durationsFile)) return '';
  const perFile = new Map();
  for (const line of fs.readFileSync(durationsFile, 'utf8').split('\n').filter(Boolean)) {
    const [file, ms] = line.split('\t');
    perFile.set(file, (perFile.get(file) || 0) + Number(ms));
  }
  const rows = [...perFile].sort((x, y) => y[1] - x[1]);
  return rows.slice(0, count).map(([f, ms]) => `${f} ${(ms / 1000).toFixed(1)} s`).join(', ');
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
  // A default timeout for every test that does not set its own: a test that waits for something
  // that never happens fails instead of hanging the run.
  fs.rmSync(failuresFile, { force: true });
  fs.rmSync(durationsFile, { force: true });
  const reporters = [
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(__dirname, 'support', 'failures-reporter.js')}`, `--test-reporter-destination=${failuresFile}`,
    `--test-reporter=${path.join(__dirname, 'support', 'durations-reporter.js')}`, `--test-reporter-destination=${durationsFile}`,
  ];
  // core-guard.js (forwarded to every file's process) fails a core file that loads Node-RED.
  const guard = ['--require', path.join(__dirname, 'support', 'core-guard.js')];
  const started = Date.now();
  // --test-force-exit: a file whose tests have all ended ends too, even when a failed test left a
  // socket open (the runner would otherwise wait for that process forever; the leak tests check
  // handles themselves).
  const res = spawnSync(exe, [...guard, '--test', ...reporters, '--test-timeout=300000', '--test-force-exit', `--test-concurrency=${concurrency}`, ...passFiles], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, TB_NODE_RED: nodeRed, TB_TEST_CORE_FILES: coreDone ? '' : core.join(path.delimiter) },
  });
  coreDone = true;
  console.log(`test/run: node-red ${nrVersion} pass: ${passFiles.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s; slowest files: ${slowest()}`);
  if (res.status !== 0) {
    failed = true;
    const lines = fs.existsSync(failuresFile) ? fs.readFileSync(failuresFile, 'utf8').trim() : '';
    failures.push(`node-red ${nrVersion} on Node.js ${version}: exit code ${res.status ?? res.signal}\n${lines || '(no test reported a failure: the runner itself failed)'}`);
  }
  fs.rmSync(failuresFile, { force: true });
  fs.rmSync(durationsFile, { force: true });
}
if (failures.length) console.error(`\n=== FAILED ===\n${failures.join('\n\n')}\n`);
process.exit(failed ? 1 : 0);
