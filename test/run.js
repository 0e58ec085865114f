'use strict';
// `npm test`: runs every test/**/*.test.js file with node's test runner, twice:
//   1. on this Node.js (20 on our machines) with node-red 4.1.x (devDependency `node-red`);
//   2. on Node.js 22 with node-red 5.0.x, since node-red 5 needs Node >= 22.9. Neither is a
//      devDependency (Node 22's `node` bin would shadow ours in every npm script; node-red 5's
//      engines made every `npm install` on Node 20 print EBADENGINE): both are installed on
//      first use, Node 22 (npm package `node@22`) into .cache/node22 and node-red 5 into
//      .cache/node-red-5 (scripts/node-red-runtimes.js), and reused after that.
// Set TB_TEST_RUNTIMES=4 or =5 to run one of them; pass file paths to run only those files.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { ensureNodeRed5, nodeRedDir } = require('../scripts/node-red-runtimes');

const root = path.join(__dirname, '..');
const inCI = process.env.CI === 'true' || process.env.CI === '1';

function findTests(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(full));
    else if (entry.name.endsWith('.test.js')) out.push(full);
  }
  return out.sort();
}

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

const files = process.argv.slice(2).length ? process.argv.slice(2) : findTests(__dirname);
const wanted = (process.env.TB_TEST_RUNTIMES || '4,5').split(',');
let failed = false;
// What failed in each runtime's pass, printed again at the very end (see failures-reporter.js).
const failures = [];
const failuresFile = path.join(require('node:os').tmpdir(), `tb-test-failures-${process.pid}.txt`);

for (const runtime of wanted) {
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
  console.log(`\n=== node-red ${nrVersion} on Node.js ${version} (${files.length} test files) ===\n`);
  // A default timeout for every test that does not set its own: a test that waits for something
  // that never happens fails instead of hanging the run.
  fs.rmSync(failuresFile, { force: true });
  const reporters = [
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(__dirname, 'support', 'failures-reporter.js')}`, `--test-reporter-destination=${failuresFile}`,
  ];
  const res = spawnSync(exe, ['--test', ...reporters, '--test-timeout=300000', ...files], {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, TB_NODE_RED: nodeRed },
  });
  if (res.status !== 0) {
    failed = true;
    const lines = fs.existsSync(failuresFile) ? fs.readFileSync(failuresFile, 'utf8').trim() : '';
    failures.push(`node-red ${nrVersion} on Node.js ${version}: exit code ${res.status ?? res.signal}\n${lines || '(no test reported a failure: the runner itself failed)'}`);
  }
  fs.rmSync(failuresFile, { force: true });
}
if (failures.length) console.error(`\n=== FAILED ===\n${failures.join('\n\n')}\n`);
process.exit(failed ? 1 : 0);
