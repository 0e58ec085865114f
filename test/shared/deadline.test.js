'use strict';
// awaitAnswer() (src/deadline.ts), the one way every layer waits for an answer: it settles once,
// by the waiter, its deadline or the caller's abort, and then its end signal aborts (what hangs
// on it is undone), the deadline timer is cleared and the caller's abort is no longer listened to.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { getEventListeners } = require('node:events');

const { awaitAnswer } = require(path.join(__dirname, '..', '..', 'nodes', 'lib', 'deadline'));

test('an answer settles it once; its end signal aborts; the caller\'s signal is no longer listened to', async () => {
  const caller = new AbortController();
  let waiting;
  const p = awaitAnswer({ timeoutMs: 60_000, signal: caller.signal, aborted: () => new Error('aborted') }, (w) => {
    waiting = w;
  });
  const ended = [];
  waiting.signal.addEventListener('abort', () => ended.push('signal'));
  assert.equal(waiting.ended, false);
  assert.equal(waiting.signal.aborted, false);
  assert.equal(getEventListeners(caller.signal, 'abort').length, 1);
  waiting.resolve(42);
  waiting.reject(new Error('too late'));
  waiting.resolve(43);
  assert.equal(await p, 42);
  assert.equal(waiting.ended, true);
  assert.deepEqual(ended, ['signal'], 'aborted once');
  assert.equal(getEventListeners(caller.signal, 'abort').length, 0, 'a long-lived caller signal keeps nothing of the wait');
  caller.abort(); // after the end: nothing (no second settle, nothing thrown)
  assert.equal(await p, 42);
});

test('the caller\'s abort rejects at once with aborted(), and aborts the end signal before the promise settles', async () => {
  const caller = new AbortController();
  const order = [];
  let waiting;
  const p = awaitAnswer({ timeoutMs: 60_000, signal: caller.signal, aborted: () => new Error('cancelled') }, (w) => {
    waiting = w;
    w.signal.addEventListener('abort', () => order.push(`signal aborted, ended=${w.ended}`));
  });
  p.catch(() => order.push('rejected'));
  caller.abort();
  assert.equal(waiting.ended, true);
  await assert.rejects(p, /cancelled/);
  assert.deepEqual(order, ['signal aborted, ended=true', 'rejected']);
  // Without aborted(): the caller's reason.
  const c2 = new AbortController();
  const p2 = awaitAnswer({ signal: c2.signal }, () => {});
  c2.abort(new Error('the reason'));
  await assert.rejects(p2, /the reason/);
  // Already aborted: rejected without starting.
  let started = false;
  await assert.rejects(awaitAnswer({ signal: c2.signal, aborted: () => new Error('at once') }, () => { started = true; }), /at once/);
  assert.equal(started, false);
});

test('the deadline rejects with expired(); a signal first asked for after the end is already aborted', async () => {
  let waiting;
  const p = awaitAnswer({ timeoutMs: 20, expired: () => new Error('no answer in time') }, (w) => {
    waiting = w;
  });
  await assert.rejects(p, /no answer in time/);
  assert.equal(waiting.ended, true);
  const late = waiting.signal;
  assert.equal(late.aborted, true, 'cleanup hung on it later runs at once (no map entry left behind)');
  // A start that throws rejects the wait, and its signal is aborted as well.
  let thrown;
  await assert.rejects(awaitAnswer({}, (w) => { thrown = w; throw new Error('start failed'); }), /start failed/);
  assert.equal(thrown.signal.aborted, true);
  // Without expired(): the one text for a missed deadline.
  await assert.rejects(awaitAnswer({ timeoutMs: 10 }, () => {}), /no answer from ThingsBoard within 0 s/);
});

test('a settled wait leaves no timer behind', async () => {
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const waits = [];
  for (let i = 0; i < 5; i++) waits.push(awaitAnswer({ timeoutMs: 60_000 }, (w) => setImmediate(() => w.resolve(i))));
  assert.deepEqual(await Promise.all(waits), [0, 1, 2, 3, 4]);
  const after = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  assert.equal(after, before);
});

test('onEnd: every cleanup runs once, in order, when the wait ends; one added after the end runs at once', async () => {
  const ran = [];
  let waiting;
  const p = awaitAnswer({ timeoutMs: 60_000 }, (w) => {
    waiting = w;
    w.onEnd(() => ran.push('first'));
    w.onEnd(() => ran.push('second'));
  });
  assert.deepEqual(ran, []);
  waiting.reject(new Error('refused'));
  waiting.resolve(1);
  await assert.rejects(p, /refused/);
  assert.deepEqual(ran, ['first', 'second']);
  waiting.onEnd(() => ran.push('late'));
  assert.deepEqual(ran, ['first', 'second', 'late']);
  // The deadline ends it too.
  const cleaned = [];
  await assert.rejects(awaitAnswer({ timeoutMs: 10, expired: () => new Error('late') }, (w) => w.onEnd(() => cleaned.push('deadline'))), /late/);
  assert.deepEqual(cleaned, ['deadline']);
});
