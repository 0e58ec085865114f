'use strict';
// Bodies for block-wise tests that differ in every block: a body that repeats one character
// arrives "whole" even when blocks are duplicated, dropped and replaced by others, or reordered.
// Every 8 characters carry their own offset, so no two 8-byte windows — and no two blocks of any
// size — are alike; only JSON-safe characters.

/** A string of exactly `length` characters in which every 8-character cell names its offset. */
function distinctText(length, tag = '') {
  let out = '';
  for (let i = 0; out.length < length; i += 8) out += `${tag}${i.toString(36).padStart(7 - tag.length, '0')}.`.slice(-8);
  return out.slice(0, length);
}

/** assert.equal for long texts, reporting the first differing offset (and its block) instead of two 100 KB strings. */
function assertSameText(assert, actual, expected, what, blockBytes = 1024) {
  if (actual === expected) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  assert.fail(`${what}: ${actual.length} of ${expected.length} characters; first difference at offset ${i} (block ${Math.floor(i / blockBytes)}): ` +
    `got ${JSON.stringify(actual.slice(i, i + 24))}, expected ${JSON.stringify(expected.slice(i, i + 24))}`);
}

module.exports = { distinctText, assertSameText };
