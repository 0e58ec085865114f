'use strict';
// A node:test reporter that writes one line per failed test (file, name, first line of the error)
// and nothing else. test/run.js runs it beside the spec reporter and prints the lines again after
// every runtime's run: a CI log that shows only its last part still names what failed in the
// node-red 4 pass, which the node-red 5 pass's output would otherwise push out of view.
const path = require('node:path');

const root = path.join(__dirname, '..', '..');

function firstLine(error) {
  // Failures arrive wrapped (ERR_TEST_FAILURE) with the test's own error as the cause.
  const inner = error?.cause ?? error;
  const text = inner?.message ?? String(inner);
  return text.split('\n').find((line) => line.trim()) ?? '';
}

module.exports = async function* failuresReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A file's own failure (it crashed, or a subtest failed) repeats its tests' lines: skip the
    // summary entry a file gets when its tests already said why.
    if (details?.error?.failureType === 'subtestsFailed') continue;
    const where = file ? path.relative(root, file) : '?';
    yield `${where}: ${name}: ${firstLine(details?.error)}\n`;
  }
};
