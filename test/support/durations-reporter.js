'use strict';
// A node:test reporter that writes one "file<TAB>ms" line per top-level test; test/run.js adds
// them up per file and prints the slowest files after each pass: with files running side by
// side, the slowest one bounds the pass's wall time. Line by line, not a summary at the end:
// with --test-force-exit the runner does not wait for a reporter's last words.
const path = require('node:path');

const root = path.join(__dirname, '..', '..');

module.exports = async function* durationsReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || !file) continue;
    yield `${path.relative(root, file)}\t${Math.round(details?.duration_ms || 0)}\n`;
  }
};
