'use strict';
// Polling for a condition in tests: resolves with fn()'s first truthy value, fails naming `what`
// after `ms`. A guard against hangs, not a timing assertion.
async function waitFor(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

module.exports = { waitFor };
