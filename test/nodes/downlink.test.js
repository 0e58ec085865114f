'use strict';
// thingsboard-in, thingsboard-rpc-response and thingsboard-request through Node-RED against aedes
// in the role of ThingsBoard (test/support/tb-broker.js): RPC round trip through a function node,
// filtering by methods and keys, unknown methods, initial values on connect and after a broker
// restart (subscriptions renewed), one delivery per RPC, reply errors, request answers, overrides,
// timeouts with late answers dropped, requests waiting for a connection, two devices, a refused
// SUBACK, and no token in any captured text.
const test = require('node:test');
const assert = require('node:assert/strict');
const { lastStatus, waitFor, scanForTokens } = require('./common');
const { helper, modules, dev, inNode, sink, probes, collect, takeSeenTexts, at } = require('./downlink-common');
const { TOKEN, TOKEN2 } = require('../mqtt/common');
const { startTbBroker } = require('../support/tb-broker');

let tb;
test.before(async () => {
  tb = await startTbBroker({ tokens: [TOKEN, TOKEN2] });
});
test.after(async () => {
  await tb.close();
});
test.afterEach(async () => {
  scanForTokens(takeSeenTexts(), [TOKEN, TOKEN2, 'WRONG_TOKEN_zz9']);
  await helper.unload();
  tb.refuse.clear();
  tb.onAttributeRequest = undefined;
  tb.onClientRpc = undefined;
  tb.state.published.length = 0;
  tb.state.subscriptions.length = 0;
  tb.state.delayAttributesMs = 0;
});

const creds = { dev: { accessToken: TOKEN }, dev2: { accessToken: TOKEN2 } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FN = 'msg.payload = { answer: msg.topic, got: msg.payload }; return msg;';

async function connected(id) {
  await waitFor(() => /status\.connected/.test((lastStatus(id) || {}).text || ''), `${id} connected`);
}
function warnings(pattern) {
  const spy = helper._NodePrototype.warn;
  return spy.args.map((a) => String(a[0])).filter((t) => pattern.test(t));
}

test('RPC: thingsboard-in → function → thingsboard-rpc-response; methods filter; unknown method logged once; one delivery', async () => {
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port),
    inNode('in', 'dev', { receive: 'rpc', methods: 'setLed, getState' }, [['fn', 'rpcs']]),
    { id: 'fn', type: 'function', z: 'tab', ...at, func: FN, outputs: 1, wires: [['resp']] },
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    sink('rpcs'),
    ...probes(['resp']),
  ], creds);
  const rpcs = collect('rpcs');
  const ok = collect('done-ok');
  const errs = collect('done-err');
  await connected('in');
  await waitFor(() => tb.subscribed(TOKEN, 'v1/devices/me/rpc/request/+'), 'the RPC subscription');
  assert.ok(!tb.subscribed(TOKEN, 'v1/devices/me/attributes'), 'no attribute subscription: no node needs it');

  const reply = await tb.rpc(TOKEN, 1, 'setLed', { on: true });
  assert.deepEqual(JSON.parse(reply), { answer: 'setLed', got: { on: true } });
  await waitFor(() => ok.length === 1, 'Complete after the PUBACK');
  assert.deepEqual(rpcs.map((m) => [m.topic, m.payload, m.rpc]), [['setLed', { on: true }, { id: 1, method: 'setLed', device: 'dev' }]]);

  await tb.sendRpc(TOKEN, 2, 'reboot', {});
  await tb.sendRpc(TOKEN, 3, 'reboot', {});
  await waitFor(() => warnings(/"reboot" left unanswered/).length === 1, 'the unknown method logged');
  await tb.sendRpc(TOKEN, 1, 'setLed', { on: true }); // a redelivery of the answered command
  const again = await tb.rpc(TOKEN, 4, 'getState', null);
  assert.deepEqual(JSON.parse(again), { answer: 'getState', got: null });
  await sleep(100);
  assert.equal(warnings(/"reboot" left unanswered/).length, 1, 'logged once per method');
  assert.deepEqual(rpcs.map((m) => m.rpc.id), [1, 4], 'reboot not delivered, id 1 not delivered twice');
  assert.equal(tb.publishedOn(/rpc\/response\/[23]$/, TOKEN).length, 0, 'unknown methods left unanswered');
  assert.equal(errs.length, 0);
});

test('RPC replies: already answered, msg.rpc missing or changed, device gone, payload not JSON; no double delivery across a reconnect', async () => {
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port),
    inNode('in', 'dev', { receive: 'rpc' }, [['rpcs']]),
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    sink('rpcs'),
    ...probes(['resp']),
  ], creds);
  const rpcs = collect('rpcs');
  const ok = collect('done-ok');
  const errs = collect('done-err');
  await waitFor(() => tb.subscribed(TOKEN, 'v1/devices/me/rpc/request/+'), 'the RPC subscription');
  await tb.sendRpc(TOKEN, 7, 'setLed', { on: 1 });
  await waitFor(() => rpcs.length === 1, 'the RPC');
  const resp = helper.getNode('resp');
  const request = rpcs[0];

  resp.receive({ ...request, payload: { x: NaN } });
  await waitFor(() => errs.length === 1, 'NaN refused');
  assert.match(errs[0].error.message, /payload\.x is NaN/);
  resp.receive({ ...request, payload: 'done' });
  await waitFor(() => ok.length === 1, 'the reply done');
  assert.deepEqual(tb.publishedOn('v1/devices/me/rpc/response/7', TOKEN).map((p) => p.payload), ['"done"'], 'a string is a JSON string');
  resp.receive({ ...request, payload: 'twice' });
  resp.receive({ payload: 1 });
  resp.receive({ payload: 1, rpc: { id: 'x' } });
  resp.receive({ payload: 1, rpc: { ...request.rpc, device: 'gone' } });
  resp.receive({ payload: 1, rpc: { ...request.rpc, id: 99 } });
  await waitFor(() => errs.length === 6, 'five more errors');
  // The checks that need no device answer at once; the others after the device layer's.
  const texts = errs.slice(1).map((m) => m.error.message).sort();
  assert.equal(texts.length, 5);
  for (const [i, pattern] of [/errors\.badRpc/, /errors\.deviceGone/, /errors\.noRpc/, /already answered/, /no open RPC request 99/].entries()) {
    assert.match(texts[i], pattern);
  }
  assert.equal(tb.publishedOn('v1/devices/me/rpc/response/7', TOKEN).length, 1, 'one reply only');

  // ThingsBoard sends an unanswered (persistent) RPC again after a reconnect, same id: one delivery.
  await tb.sendRpc(TOKEN, 8, 'setLed', { on: 2 });
  await waitFor(() => rpcs.length === 2, 'RPC 8');
  await tb.restart();
  await waitFor(() => tb.subscribed(TOKEN, 'v1/devices/me/rpc/request/+'), 'subscribed again after the restart', 15000);
  await tb.sendRpc(TOKEN, 8, 'setLed', { on: 2 });
  // ... but the same id with another command (ThingsBoard restarted and counts from 1 again) is new.
  await tb.sendRpc(TOKEN, 7, 'setLed', { on: 3 });
  await waitFor(() => rpcs.length === 3, 'the new command with the reused id');
  await sleep(100);
  assert.deepEqual(rpcs.map((m) => [m.rpc.id, m.payload.on]), [[7, 1], [8, 2], [7, 3]]);
  resp.receive({ ...rpcs[1], payload: { late: true } });
  await waitFor(() => ok.length === 2, 'RPC 8 answered on the new connection');
});

test('shared attributes: keys filter, deleted, initial values on connect and again after a broker restart', async () => {
  const requests = [];
  let setpoint = 20;
  tb.onAttributeRequest = (token, id, req) => {
    requests.push(req);
    return { client: { fw: '1' }, shared: { setpoint, mode: 'eco' } };
  };
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port, { }),
    inNode('a', 'dev', { keys: 'setpoint' }),
    inNode('b', 'dev', { initial: false }),
    sink('a-sink'),
    sink('b-sink'),
  ], creds);
  const a = collect('a-sink');
  const b = collect('b-sink');
  await waitFor(() => a.length === 1, 'initial values');
  assert.deepEqual(a[0], { ...a[0], topic: 'attributes', payload: { setpoint: 20 }, initial: true });
  assert.deepEqual(requests, [{ sharedKeys: 'setpoint' }], 'one request, for the keys of the node that wants initial values');

  await tb.pushAttributes(TOKEN, { mode: 'away' });
  await tb.pushAttributes(TOKEN, { setpoint: 22, mode: 'x' });
  await tb.pushAttributes(TOKEN, { deleted: ['setpoint'] });
  await waitFor(() => b.length === 3 && a.length === 3, 'the updates');
  assert.deepEqual(b.map((m) => [m.payload, m.deleted, m.initial]), [[{ mode: 'away' }, undefined, undefined], [{ setpoint: 22, mode: 'x' }, undefined, undefined], [{}, ['setpoint'], undefined]]);
  assert.deepEqual(a.slice(1).map((m) => [m.payload, m.deleted]), [[{ setpoint: 22 }, undefined], [{}, ['setpoint']]]);

  setpoint = 25;
  await tb.restart();
  await waitFor(() => a.length === 4, 'initial values again after the restart', 15000);
  assert.deepEqual([a[3].payload, a[3].initial], [{ setpoint: 25 }, true]);
  await tb.pushAttributes(TOKEN, { setpoint: 26 });
  await waitFor(() => a.length === 5, 'an update after the restart (the subscription was renewed)');
  assert.deepEqual(a[4].payload, { setpoint: 26 });
  assert.equal(b.length, 4);
});

test('thingsboard-request: attributes with overrides, client-side RPC, timeout with the late answer dropped, waiting for a connection', async () => {
  const requests = [];
  tb.onAttributeRequest = (token, id, req) => {
    requests.push(req);
    return { client: { fw: '1' } };
  };
  const slow = [];
  tb.onClientRpc = (token, id, req) => {
    if (req.method === 'slow') {
      slow.push(id);
      return undefined;
    }
    return { method: req.method, params: req.params };
  };
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port),
    { id: 'ra', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'attributes', clientKeys: 'fw', sharedKeys: '', timeout: '10', wires: [['out']] },
    { id: 'rr', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'rpc', method: 'getCurrentTime', timeout: '0.5', wires: [['out']] },
    sink('out'),
    ...probes(['ra', 'rr']),
  ], creds);
  const out = collect('out');
  const errs = collect('done-err');
  const ok = collect('done-ok');
  await connected('ra');
  helper.getNode('ra').receive({ payload: 'ignored', keep: 1 });
  await waitFor(() => out.length === 1, 'the attribute answer');
  assert.deepEqual([out[0].payload, out[0].keep], [{ client: { fw: '1' }, shared: {} }, 1]);
  helper.getNode('ra').receive({ payload: { sharedKeys: ['mode', 'x'], clientKeys: 'a, b' } });
  await waitFor(() => out.length === 2, 'the second answer');
  assert.deepEqual(requests, [{ clientKeys: 'fw' }, { clientKeys: 'a,b', sharedKeys: 'mode,x' }]);

  helper.getNode('rr').receive({ payload: { tz: 'UTC' } });
  helper.getNode('rr').receive({ topic: 'echo', payload: 5 });
  await waitFor(() => out.length === 4, 'the RPC answers');
  assert.deepEqual(out.slice(2).map((m) => m.payload), [{ method: 'getCurrentTime', params: { tz: 'UTC' } }, { method: 'echo', params: 5 }]);

  const started = Date.now();
  helper.getNode('rr').receive({ topic: 'slow', payload: {}, tag: 'late' });
  await waitFor(() => errs.length === 1, 'the timeout');
  assert.ok(Date.now() - started >= 450);
  assert.match(errs[0].error.message, /no answer from ThingsBoard within 0\.5 s/);
  await tb.push(TOKEN, `v1/devices/me/rpc/response/${slow[0]}`, { late: true });
  helper.getNode('rr').receive({ topic: 'echo', payload: 'after' });
  await waitFor(() => out.length === 5, 'the next answer');
  await sleep(100);
  assert.deepEqual(out.slice(4).map((m) => m.payload), [{ method: 'echo', params: 'after' }], 'the late answer went nowhere');
  assert.equal(ok.length, 5);

  // While the broker is away a request waits (within its 10 s), and is answered after the reconnect.
  const restarting = tb.restart(1500);
  await waitFor(() => !/status\.connected/.test((lastStatus('ra') || {}).text || ''), 'the connection down');
  helper.getNode('ra').receive({ payload: {}, tag: 'waited' });
  await restarting;
  await waitFor(() => out.length === 6, 'the answer after the reconnect', 15000);
  assert.equal(out[5].tag, 'waited');
  assert.equal(errs.length, 1);
});

test('two devices: each reply lands on the device its request came from; a refused SUBACK is an error on the nodes that needed it', async () => {
  tb.refuse.add('v1/devices/me/attributes');
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port),
    dev('dev2', tb.port, { name: 'second' }),
    inNode('in1', 'dev', { receive: 'rpc' }, [['fn']]),
    inNode('in2', 'dev2', { receive: 'rpc' }, [['fn']]),
    inNode('attr', 'dev2', {}, [[]]),
    { id: 'fn', type: 'function', z: 'tab', ...at, func: FN, outputs: 1, wires: [['resp']] },
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    { id: 'c', type: 'catch', z: 'tab', ...at, scope: ['in1', 'in2', 'attr'], uncaught: false, wires: [['caught']] },
    sink('caught'),
  ], creds);
  const caught = collect('caught');
  await waitFor(() => tb.subscribed(TOKEN, 'v1/devices/me/rpc/request/+') && tb.subscribed(TOKEN2, 'v1/devices/me/rpc/request/+'), 'both subscribed');
  const [r1, r2] = await Promise.all([tb.rpc(TOKEN, 1, 'who', 'one'), tb.rpc(TOKEN2, 1, 'who', 'two')]);
  assert.deepEqual([JSON.parse(r1).got, JSON.parse(r2).got], ['one', 'two']);
  assert.equal(tb.publishedOn(/rpc\/response/, TOKEN).length, 1);
  assert.equal(tb.publishedOn(/rpc\/response/, TOKEN2).length, 1);

  await waitFor(() => caught.length === 1, 'the refused subscription caught');
  assert.equal(caught[0].error.source.id, 'attr');
  assert.match(caught[0].error.message, /refused the subscription to v1\/devices\/me\/attributes \(SUBACK 0x80\)/);
  await waitFor(() => /:status\.subscriptionRefused$/.test((lastStatus('attr') || {}).text || ''), 'the status of the refused node');
  assert.match(lastStatus('in2').text, /status\.connected/, 'the RPC node of the same device is fine');
});

test('replies and requests do not wait behind 1000 queued messages (nor hold them up)', async (t) => {
  tb.state.delayAttributesMs = 30; // a slow server: 1000 messages take seconds
  tb.onClientRpc = () => ({ pong: true });
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port),
    inNode('in', 'dev', { receive: 'rpc' }, [['fn']]),
    { id: 'fn', type: 'function', z: 'tab', ...at, func: 'msg.payload = "pong"; return msg;', outputs: 1, wires: [['resp']] },
    { id: 'resp', type: 'thingsboard-rpc-response', z: 'tab', ...at, wires: [] },
    // Client attributes: never coalesced, so 1000 messages are 1000 publishes.
    { id: 'out', type: 'thingsboard-out', z: 'tab', ...at, device: 'dev', kind: 'attributes', qos: '1', key: '', wires: [] },
    { id: 'rr', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'rpc', method: 'ping', timeout: '10', wires: [['answers']] },
    sink('answers'),
    ...probes(['out']),
  ], creds);
  const ok = collect('done-ok');
  const answers = collect('answers');
  await waitFor(() => tb.subscribed(TOKEN, 'v1/devices/me/rpc/request/+'), 'subscribed');
  for (let i = 0; i < 1000; i++) helper.getNode('out').receive({ payload: { i } });
  await waitFor(() => ok.length >= 1, 'the queue moving');
  const started = Date.now();
  const reply = await tb.rpc(TOKEN, 1, 'ping', {});
  helper.getNode('rr').receive({ payload: {} });
  await waitFor(() => answers.length === 1, 'the client-side RPC answer');
  const took = Date.now() - started;
  const doneWhenAnswered = ok.length;
  assert.equal(reply, '"pong"');
  assert.ok(doneWhenAnswered < 700, `the reply and the request went before the queue drained (${doneWhenAnswered} of 1000 done, ${took} ms)`);
  await waitFor(() => ok.length === 1000, 'every queued message done', 30000);
  t.diagnostic(`RPC reply and client-side RPC answered in ${took} ms with ${doneWhenAnswered} of 1000 queued messages done; all done ${Date.now() - started} ms after`);
});

test('a refused token: requests fail at once saying why, in-nodes show it, no token in any text', async () => {
  await helper.load(modules(), [
    { id: 'tab', type: 'tab' },
    dev('dev', tb.port),
    inNode('in', 'dev', { receive: 'rpc' }, [[]]),
    { id: 'ra', type: 'thingsboard-request', z: 'tab', ...at, device: 'dev', request: 'attributes', wires: [['out']] },
    sink('out'),
    ...probes(['ra']),
  ], { dev: { accessToken: 'WRONG_TOKEN_zz9' } });
  const errs = collect('done-err');
  await waitFor(() => /status\.unauthorized/.test((lastStatus('in') || {}).text || ''), 'the in-node unauthorized');
  helper.getNode('ra').receive({ payload: {} });
  await waitFor(() => errs.length === 1, 'the request failed');
  assert.match(errs[0].error.message, /unauthorized/);
});
