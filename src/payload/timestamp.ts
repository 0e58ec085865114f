// Timestamps for telemetry: ThingsBoard wants whole milliseconds since 1970-01-01T00:00:00Z.
// Both `msg.ts` and the `ts` of a `{ts, values}` payload go through parseTimestamp, so they accept
// the same things and fail with the same advice.
import { PayloadError, describe } from './errors';

/**
 * Below this an epoch-ms value is before 1973-03-03, which for a sensor reading almost always
 * means the value is in SECONDS (1.7e9 s is 2023; as ms it is 1970-01-20).
 */
export const MIN_PLAUSIBLE_TS = 1e11;
/** At or above this (year 5138) a value is almost always MICRO- or NANOseconds. */
export const MAX_PLAUSIBLE_TS = 1e14;

// ISO-8601 date or date-time as JavaScript's Date parses it reliably: a date, or a date and a
// time (T or space) with optional seconds, fraction and offset (Z, +hh:mm, +hhmm).
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;
const DIGITS = /^\d+$/;
const ADVICE = 'use epoch milliseconds (Date.now()), a Date, or an ISO-8601 text like "2024-05-01T12:00:00Z"';

/**
 * Epoch milliseconds from a number, a safe BigInt, a Date, a digits-only string (epoch ms, as
 * read from CSV or a database) or an ISO-8601 string. A date-time without an offset is local
 * time and a date alone is UTC midnight, as with JavaScript's Date. Throws PayloadError naming
 * `path` for anything else, including numbers that look like seconds or microseconds.
 */
export function parseTimestamp(raw: unknown, path: string): number {
  let ms: number;
  if (typeof raw === 'number') {
    ms = raw;
  } else if (typeof raw === 'bigint') {
    ms = raw >= BigInt(Number.MIN_SAFE_INTEGER) && raw <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(raw) : NaN;
    if (Number.isNaN(ms)) throw new PayloadError(path, `${path} is ${raw}n, far beyond any date in milliseconds (nanoseconds?): ${ADVICE}`);
  } else if (raw instanceof Date) {
    ms = raw.getTime();
    if (Number.isNaN(ms)) throw new PayloadError(path, `${path} is an invalid Date: ${ADVICE}`);
    return checkRange(ms, path);
  } else if (typeof raw === 'string') {
    ms = parseTimestampText(raw.trim(), path);
  } else {
    throw new PayloadError(path, `${path} is ${describe(raw)}: ${ADVICE}`);
  }
  if (!Number.isFinite(ms)) throw new PayloadError(path, `${path} is ${ms}: ${ADVICE}`);
  if (!Number.isInteger(ms)) {
    throw new PayloadError(path, `${path} is ${ms}: ThingsBoard wants whole milliseconds; round it (Math.round)`);
  }
  return checkRange(ms, path);
}

function parseTimestampText(text: string, path: string): number {
  if (DIGITS.test(text)) return Number(text);
  const parts = ISO_8601.exec(text);
  const ms = parts ? Date.parse(text) : NaN;
  // Date.parse rolls 2024-02-30 over to March 1st instead of refusing it.
  if (parts === null || Number.isNaN(ms) || Number(parts[3]) > daysInMonth(Number(parts[1]), Number(parts[2]))) {
    throw new PayloadError(path, `${path} is ${describe(text)}, which is not a valid date: ${ADVICE}`);
  }
  return ms;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function checkRange(ms: number, path: string): number {
  if (ms < MIN_PLAUSIBLE_TS) {
    throw new PayloadError(
      path,
      `${path} is ${ms}, which as milliseconds is before 1973: ThingsBoard wants milliseconds since 1970; if this is seconds, multiply by 1000`,
    );
  }
  if (ms >= MAX_PLAUSIBLE_TS) {
    throw new PayloadError(
      path,
      `${path} is ${ms}, which as milliseconds is after the year 5000: ThingsBoard wants milliseconds since 1970; if this is micro- or nanoseconds, divide by 1000 or 1000000`,
    );
  }
  return ms;
}
