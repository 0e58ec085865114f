'use strict';
// A node:test reporter that writes one line per failed test (file, name, first line of the error,
// then the error's last lines, indented, when it has more) and nothing else. test/run.js runs it beside the spec reporter and prints the lines again after
// every runtime's run: a CI log that shows only its last part still names what failed in the
// node-red 4 pass, which the node-red 5 pass's output would otherwise push out of view.
const path = require('node:path');

const root = path.join(__dirname, '..', '..');

const TAIL_LINES = 12;
const LINE_CHARS = 240;

/**
 * The error's first line; when it has more, its last lines too (indented): a message that carries
 * a child's output (start.js, a peer) says what went wrong at its end.
 */
function summary(error) {
  // Failures arrive wrapped (ERR_TEST_FAILURE) with the test's own error as the cause.
  const inner = error?.cause ?? error;
  const text = inner?.message ?? String(inner);
  const lines = text.split('\n').filter((line) => line.trim());
  const first = lines.shift() ?? '';
  const tail = lines.slice(-TAIL_LINES).map((line) => `    | ${line.slice(0, LINE_CHARS)}`);
  if (lines.length > TAIL_LINES) tail.unshift(`    | (${lines.length - TAIL_LINES} lines before these)`);
  return [first, ...tail].join('\n');
}

// Also one `#duration<TAB>file<TAB>ms` line per top-level test, from which test/run.js prints the
// slowest files of a pass (with files side by side, the slowest one bounds the pass). In this
// reporter rather than a third one: a third reporter makes node warn about MaxListeners. Line by
// line as events come, not a summary at the end: with --test-force-exit the runner does not wait
// for a reporter's last words.
const DURATION = '#duration';

const reporter = async function* failuresReporter(source) {
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      yield `${DURATION}\t${path.relative(root, event.data.file)}\t${Math.round(event.data.details?.duration_ms || 0)}\n`;
    }
    if (event.type !== 'test:fail') continue;
    const { name, file, details } = event.data;
    // A file's own failure (it crashed, or a subtest failed) repeats its tests' lines: skip the
    // summary entry a file gets when its tests already said why.
    if (details?.error?.failureType === 'subtestsFailed') continue;
    const where = file ? path.relative(root, file) : '?';
    yield `${where}: ${name}: ${summary(details?.error)}\n`;
  }
};

module.exports = reporter;
module.exports.DURATION = DURATION;
