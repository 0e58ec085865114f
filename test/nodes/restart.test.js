'use strict';
// The broker is stopped and started again while 5,000 QoS 1 messages go through a
// thingsboard-out node: with a queue large enough for all of them, every message must end
// exactly once with done(), and the broker must have every one — no tolerance: a message in
// flight when the broker went away is sent again, not failed. Duplicates at the broker are
// allowed (at-least-once: a message whose PUBACK was lost is sent again). A message that never
// ends fails the test through its timeout instead of hanging it.
const test = require('node:test');
const assert = require('node:assert/strict');
const { helper, allModules, deviceConfig, outsWithProbes, probe, lastStatus, waitFor, scanForTokens } = require('./common');
const { TOKEN, emulator } = require('../mqtt/common');
const { freeTcpPort } = require('../support/ports');

const TOTAL = 5000;

test('broker restart during 5,000 QoS 1 sends: every message delivered, none failed or lost', { timeout: 120000 }, async (t) => {
  const port = await freeTcpPort();
  let { store, emu } = await emulator({ port });
  t.after(async () => {
    await helper.unload();
    await emu.close();
  });
  const atBroker = new Map(); // n → times received
  store.on('telemetry', (e) => {
    for (const entry of e.entries) {
      const n = entry.values.n;
      atBroker.set(n, (atBroker.get(n) || 0) + 1);
    }
  });

  await helper.load(allModules(), [
    { id: 'tab', type: 'tab' },
    deviceConfig({ port: String(port), queueSize: String(TOTAL * 2) }),
    ...outsWithProbes([['out1', { qos: '1' }]]),
  ], { dev: { accessToken: TOKEN } });
  const out = probe('out1');

  const endings = [];
  let restarted = false;
  let statusesWhileDown = [];
  for (let n = 0; n < TOTAL; n++) {
    endings.push(out.send({ payload: { n } }).then((r) => ({ n, ...r })));
    if (n % 250 === 249) await new Promise((r) => setImmediate(r));
    if (n === 1500) {
      // Wait until some messages are through, then pull the broker away mid-stream.
      await waitFor(() => atBroker.size > 200, 'first messages at the broker');
      await emu.close();
      await waitFor(() => /status\.reconnecting/.test((lastStatus('out1') || {}).text || ''), 'reconnecting status');
      statusesWhileDown.push(lastStatus('out1').text);
    }
    if (n === 3000 && !restarted) {
      ({ emu } = await emulator({ store, port }));
      restarted = true;
    }
  }
  const results = await Promise.all(endings);

  const ok = results.filter((r) => r.ok);
  const failed = results.filter((r) => !r.ok);
  const lost = ok.filter((r) => !atBroker.has(r.n));
  const endedTwice = results.filter((r) => r.count !== 1);
  const duplicates = [...atBroker.values()].filter((c) => c > 1).length;
  t.diagnostic(`done: ${ok.length}, done(err): ${failed.length}, at broker: ${atBroker.size} distinct, ${duplicates} duplicated`);
  if (failed.length) t.diagnostic(`first failure: ${failed[0].error}`);

  assert.equal(results.length, TOTAL);
  assert.deepEqual(lost, [], 'every done() message is at the broker');
  assert.equal(endedTwice.length, 0, 'every message ended exactly once');
  for (const f of failed) assert.ok(f.error, 'a failure says why');
  assert.deepEqual(failed.slice(0, 5), [], `with a 10,000 queue every message gets through after the restart (${failed.length} failed)`);
  assert.equal(ok.length, TOTAL);
  assert.equal(atBroker.size, TOTAL, 'the broker has every message');
  assert.match(statusesWhileDown[0], /status\.reconnecting/);
  scanForTokens([], [TOKEN]);
});
