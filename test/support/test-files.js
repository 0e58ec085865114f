'use strict';
// Which test files load Node-RED, decided from their source, for test/run.js: a file that loads
// Node-RED runs on both runtimes (node-red 4 and 5); every other file ("core") runs once, on the
// first runtime of the run. Nobody has to label a new file: the rule reads what it requires.
//
// A file loads Node-RED when it, or a local file it requires (./x or ../y, transitively: test
// helpers, scripts/, the emulator), does one of these (MARKERS below):
//   - requires node-red, @node-red/*, or node-red-node-test-helper;
//   - requires scripts/node-red-runtimes.js, which every way of loading the runtime under test
//     goes through (test/support/node-red.js, scripts/node-red-embedded.js, scripts/start.js);
//   - starts `npm start` (a child process running scripts/start.js), e.g. test/emulator/start-script.js.
// The rule reads code, so it can miss a way of loading Node-RED it does not know. test/run.js
// therefore loads test/support/core-guard.js into every core file: a core file that loads
// Node-RED or starts scripts/start.js fails, naming this file as the place to teach.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const testDir = path.join(root, 'test');

/** Every test/**\/*.test.js, sorted. */
function findTests(dir = testDir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(full));
    else if (entry.name.endsWith('.test.js')) out.push(full);
  }
  return out.sort();
}

// [what it means, pattern on the source]
const MARKERS = [
  ['requires node-red', /require\(\s*['"`](node-red|node-red-5|@node-red\/[^'"`]+)['"`]\s*\)/],
  ['requires node-red-node-test-helper', /require\(\s*['"`]node-red-node-test-helper['"`]\s*\)/],
  ['requires scripts/node-red-runtimes', /require\([^)]*node-red-runtimes/],
  // Also a path put together (path.join(…, 'scripts', 'node-red-embedded.js')), as a helper that
  // forks a Node-RED child does: the guard cannot see into that child.
  ['names scripts/node-red-embedded or node-red-runtimes', /node-red-(embedded|runtimes)/],
  ['starts scripts/start.js', /['"`]scripts['"`]\s*,\s*['"`]start\.js['"`]|scripts\/start\.js['"`]|['"`]npm['"`]\s*,\s*\[\s*['"`](start|run['"`]\s*,\s*['"`]start)['"`]/],
];

/** Local files `file` requires with a literal relative path (./x, ../y), resolved; not in node_modules. */
function localRequires(file, text) {
  const out = [];
  for (const m of text.matchAll(/require\(\s*['"`](\.{1,2}\/[^'"`]+)['"`]\s*\)/g)) {
    let resolved;
    try {
      resolved = require.resolve(path.resolve(path.dirname(file), m[1]));
    } catch {
      continue; // not there (yet): the test run itself will say so
    }
    // Not this file: its MARKERS would match themselves.
    if (resolved.endsWith('.js') && resolved !== __filename && !/[\\/]node_modules[\\/]/.test(resolved)) out.push(resolved);
  }
  return out;
}

/**
 * Why `file` loads Node-RED: the chain of files down to the marker, e.g.
 * 'test/nodes/out.test.js → test/nodes/common.js → test/support/node-red.js: requires node-red-node-test-helper',
 * or null for a core file.
 */
function loadsNodeRed(file, seen = new Map()) {
  if (seen.has(file)) return seen.get(file);
  seen.set(file, null); // a require cycle adds nothing
  // Comments are read too: a comment that looks like a marker only makes a file run twice.
  const text = fs.readFileSync(file, 'utf8');
  const rel = path.relative(root, file);
  let why = null;
  for (const [what, re] of MARKERS) {
    if (re.test(text)) {
      why = `${rel}: ${what}`;
      break;
    }
  }
  if (!why) {
    for (const dep of localRequires(file, text)) {
      const sub = loadsNodeRed(dep, seen);
      if (sub) {
        why = `${rel} → ${sub}`;
        break;
      }
    }
  }
  seen.set(file, why);
  return why;
}

// A file that measures its own wall-clock time against a budget (a per-datagram stall, say) and so
// wants the CPU to itself says so with this line, which test/run.js honours by running it after the
// others, one at a time. Other files run side by side.
const ALONE_MARKER = '// test/run.js: alone';

/** The files among `files` that carry ALONE_MARKER. */
function aloneFiles(files) {
  return files.filter((f) => fs.readFileSync(f, 'utf8').includes(`\n${ALONE_MARKER}`));
}

// A file whose verdicts depend on the OpenSSL that Node.js links (Node 20 ships OpenSSL 3.0, Node 22
// a 3.x) asks to run on every runtime with this line, though it loads no Node-RED: the CoAPS trust
// decisions must agree with tls.connect on both.
const EVERY_RUNTIME_MARKER = '// test/run.js: every runtime';

/** {core: [file], nodeRed: [file], why: Map(file → reason)} for absolute test file paths. */
function classify(files) {
  const seen = new Map();
  const core = [];
  const nodeRed = [];
  const why = new Map();
  for (const file of files) {
    const reason = loadsNodeRed(path.resolve(file), seen)
      ?? (fs.readFileSync(file, 'utf8').includes(`\n${EVERY_RUNTIME_MARKER}`) ? `${path.relative(root, file)}: asks for every runtime (OpenSSL differs)` : null);
    if (reason) {
      nodeRed.push(file);
      why.set(file, reason);
    } else {
      core.push(file);
    }
  }
  return { core, nodeRed, why };
}

module.exports = { findTests, classify, loadsNodeRed, aloneFiles, MARKERS, ALONE_MARKER, EVERY_RUNTIME_MARKER };
