'use strict';
// One Node-RED for all the tests of a browser test file (the runtime under test, through
// scripts/node-red-embedded.js). Apart from support.js so that a browser file that needs no
// Node-RED (emulator-page.test.js) does not load it, and runs once (test/support/test-files.js).
const { after } = require('node:test');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startNodeRed } = require('../../scripts/node-red-embedded');
const { editorSettingsInto } = require('./support');

/**
 * Call at the top of a test file: returns `nodeRed()`, which resolves to the file's Node-RED,
 * started by the first test that asks, in a temporary userDir with the editor's settings of the
 * browser tests (support.js editorSettingsInto); stopped and removed after the file's tests. A test that deploys leaves an empty flow behind (nr.deploy([])) for the next one.
 */
function fileNodeRed(prefix) {
  let started = null;
  let userDir = null;
  after(async () => {
    const nr = started && await started.catch(() => null);
    if (nr) await nr.close();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });
  return () => {
    if (!started) {
      userDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      editorSettingsInto(userDir);
      started = startNodeRed({ userDir, port: 0 });
    }
    return started;
  };
}

module.exports = { fileNodeRed };
