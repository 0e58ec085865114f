'use strict';
// Runs `node scripts/start.js` (what `npm start` does) as a child process for the tests, on free
// ports; killed by PID in t.after if the test did not stop it.
const path = require('node:path');
const { spawn } = require('node:child_process');
const assert = require('node:assert/strict');

const root = path.join(__dirname, '..', '..');
const ZERO_PORTS = { NODE_RED_PORT: '0', EMULATOR_MQTT_PORT: '0', EMULATOR_MQTTS_PORT: '0', EMULATOR_COAP_PORT: '0', EMULATOR_COAPS_PORT: '0', EMULATOR_WEB_PORT: '0' };

/** Starts scripts/start.js; `waitFor(re)` resolves with the output once it matches. */
function startScript(t, env) {
  const child = spawn(process.execPath, [path.join(root, 'scripts', 'start.js')], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (w.re.test(output)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(output);
      }
    }
  };
  child.stdout.on('data', (c) => { output += c; check(); });
  child.stderr.on('data', (c) => { output += c; check(); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(() => {
    for (const w of waiters.splice(0)) w.reject(new Error(`start.js exited before printing ${w.re}:\n${output}`));
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    exited,
    output: () => output,
    /**
     * Sends `signal` and asserts that start.js ended with exit code 0. The failure's first line
     * says how it ended and the message ends with what it printed last (a CI summary shows the
     * first line; the end of the output is where a crash while stopping prints its stack).
     */
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal);
      const { code, signal: killedBy } = await exited;
      const tail = output.split('\n').slice(-60).join('\n');
      assert.ok(code === 0, `start.js ended with exit code ${code}${killedBy ? ` (killed by ${killedBy})` : ''} after ${signal}, not 0; the last lines it printed:\n${tail}`);
    },
    waitFor: (re, ms = 60000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} from start.js within ${ms} ms:\n${output}`)), ms);
      waiters.push({ re, resolve: (v) => { clearTimeout(timer); resolve(v); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      check();
    }),
  };
}

module.exports = { startScript, ZERO_PORTS };
