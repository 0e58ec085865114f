'use strict';
// The V8 CPU profiler (what `node --cpu-prof` uses) around the measured part only: a
// whole-process --cpu-prof of these scenarios is dominated by start-up (module loading).
const fs = require('node:fs');
const inspector = require('node:inspector');

async function startProfiler() {
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  return {
    async stopInto(file) {
      const { profile } = await post('Profiler.stop');
      fs.writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

module.exports = { startProfiler };
