'use strict';
// The CoAP receive side (coap/downlink.ts) against a raw UDP peer in ThingsBoard's role
// (tb-coap-peer.js): Observe registration and first responses, ACKed CON notifications, RFC 7641
// ordering, RPC ids once, renewal with a fresh token, deregistration, RPC replies, attribute
// requests, client-side RPC with separate responses, timeouts and late answers, redaction.
const { test, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { waitFor } = require('../support/wait');
const { startTbPeer, TYPES } = require('./tb-coap-peer');
const { CoapTransport, TOKEN, fastTiming, settings, recordTexts, outcome, assertNoToken } = require('./common');
const { RpcBook } = require('../../nodes/lib/device/rpc-book');

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
const cleanups = [];
afterEach(async () => { while (cleanups.length) await cleanups.pop()(); });

async function setup({ peerOptions = {}, downlink = {} } = {}) {
  const peer = await startTbPeer({ token: TOKEN, ...peerOptions });
  const tr = new CoapTransport(settings(peer.port), { downlink: { answerTimeoutMs: 2000, ...downlink } });
  const texts = recordTexts(tr);
  const events = { attributes: [], rpc: [], resubscribed: [] };
  for (const name of Object.keys(events)) tr.on(name, (e) => events[name].push(e));
  cleanups.push(() => peer.close(), () => tr.close());
  await tr.connect();
  return { peer, tr, texts, events };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('attributes: subscribe resolves on the first response, which is not an update; CON notifications are ACKed and delivered', async () => {
  const { peer, tr, texts, events } = await setup({ peerOptions: { sharedAttributes: { setpoint: 20 } } });
  await tr.subscribe('attributes');
  const [reg] = peer.requests((m) => m.observe === 0);
  assert.deepEqual(reg.path, ['api', 'v1', TOKEN, 'attributes']);
  assert.equal(reg.type, TYPES.CON);
  await tr.subscribe('attributes'); // idempotent
  assert.equal(peer.registrations.length, 1);
  await sleep(50);
  assert.deepEqual(events.attributes, [], 'the first response (whole state) is not an update');

  const sent = peer.notify('attributes', { setpoint: 22, mode: 'eco' });
  await waitFor(() => events.attributes.length === 1, 'attribute update', 3000);
  assert.deepEqual(events.attributes[0], { values: { setpoint: 22, mode: 'eco' } });
  const mid = sent.readUInt16BE(2);
  await waitFor(() => peer.received((m) => m.type === TYPES.ACK && m.messageId === mid).length, 'ACK of the notification', 3000);

  peer.notify('attributes', { deleted: ['mode'] });
  await waitFor(() => events.attributes.length === 2, 'deletion', 3000);
  assert.deepEqual(events.attributes[1], { values: {}, deleted: ['mode'] });

  peer.notify('attributes', 'not json{');
  await waitFor(() => texts.some((t) => t.includes('not JSON')), 'warning for a bad body', 3000);
  assert.equal(events.attributes.length, 2);
  assertNoToken(assert, texts);
});

test('a retransmitted or reordered notification is delivered once; one RPC id once (through the device layer\'s RpcBook)', async () => {
  const { peer, tr, events } = await setup();
  await tr.subscribe('rpc');
  const first = peer.notify('rpc', { id: 7, method: 'setLed', params: { on: true } });
  await waitFor(() => events.rpc.length === 1, 'rpc', 3000);
  assert.deepEqual(events.rpc[0], { id: 7, method: 'setLed', params: { on: true } });
  peer.resend(first); // same message ID and Observe number: our ACK was lost
  peer.notify('rpc', { id: 6, method: 'old', params: {} }, { seq: 0 }); // older than the last
  peer.notify('rpc', { id: 7, method: 'setLed', params: { on: true } }); // ThingsBoard resends id 7 (new Observe number)
  peer.notify('rpc', { id: 8, method: 'setInterval', params: 5 });
  await waitFor(() => events.rpc.length >= 3, 'the resent and the new rpc', 3000);
  await sleep(100);
  // The transport passes ThingsBoard's resend of id 7 on; the one de-duplication is the device
  // layer's RpcBook, which hands the flow each command once.
  assert.deepEqual(events.rpc.map((r) => r.id), [7, 7, 8]);
  const book = new RpcBook();
  assert.deepEqual(events.rpc.filter((r) => book.arrived(r)).map((r) => r.id), [7, 8]);
  // Every CON was acknowledged, the duplicates too (else ThingsBoard retransmits).
  const acks = peer.received((m) => m.type === TYPES.ACK).length;
  assert.ok(acks >= 5, `ACKs: ${acks}`);
});

test('observations are renewed periodically with a fresh token: resubscribed, old token answered with RST', async () => {
  const { peer, tr, events, texts } = await setup({ downlink: { refreshMs: 300 } });
  await tr.subscribe('attributes');
  await tr.subscribe('rpc');
  const firstTokens = new Map(peer.registrations.map((r) => [r.channel, r.token]));
  await waitFor(() => events.resubscribed.includes('attributes') && events.resubscribed.includes('rpc'), 'resubscribed', 3000);
  const renewed = peer.registrations.slice(2);
  assert.ok(renewed.length >= 2);
  for (const r of renewed) assert.ok(!r.token.equals(firstTokens.get(r.channel)), 'a renewal uses a new token');
  // A notification on the new registration is delivered; one on the old token is refused.
  const old = { token: firstTokens.get('attributes'), seq: 50, client: peer.observations.get('attributes').client };
  const stale = peer.notify('attributes', { stale: true }, { obs: old });
  peer.notify('attributes', { fresh: true });
  await waitFor(() => events.attributes.length === 1, 'update on the new observation', 3000);
  const staleMid = stale.readUInt16BE(2);
  await waitFor(() => peer.received((m) => m.type === TYPES.RST && m.messageId === staleMid).length, 'RST for the old token', 3000);
  await sleep(100);
  assert.deepEqual(events.attributes.map((u) => u.values), [{ fresh: true }]);
  // It keeps going.
  const count = peer.registrations.length;
  await waitFor(() => peer.registrations.length >= count + 2, 'another renewal', 3000);
  // Each replaced registration ended: by ThingsBoard's 2.02 (as here), or else by our Observe=1
  // (the emulator test covers that case).
  for (const [channel, token] of firstTokens) {
    const ended = peer.log.some((e) => e.dir === 'out' && e.msg.code === '2.02' && e.msg.token.equals(token));
    const deregistered = peer.deregistrations.some((d) => d.channel === channel && d.token.equals(token));
    assert.ok(ended || deregistered, `${channel}: the old registration ended`);
  }
  // ThingsBoard's 2.02 Deleted for each replaced registration is expected, not worth a warning.
  assert.ok(peer.log.some((e) => e.dir === 'out' && e.msg.code === '2.02'));
  assert.deepEqual(texts, []);
});

test('unsubscribe and close deregister with Observe=1 and the registration token; later notifications get RST', async () => {
  const { peer, tr, events } = await setup();
  await tr.subscribe('attributes');
  await tr.subscribe('rpc');
  const tokens = new Map(peer.registrations.map((r) => [r.channel, r.token]));
  const rpcObs = peer.observations.get('rpc');
  await tr.unsubscribe('rpc');
  assert.equal(peer.deregistrations.length, 1);
  assert.ok(peer.deregistrations[0].token.equals(tokens.get('rpc')));
  const late = peer.notify('rpc', { id: 1, method: 'm' }, { obs: rpcObs });
  await waitFor(() => peer.received((m) => m.type === TYPES.RST && m.messageId === late.readUInt16BE(2)).length, 'RST', 3000);
  assert.equal(events.rpc.length, 0);
  const t0 = Date.now();
  await tr.close();
  assert.ok(Date.now() - t0 < 900, 'close waited for the ACK, not the whole bound');
  assert.deepEqual(peer.deregistrations.map((d) => d.channel), ['rpc', 'attributes']);
  assert.ok(peer.deregistrations[1].token.equals(tokens.get('attributes')));
});

test('registration refused or unauthorized: subscribe rejects with the kind; an error notification ends it and it is registered again', async () => {
  const { peer, tr, texts } = await setup({
    downlink: { refreshMs: 400 },
    peerOptions: {
      handle: (req, p) => {
        if (req.path[3] === 'attributes' && req.observe === 0 && p.refuse) {
          // A diagnostic payload that echoes the URI (with the token): it must come out redacted.
          p.respond(req, p.refuse, `no session for /api/v1/${TOKEN}/attributes`);
          return true;
        }
        return false;
      },
    },
  });
  peer.refuse = '4.01';
  const r1 = await outcome(tr.subscribe('attributes'), texts);
  assert.equal(r1.err.kind, 'unauthorized');
  peer.refuse = '5.00';
  const r2 = await outcome(tr.subscribe('attributes'), texts);
  assert.equal(r2.err.kind, 'rejected');
  assert.equal(r2.err.code, 'COAP_5.00');
  assert.match(r2.err.message, /no session for \/api\/v1\/\*\*\*\/attributes/);
  peer.refuse = undefined;
  await tr.subscribe('attributes');
  const n = peer.registrations.length;
  peer.notify('attributes', '', { code: '5.03' });
  await waitFor(() => texts.some((t) => t.includes('ended the attributes observation')), 'warning', 3000);
  await waitFor(() => peer.registrations.length > n, 're-registration', 3000);
  assertNoToken(assert, texts);
});

test('respondRpc POSTs rpc/{id}; requestAttributes GETs with the key queries (4.04 → {}); callRpc takes a separate response', async () => {
  const answers = [];
  const { peer, tr, texts } = await setup({
    peerOptions: {
      handle: (req, p) => {
        if (req.code === '0.01' && req.path[3] === 'attributes' && req.observe === undefined) {
          if (req.query.includes('sharedKeys=none')) p.respond(req, '4.04');
          else p.respond(req, '2.05', JSON.stringify({ client: { fw: '1.2' }, shared: { setpoint: 21 } }));
          return true;
        }
        if (req.code === '0.02' && req.path.length === 4 && req.path[3] === 'rpc') {
          // ThingsBoard: empty ACK now, the rule chain's answer as a separate CON response later.
          p.ackEmpty(req);
          setTimeout(() => answers.push(p.respondSeparately(req, '2.05', JSON.stringify({ time: 1234 }))), 300);
          return true;
        }
        return false;
      },
    },
  });
  await tr.respondRpc(42, Buffer.from('{"ok":true}'));
  const [reply] = peer.requests((m) => m.code === '0.02' && m.path[3] === 'rpc');
  assert.deepEqual(reply.path, ['api', 'v1', TOKEN, 'rpc', '42']);
  assert.equal(reply.payload.toString(), '{"ok":true}');

  const answer = await tr.requestAttributes({ clientKeys: ['fw', 'model'], sharedKeys: ['setpoint'] }, 2000);
  assert.deepEqual(answer, { client: { fw: '1.2' }, shared: { setpoint: 21 } });
  const [get] = peer.requests((m) => m.code === '0.01' && m.observe === undefined);
  assert.deepEqual(get.query, ['clientKeys=fw,model', 'sharedKeys=setpoint']);
  assert.deepEqual(await tr.requestAttributes({ clientKeys: [], sharedKeys: ['none'] }, 2000), {});
  const [, onlyShared] = peer.requests((m) => m.code === '0.01' && m.observe === undefined);
  assert.deepEqual(onlyShared.query, ['sharedKeys=none'], 'an empty key list is omitted');

  assert.deepEqual(await tr.callRpc('getCurrentTime', {}, 3000), { time: 1234 });
  const [call] = peer.requests((m) => m.code === '0.02' && m.path.length === 4);
  assert.deepEqual(JSON.parse(call.payload), { method: 'getCurrentTime', params: {} });
  const mid = answers[0].readUInt16BE(2);
  await waitFor(() => peer.received((m) => m.type === TYPES.ACK && m.messageId === mid).length, 'ACK of the separate response', 3000);
  assertNoToken(assert, texts);
});

test('no answer in time: NO_ANSWER after timeoutMs; a late answer is dropped (RST), never delivered', async () => {
  const held = [];
  const { peer, tr, texts } = await setup({
    peerOptions: { handle: (req, p) => { if (req.observe === undefined) { p.ackEmpty(req); held.push(req); return true; } return false; } },
  });
  const t0 = Date.now();
  const r = await outcome(tr.callRpc('slow', {}, 400), texts);
  const took = Date.now() - t0;
  assert.equal(r.err.kind, 'timeout');
  assert.equal(r.err.code, 'NO_ANSWER');
  assert.ok(took >= 380 && took < 3000, `took ${took} ms`); // far below the default answer wait (over 10 s)
  const r2 = await outcome(tr.requestAttributes({ clientKeys: ['a'], sharedKeys: [] }, 300), texts);
  assert.equal(r2.err.code, 'NO_ANSWER');
  // The asking node closed (AbortSignal): rejected at once, forgotten like a timed-out request.
  const controller = new AbortController();
  const asked = outcome(tr.callRpc('cancelled', {}, 10000, controller.signal), texts);
  await waitFor(() => held.length === 3, 'the third request at the peer', 3000);
  const t1 = Date.now();
  controller.abort();
  const r3 = await asked;
  assert.equal(r3.err.code, 'ABORTED');
  assert.equal(r3.err.kind, 'closed');
  assert.ok(Date.now() - t1 < 1000, 'rejected at once, not after the 10 s timeout');
  const r4 = await outcome(tr.requestAttributes({ clientKeys: ['a'], sharedKeys: [] }, 1000, controller.signal));
  assert.equal(r4.err.code, 'ABORTED', 'an already aborted signal sends nothing');
  assert.equal(held.length, 3);
  // The late answers arrive now: refused with RST, and nothing resolves twice or elsewhere.
  const lateMids = held.map((req) => peer.respondSeparately(req, '2.05', '{"late":true}').readUInt16BE(2));
  await waitFor(() => lateMids.every((mid) => peer.received((m) => m.type === TYPES.RST && m.messageId === mid).length), 'RSTs for late answers', 3000);
  assertNoToken(assert, texts);
});

test('teardown: pending requests fail closed; subscriptions do not survive; after reconnect subscribe() works again', async () => {
  const { peer, tr, events } = await setup({
    peerOptions: { handle: (req, p) => { if (req.observe === undefined && req.code === '0.02' && req.path.length === 4) { p.ackEmpty(req); return true; } return false; } },
  });
  await tr.subscribe('rpc');
  const pending = outcome(tr.callRpc('never', {}, 10000));
  await sleep(50);
  await tr.close();
  const r = await pending;
  assert.equal(r.err.kind, 'closed');
  const r2 = await outcome(tr.subscribe('rpc'));
  assert.equal(r2.err.kind, 'closed');

  const tr2 = new CoapTransport(settings(peer.port));
  cleanups.push(() => tr2.close());
  const got = [];
  tr2.on('rpc', (x) => got.push(x));
  await tr2.connect();
  await tr2.subscribe('rpc');
  peer.notify('rpc', { id: 3, method: 'again' });
  await waitFor(() => got.length === 1, 'rpc on the new transport', 3000);
  assert.equal(events.rpc.length, 0);
});
