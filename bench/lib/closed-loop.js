'use strict';
// The closed loop every "raw" and transport scenario drives: `concurrency` sends outstanding, the
// next one started when one finishes, n in all. Per-send latency goes into a Float64Array (no
// allocation per send); both clocks are returned (wall ms for rates, Date.now() to line up with
// the broker-side counter).
//
//   const run = await closedLoop(n, concurrency, (seq, done) => send(seq).then(() => done(), done));
//   run → { ms, startedAt, endedAt, lat }
function closedLoop(n, concurrency, sendOne) {
  return new Promise((resolve, reject) => {
    const lat = new Float64Array(n);
    let next = 0;
    let finished = 0;
    let failed = false;
    const startedAt = Date.now();
    const t0 = performance.now();
    const one = () => {
      const seq = next++;
      const s = performance.now();
      sendOne(seq, (err) => {
        if (failed) return;
        if (err) {
          failed = true;
          reject(err);
          return;
        }
        lat[seq] = performance.now() - s;
        if (++finished === n) resolve({ ms: performance.now() - t0, startedAt, endedAt: Date.now(), lat });
        else if (next < n) one();
      });
    };
    for (let i = 0; i < Math.min(concurrency, n); i++) one();
  });
}

module.exports = { closedLoop };
