'use strict';
// The two Node-RED runtimes the package is tested on, by the names test/run.js puts in
// TB_NODE_RED:
//   'node-red'   → 4.1.x, the devDependency (node_modules/node-red);
//   'node-red-5' → 5.0.x, NOT a devDependency: node-red 5 declares engines.node >=22.9, so as a
//                  devDependency every `npm install` on Node 20 printed EBADENGINE. test/run.js
//                  installs it on first use into .cache/node-red-5, with Node 22's npm run, the
//                  way it installs Node 22 itself (.cache/node22).
// Used by test/run.js, test/support/node-red.js and scripts/node-red-embedded.js (npm start, the
// browser tests).
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const NODE_RED_5_SPEC = '~5.0.7';
const NODE_RED_5_PREFIX = path.join(root, '.cache', 'node-red-5');

/** The installed node-red 5's version, or null when there is none (or not a 5.0.x >= 5.0.7). */
function installedNodeRed5() {
  try {
    const { version } = JSON.parse(fs.readFileSync(path.join(NODE_RED_5_PREFIX, 'node_modules', 'node-red', 'package.json'), 'utf8'));
    const [major, minor, patch] = version.split(/[.-]/).map(Number);
    return major === 5 && minor === 0 && patch >= 7 ? version : null;
  } catch {
    return null;
  }
}

/**
 * Installs node-red ~5.0.7 into .cache/node-red-5 unless it is there. `node22` is the Node 22
 * binary: npm runs under it (first on PATH), so it checks node-red's engines against Node 22
 * and has nothing to warn about. Returns the version, or null when the install failed.
 */
function ensureNodeRed5(node22) {
  if (installedNodeRed5()) return installedNodeRed5();
  console.log(`test/run: installing node-red@${NODE_RED_5_SPEC} into .cache/node-red-5 for the node-red 5 run ...`);
  fs.mkdirSync(NODE_RED_5_PREFIX, { recursive: true });
  const env = { ...process.env, PATH: `${path.dirname(node22)}${path.delimiter}${process.env.PATH || ''}` };
  // Only node-red's own dependencies: not this package's (npm would otherwise look for a
  // workspace root above .cache/ and find ours).
  fs.writeFileSync(path.join(NODE_RED_5_PREFIX, 'package.json'), `${JSON.stringify({ name: 'node-red-5-test-runtime', private: true, description: 'node-red 5 for test/run.js (made by scripts/node-red-runtimes.js)' }, null, 2)}\n`);
  spawnSync('npm', ['install', '--prefix', NODE_RED_5_PREFIX, '--no-audit', '--no-fund', '--loglevel=error', `node-red@${NODE_RED_5_SPEC}`], { stdio: 'inherit', env });
  return installedNodeRed5();
}

/** The file `require()` loads for the runtime named `name` (see the top of this file). */
function nodeRedMain(name = process.env.TB_NODE_RED || 'node-red') {
  if (name === 'node-red-5') {
    try {
      return require.resolve('node-red', { paths: [NODE_RED_5_PREFIX] });
    } catch {
      throw new Error(`node-red 5 is not installed in .cache/node-red-5: \`TB_TEST_RUNTIMES=5 node test/run.js <a test file>\` installs it (with Node 22 into .cache/node22)`);
    }
  }
  return require.resolve(name, { paths: [root] });
}

/** The runtime's package folder (…/node_modules/node-red). */
function nodeRedDir(name) {
  return path.dirname(path.dirname(nodeRedMain(name))); // <dir>/lib/red.js
}

module.exports = { nodeRedMain, nodeRedDir, ensureNodeRed5, installedNodeRed5, NODE_RED_5_SPEC, NODE_RED_5_PREFIX };
