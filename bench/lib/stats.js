'use strict';
/** Percentile (nearest rank) of a numeric array-like; p in [0, 100]. */
function percentile(values, p) {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

function median(values) {
  return percentile(values, 50);
}

/** USER_HZ of /proc/<pid>/stat: 100 on every Linux this runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SEC = 100;

/** CPU time (utime + stime) a process has used so far, in µs; null where /proc is not there (not Linux) or the process is gone. */
function processCpuUs(pid) {
  try {
    const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15 of stat)
    return (ticks * 1e6) / CLOCK_TICKS_PER_SEC;
  } catch {
    return null;
  }
}

module.exports = { percentile, median, processCpuUs };
