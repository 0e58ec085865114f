'use strict';
// Third-party peers from Debian (mosquitto, libcoap, openssl). A test that needs one calls
// requirePeer(t, 'mosquitto'): when it is missing the test is skipped with a loud message
// locally, and fails in CI (CI=true), where .ci/run installs every peer.
const { spawnSync } = require('node:child_process');

const inCI = process.env.CI === 'true' || process.env.CI === '1';

function havePeer(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

/** Returns true when `command` is there; otherwise skips (locally) or fails (CI) the test. */
function requirePeer(t, command) {
  if (havePeer(command)) return true;
  const msg = `!!! ${command} is not installed: this test needs it (apt-get install mosquitto mosquitto-clients libcoap3-bin openssl) !!!`;
  if (inCI) throw new Error(msg);
  console.error(msg);
  t.skip(msg);
  return false;
}

module.exports = { havePeer, requirePeer, inCI };
