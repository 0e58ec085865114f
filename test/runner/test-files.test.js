'use strict';
// test/run.js runs a "core" test file on one runtime only, so a file that loads Node-RED but is
// classified core would never meet node-red 5. Two checks: the classifier (test-files.js) reads
// the ways this repo loads Node-RED, through helpers; and the guard (core-guard.js) fails a core
// file that loads Node-RED anyway, so a way the classifier does not know cannot pass silently.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { classify, findTests, aloneFiles } = require('../support/test-files');

const root = path.join(__dirname, '..', '..');
const guard = path.join(root, 'test', 'support', 'core-guard.js');
const at = (p) => path.join(root, p);

test('test-files: the repo\'s ways of loading Node-RED classify as Node-RED, the rest as core', () => {
  const nodeRed = ['test/nodes/out.test.js', 'test/coap/node-red.test.js', 'test/browser/editor.test.js', 'test/browser/demo.test.js',
    'test/emulator/start.test.js', 'test/emulator/examples.test.js', 'test/nodes/persist.test.js'].map(at);
  const core = ['test/payload/shape.test.js', 'test/dtls/codec.test.js', 'test/coap/unreachable.test.js', 'test/browser/emulator-page.test.js',
    'test/nodes/install.test.js', 'test/runner/test-files.test.js'].map(at);
  const result = classify([...nodeRed, ...core]);
  assert.deepEqual(result.nodeRed, nodeRed);
  assert.deepEqual(result.core, core);
  assert.match(result.why.get(at('test/nodes/out.test.js')), /test\/nodes\/common\.js → test\/support\/node-red\.js: requires node-red-node-test-helper/);
  assert.match(result.why.get(at('test/browser/demo.test.js')), /start-script\.js: starts scripts\/start\.js/);
  // Trust verdicts depend on the OpenSSL Node.js links: those files ask for every runtime.
  const trust = classify(['test/dtls/differential.test.js', 'test/dtls/trust.test.js', 'test/dtls/pki-corpus.test.js'].map(at));
  assert.equal(trust.core.length, 0);
  assert.match(trust.why.get(at('test/dtls/differential.test.js')), /asks for every runtime/);
  // Every file is one or the other; every test/**/*.test.js is found.
  const all = findTests();
  assert.ok(all.includes(at('test/runner/test-files.test.js')));
  const { core: c, nodeRed: n } = classify(all);
  assert.equal(c.length + n.length, all.length);
  // The file with wall-clock budgets runs by itself (after the others).
  assert.ok(aloneFiles(all).includes(at('test/dtls/reassembly-flood.test.js')));
  assert.ok(!aloneFiles(all).includes(at('test/runner/test-files.test.js')));
});

// The fixtures' sources are put together here so that this file's own source shows no marker
// (test-files.js reads comments and strings too, and would run this core file twice).
const req = (what) => `require(${what})`;
const NR = 'node-red';

function fixtures(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tb-test-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name, text) => {
    fs.writeFileSync(path.join(dir, name), `'use strict';\n${text};\n`);
    return path.join(dir, name);
  };
  const runtimes = JSON.stringify(path.join(root, 'scripts', `${NR}-runtimes.js`));
  const start = `${JSON.stringify(root)}, 'scripts', 'start' + '.js'`.replace("'start' + '.js'", `'${'start'}.js'`);
  return {
    plain: write('plain.test.js', req("'node:assert'")),
    viaHelper: (write('helper.js', `module.exports = ${req(runtimes)}`), write('via-helper.test.js', req("'./helper'"))),
    nodeRedPackage: write('package.test.js', req(`'@${NR}/util'`)),
    startScript: write('start.test.js', `${req("'node:child_process'")}.spawnSync(process.execPath, [${req("'node:path'")}.join(${start})])`),
  };
}

/** Runs `file` the way node --test runs a file of test/run.js's first pass, with `core` as its core list. */
function runGuarded(file, core) {
  return spawnSync(process.execPath, ['--require', guard, file], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60000,
    // NODE_PATH: the fixtures live in a temporary folder, outside this package's node_modules.
    env: { ...process.env, NODE_PATH: path.join(root, 'node_modules'), NODE_TEST_CONTEXT: 'child', TB_TEST_CORE_FILES: core.join(path.delimiter) },
  });
}

test('test-files: a fixture that loads Node-RED through a helper, a package or npm start is Node-RED; a plain one is core', (t) => {
  const f = fixtures(t);
  const result = classify([f.plain, f.viaHelper, f.nodeRedPackage, f.startScript]);
  assert.deepEqual(result.core, [f.plain]);
  assert.deepEqual(result.nodeRed, [f.viaHelper, f.nodeRedPackage, f.startScript]);
  assert.match(result.why.get(f.viaHelper), /via-helper\.test\.js → .*helper\.js: requires scripts\/node-red-[r]untimes/);
});

test('core-guard: a file listed as core that loads Node-RED fails, naming the classifier; unlisted or plain files run', (t) => {
  const f = fixtures(t);
  for (const file of [f.viaHelper, f.nodeRedPackage, f.startScript]) {
    const res = runGuarded(file, [file]);
    assert.notEqual(res.status, 0, `${path.basename(file)} ran as core:\n${res.stderr}`);
    assert.match(res.stderr, /classified .* as core .* Teach test\/support\/test-files\.js/, path.basename(file));
  }
  // The same files outside the core list, and a plain core file, run untouched.
  for (const file of [f.viaHelper, f.plain]) {
    const res = runGuarded(file, file === f.plain ? [f.plain] : []);
    assert.equal(res.status, 0, `${path.basename(file)}:\n${res.stderr}`);
  }
});
