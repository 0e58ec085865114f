'use strict';
// A deterministic PRNG (mulberry32): tests that draw random cases can name the seed of a failure
// and get the same cases again.

/** Numbers in [0, 1) from `seed`, the same sequence for the same seed. */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { seededRandom };
