'use strict';
// 150 CoAP transports that each observe both channels (renewal timers armed), take a notification,
// make a request that times out and one that is answered, then close: afterwards no socket, timer
// or listener of theirs is left (process.getActiveResourcesInfo against the baseline), and the
// server (a raw ThingsBoard-role peer without timers of its own, so every timer counted is ours)
// saw every observation deregistered.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startTbPeer } = require('./tb-coap-peer');
const { waitFor } = require('../support/wait');
const { CoapTransport, fastTiming, settings, outcome } = require('./common');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
const TOKEN = 'leak-downlink-tok';

const resources = () => {
  const counts = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] || 0) + 1;
  return counts;
};

test('150 observe/request/close cycles leave no socket, timer or observer behind', async (t) => {
  const held = [];
  const peer = await startTbPeer({
    token: TOKEN,
    // Attribute GETs are never answered (they time out); everything else as ThingsBoard.
    handle: (req, p) => { if (req.code === '0.01' && req.observe === undefined) { p.ackEmpty(req); held.push(req); return true; } return false; },
  });
  t.after(() => peer.close());
  await new Promise((r) => setTimeout(r, 50));
  const baseline = resources();
  for (let i = 0; i < 150; i++) {
    const tr = new CoapTransport(settings(peer.port, { accessToken: TOKEN }), { downlink: { refreshMs: 60_000, answerTimeoutMs: 2000 } });
    const got = [];
    tr.on('attributes', (u) => got.push(u));
    await tr.connect();
    await tr.subscribe('attributes');
    await tr.subscribe('rpc');
    peer.notify('attributes', { i });
    await waitFor(() => got.length === 1, `notification ${i}`, 3000);
    await tr.callRpc('echo', { i }, 2000);
    if (i % 10 === 0) {
      const r = await outcome(tr.requestAttributes({ clientKeys: ['x'], sharedKeys: [] }, 1));
      assert.ok(r.ok || r.err.code === 'NO_ANSWER');
    }
    await tr.close();
    assert.equal(tr.listenerCount('attributes'), 1, 'only the test listener');
  }
  assert.equal(peer.registrations.length, 300);
  assert.equal(peer.deregistrations.length, 300, 'every observation deregistered on close');
  assert.equal(held.length, 15);
  await new Promise((r) => setTimeout(r, 300));
  const after = resources();
  for (const kind of ['UDPWRAP', 'Timeout']) {
    assert.ok((after[kind] || 0) <= (baseline[kind] || 0) + 1, `${kind}: ${baseline[kind] || 0} before, ${after[kind] || 0} after`);
  }
});
