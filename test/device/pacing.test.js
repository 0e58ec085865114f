'use strict';
// The pacer on its own, on a fake clock: ThingsBoard's syntax parsed (and refused with a reason),
// every window kept at 80 % from the first message, data points counted like ThingsBoard.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lib } = require('../mqtt/common');

const { Pacer, parseRateLimits, parseWindows, limitsFromServer, dataPointsOf, describeLimits } = lib('device/pacing.js');
const { parseDeviceConfig } = lib('device/settings.js');

test('ThingsBoard syntax: "10:1,300:60", named sections, and clear refusals', () => {
  assert.deepEqual(parseWindows('10:1,300:60'), [{ count: 10, seconds: 1 }, { count: 300, seconds: 60 }]);
  assert.deepEqual(parseRateLimits(' 10:1 , 300:60 '), { messages: [{ count: 10, seconds: 1 }, { count: 300, seconds: 60 }] });
  assert.deepEqual(parseRateLimits('messages=20:1; telemetryDataPoints=100:1,3000:60'), {
    messages: [{ count: 20, seconds: 1 }],
    telemetryDataPoints: [{ count: 100, seconds: 1 }, { count: 3000, seconds: 60 }],
  });
  assert.throws(() => parseRateLimits('10/1'), /"10\/1" is not count:seconds/);
  assert.throws(() => parseRateLimits('0:1'), /at least 1/);
  assert.throws(() => parseRateLimits('bytes=10:1'), /unknown limit "bytes"/);
  assert.throws(() => parseRateLimits('10:1;messages=5:1'), /given twice/);
  const bad = parseDeviceConfig({ host: 'tb', rateLimits: '10:1,300' }, { accessToken: 't' });
  assert.match(bad.problems.join(), /rate limits: "300" is not count:seconds/);
  const good = parseDeviceConfig({ host: 'tb', rateLimits: '10:1,300:60' }, { accessToken: 't' });
  assert.deepEqual(good.problems, []);
  assert.equal(describeLimits(good.rateLimits), 'messages 10:1,300:60');
  assert.equal(parseDeviceConfig({ host: 'tb' }, { accessToken: 't' }).rateLimits, undefined, 'empty = what the server says');
});

test('getSessionLimits answers become budgets; an unreadable one is left out', () => {
  assert.deepEqual(limitsFromServer({ messages: '10:1,300:60', telemetryMessages: '', telemetryDataPoints: 'x' }), {
    messages: [{ count: 10, seconds: 1 }, { count: 300, seconds: 60 }],
  });
  assert.deepEqual(limitsFromServer(undefined), {});
});

test('data points are counted like ThingsBoard: keys per entry, summed over an array', () => {
  const b = (v) => Buffer.from(JSON.stringify(v));
  assert.equal(dataPointsOf(b({ a: 1, b: 2, c: 3 })), 3);
  assert.equal(dataPointsOf(b({ ts: 1, values: { a: 1, b: 2 } })), 2);
  assert.equal(dataPointsOf(b([{ ts: 1, values: { a: 1 } }, { ts: 2, values: { a: 1, b: 2 } }, { c: 3 }])), 4);
});

/** Sends as fast as the pacer allows on a fake clock; returns the send times. */
function drain(pacer, clock, total, cost = { messages: 1 }) {
  const times = [];
  while (times.length < total) {
    const wait = pacer.wait(cost);
    if (wait > 0) {
      clock.now += wait;
      continue;
    }
    pacer.take(cost);
    times.push(clock.now);
  }
  return times;
}

/**
 * ThingsBoard's check (bucket4j, greedy refill): per window a bucket of `count * share` tokens,
 * full at the start, refilled evenly over `seconds`; a send that finds one empty is a violation.
 */
function violations(times, windows, share = 1) {
  const buckets = windows.map((w) => ({ cap: w.count * share, rate: (w.count * share) / (w.seconds * 1000), tokens: w.count * share, at: times[0] }));
  let count = 0;
  for (const t of times) {
    for (const b of buckets) {
      b.tokens = Math.min(b.cap, b.tokens + (t - b.at) * b.rate);
      b.at = t;
      if (b.tokens < 1 - 1e-9) count++;
      b.tokens -= 1;
    }
  }
  return count;
}

test('every window stays at 80 % from the first message, and the pace is not slower than that', () => {
  const clock = { now: 1_000_000 };
  const pacer = new Pacer({ now: () => clock.now });
  const windows = parseWindows('10:1,300:60');
  pacer.setLimits({ messages: windows });
  const times = drain(pacer, clock, 1000);
  assert.equal(violations(times, windows), 0, 'ThingsBoard\'s buckets never run dry');
  assert.equal(violations(times, windows, 0.8), 0, 'not even buckets of 80 %');
  assert.ok(violations(times, windows, 0.75) > 0, 'but buckets of 75 % would: the pace uses what 80 % allows');
  const span = times.at(-1) - times[0];
  const ideal = ((1000 - 240) / (300 * 0.8)) * 60_000; // the minute window is the bottleneck
  assert.ok(span <= ideal * 1.05 && span >= ideal * 0.9, `1,000 messages in ${span} ms, ideal ${Math.round(ideal)} ms`);
});

test('a cost larger than a window waits for a full bucket instead of forever; budgets are separate', () => {
  const clock = { now: 0 };
  const pacer = new Pacer({ now: () => clock.now });
  pacer.setLimits({ telemetryDataPoints: parseWindows('100:1') });
  assert.equal(pacer.largest('telemetryDataPoints'), 80);
  assert.equal(pacer.largest('messages'), Infinity);
  assert.equal(pacer.wait({ telemetryDataPoints: 500, messages: 1 }), 0, 'a full bucket lets one oversized send through');
  pacer.take({ telemetryDataPoints: 500 });
  assert.ok(pacer.wait({ telemetryDataPoints: 1 }) > 1000, 'then the debt is paid before the next');
  pacer.setBudget('gatewayMessages', parseWindows('2:1'));
  pacer.take({ gatewayMessages: 1 });
  pacer.take({ gatewayMessages: 1 });
  assert.ok(pacer.wait({ gatewayMessages: 1 }) > 0, 'a gateway budget set through the hook is paced too');
});

test('budgets are made when a limit is known and belong to one pacer: another stays unpaced; removing the last one makes it unpaced', () => {
  const idle = new Pacer({ now: () => 0 });
  const paced = new Pacer({ now: () => 0 });
  assert.equal(paced.active, false, 'no limit known: no budgets');
  assert.equal(paced.wait({ messages: 1000 }), 0);
  paced.setLimits({ messages: [{ count: 10, seconds: 1 }] });
  paced.setBudget('gateway.messages', [{ count: 5, seconds: 1 }]);
  assert.equal(paced.active, true);
  assert.equal(paced.has('gateway.messages'), true);
  assert.equal(idle.active, false, 'the other pacer has no budget');
  assert.equal(idle.has('messages'), false);
  assert.equal(idle.wait({ messages: 1000 }), 0);
  idle.setBudget('messages', []); // removing what it does not have is nothing
  assert.equal(idle.active, false);
  paced.setBudget('messages', []);
  paced.setBudget('gateway.messages', []);
  assert.equal(paced.active, false);
  paced.setLimits({});
  assert.equal(paced.active, false);
  assert.equal(new Pacer().active, false, 'a new pacer after all that');
});
