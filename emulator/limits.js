'use strict';
// Rate limits the way ThingsBoard's transports enforce them on a device: per limit (messages,
// telemetry messages, telemetry data points) one token bucket per `count:seconds` window, full
// when the session starts and refilled evenly (bucket4j with greedy refill); a message that finds
// a bucket short is over the limit. What happens then is the front end's business, as in
// ThingsBoard: MQTT 3.1.1 closes the session without a reason, CoAP answers 5.00.
//
//   const limits = parseLimits('messages=10:1,300:60; telemetryDataPoints=100:1');
//   const session = new SessionLimits(limits);           // one per MQTT session / CoAP device
//   session.charge('telemetry', body) → undefined, or the name of the limit that was exceeded
//
// `msPerSecond` (tests and the benchmark only) shrinks every window's second, so minutes of
// pacing take seconds; the package's pacer is given the same scale.

const NAMES = ['messages', 'telemetryMessages', 'telemetryDataPoints'];

/** "10:1,300:60" → [{count, seconds}]; throws on anything else. */
function parseWindows(text) {
  const t = String(text || '').trim();
  if (!t) return [];
  return t.split(',').map((part) => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new Error(`rate limit "${part.trim()}" is not count:seconds (e.g. 10:1,300:60)`);
    return { count: Number(m[1]), seconds: Number(m[2]) };
  });
}

/**
 * "10:1,300:60" (every message) or "messages=…; telemetryMessages=…; telemetryDataPoints=…", or
 * an object of those texts → {messages?, telemetryMessages?, telemetryDataPoints?: windows}.
 */
function parseLimits(spec) {
  const limits = {};
  if (!spec) return limits;
  if (typeof spec === 'object') {
    for (const name of NAMES) if (spec[name]) limits[name] = parseWindows(spec[name]);
    return limits;
  }
  for (const section of String(spec).split(';')) {
    if (!section.trim()) continue;
    const eq = section.indexOf('=');
    const name = eq < 0 ? 'messages' : section.slice(0, eq).trim();
    if (!NAMES.includes(name)) throw new Error(`unknown rate limit "${name}": use messages, telemetryMessages or telemetryDataPoints`);
    limits[name] = parseWindows(eq < 0 ? section : section.slice(eq + 1));
  }
  return limits;
}

/** The texts getSessionLimits answers ('' for a limit that is not set, as ThingsBoard does). */
function limitTexts(limits) {
  const out = {};
  for (const name of NAMES) out[name] = (limits[name] || []).map((w) => `${w.count}:${w.seconds}`).join(',');
  return out;
}

/** Data points of a telemetry body as ThingsBoard counts them (keys of every entry's values). */
function dataPoints(body) {
  let value;
  try {
    value = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : String(body));
  } catch {
    return 1;
  }
  const count = (item) => {
    if (!item || typeof item !== 'object') return 1;
    const values = 'ts' in item && item.values && typeof item.values === 'object' ? item.values : item;
    return Math.max(1, Object.keys(values).length);
  };
  return Array.isArray(value) ? value.reduce((sum, item) => sum + count(item), 0) : count(value);
}

class SessionLimits {
  /** @param {object} limits parseLimits() result; @param {{msPerSecond?: number, now?: () => number}} [opts] */
  constructor(limits, opts = {}) {
    this.now = opts.now || Date.now;
    const msPerSecond = opts.msPerSecond || 1000;
    const at = this.now();
    this.buckets = {};
    for (const [name, windows] of Object.entries(limits || {})) {
      this.buckets[name] = windows.map((w) => ({ label: `${name} ${w.count}:${w.seconds}`, cap: w.count, rate: w.count / (w.seconds * msPerSecond), tokens: w.count, at }));
    }
  }

  get active() {
    return Object.keys(this.buckets).length > 0;
  }

  /**
   * Takes one message (kind 'telemetry' | 'attributes' | 'other') from the buckets.
   * @returns {string|undefined} the limit that was exceeded, e.g. 'telemetryDataPoints 10:1'
   */
  charge(kind, body) {
    if (!this.active) return undefined;
    const costs = { messages: 1 };
    if (kind === 'telemetry') {
      costs.telemetryMessages = 1;
      if (this.buckets.telemetryDataPoints) costs.telemetryDataPoints = dataPoints(body);
    }
    const now = this.now();
    let exceeded;
    for (const [name, cost] of Object.entries(costs)) {
      for (const b of this.buckets[name] || []) {
        b.tokens = Math.min(b.cap, b.tokens + (now - b.at) * b.rate);
        b.at = now;
        if (b.tokens + 1e-9 < cost && !exceeded) exceeded = b.label;
        b.tokens -= cost;
      }
    }
    return exceeded;
  }
}

/** "messages 10:1,300:60; telemetryDataPoints 100:1" */
function describeLimits(limits) {
  return Object.entries(limits || {})
    .filter(([, w]) => w && w.length)
    .map(([name, windows]) => `${name} ${windows.map((w) => `${w.count}:${w.seconds}`).join(',')}`)
    .join('; ');
}

module.exports = { parseLimits, parseWindows, limitTexts, dataPoints, SessionLimits, describeLimits, LIMIT_NAMES: NAMES };
