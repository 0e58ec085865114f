'use strict';
// Each measurement runs in a fresh child process (clean heap, JIT and event loop; a crash or a
// hang of one side cannot spoil the other). The child reports one JSON result over IPC.
const { fork } = require('node:child_process');
const path = require('node:path');

/** Runs bench/scenarios/<name>.js with `args`; resolves its result or rejects on error/timeout. */
function runScenario(name, args, { execArgv = [], timeoutMs = 180000, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, '..', 'scenarios', `${name}.js`), [JSON.stringify(args)], {
      execArgv,
      env: { ...measuredEnv(), ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result;
    const timer = setTimeout(() => {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`${name} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (m) => { result = m; });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (result && result.error) return reject(new Error(`${name}: ${result.error}`));
      if (result) return resolve(result);
      reject(new Error(`${name} exited (${code ?? signal}) without a result`));
    });
  });
}

/** The parent's environment without BENCH_EXPERIMENT_*: only runs that ask for one get it. */
function measuredEnv() {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('BENCH_EXPERIMENT_')) delete env[key];
  return env;
}

/** Inside a scenario: parse args, run main, send the result or the error, then exit. */
function scenario(main) {
  const args = JSON.parse(process.argv[2] || '{}');
  main(args).then(
    (result) => process.send(result, () => process.exit(0)),
    (err) => process.send({ error: err && err.stack ? err.stack : String(err) }, () => process.exit(1)),
  );
}

module.exports = { runScenario, scenario };
