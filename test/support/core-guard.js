'use strict';
// Loaded by test/run.js (node --require) into every test file's process. In a file that
// test/support/test-files.js classified "core" (listed in TB_TEST_CORE_FILES), it makes loading
// Node-RED fail: requiring node-red, @node-red/*, node-red-node-test-helper, the node-red 5 in
// .cache/, or scripts/node-red-runtimes.js, and starting scripts/start.js. A core file runs on
// one runtime only, so a file the classifier misread would otherwise test node-red 5 never,
// silently. Outside a core file (the runner, Node-RED files, child processes) it does nothing.
const Module = require('node:module');
const childProcess = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const coreFiles = new Set((process.env.TB_TEST_CORE_FILES || '').split(path.delimiter).filter(Boolean));
// node --test runs each file as `node <flags> <file>` with NODE_TEST_CONTEXT set; the runner
// process itself has no NODE_TEST_CONTEXT.
const file = process.env.NODE_TEST_CONTEXT && process.argv[1] ? path.resolve(process.argv[1]) : null;

function refuse(what) {
  const msg = `test/run.js classified ${path.relative(root, file)} as core (it runs on the first runtime only), `
    + `but it ${what}. Teach test/support/test-files.js (MARKERS) how this file loads Node-RED, so that it runs on node-red 4 and 5.`;
  // Also on stderr and in the exit code, in case the test catches the error.
  process.stderr.write(`\n!!! ${msg}\n`);
  process.exitCode = 1;
  return new Error(msg);
}

const LOADS_NODE_RED = [
  /[\\/]node_modules[\\/](node-red|node-red-node-test-helper|@node-red[\\/][^\\/]+)[\\/]/,
  /[\\/]\.cache[\\/]node-red-5[\\/]/,
  /[\\/]scripts[\\/]node-red-runtimes\.js$/,
];

function install() {
  const load = Module._load;
  Module._load = function guardedLoad(request, parent, isMain) {
    if (!isMain && !Module.isBuiltin(request)) {
      let resolved = null;
      try {
        resolved = Module._resolveFilename(request, parent, isMain);
      } catch { /* let the real load report it */ }
      // A package.json is metadata (test/nodes/install.test.js reads every dependency's engines).
      if (resolved && !resolved.endsWith('.json') && LOADS_NODE_RED.some((re) => re.test(resolved))) throw refuse(`requires ${request} (${path.relative(root, resolved)})`);
    }
    return load.apply(this, arguments);
  };
  const startsNodeRed = (args) => args.flat().some((a) => typeof a === 'string' && /(^|[\\/])scripts[\\/]start\.js$/.test(a));
  for (const name of ['spawn', 'spawnSync', 'fork', 'execFile', 'execFileSync']) {
    const original = childProcess[name];
    childProcess[name] = function guardedChild(...args) {
      if (startsNodeRed(args.filter((a) => typeof a === 'string' || Array.isArray(a)))) throw refuse('starts scripts/start.js (Node-RED)');
      return original.apply(this, args);
    };
  }
}

if (file && coreFiles.has(file)) install();

module.exports = { LOADS_NODE_RED };
