'use strict';
// Waiting in the bench scenarios: for a condition (CONNACK on a config node), and for a run that
// must end within a bound (a hung run fails the figure instead of the whole bench).

/** Resolves once `test()` is true (polled every 50 ms); rejects after `ms` naming `what`. */
async function waitUntil(test, ms, what) {
  const until = Date.now() + ms;
  while (!test()) {
    if (Date.now() > until) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `promise`, or a rejection naming `what` when it has not settled within `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms); }),
  ]);
}

module.exports = { waitUntil, withTimeout };
