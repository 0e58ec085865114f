'use strict';
// Uplink the way ThingsBoard answers it (../shared/reference/thingsboard-device-api.md): the
// result of a telemetry or attributes POST comes as a separate CON response after an empty ACK
// (Californium's piggyback_timeout), and the client must ACK it. Against the raw peer in
// ThingsBoard's role (tb-coap-peer.js): a message is done only when the separate 2.01 arrives, not
// at the empty ACK; the CON response is ACKed, and again when the server retransmits it (its
// ACK was lost), with no second outcome; a separate 4.01 / 4.00 is the refusal it names; an empty
// ACK that is never followed by a response ends in a timeout, never a message that hangs.
const { test, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { waitFor } = require('../support/wait');
const { startTbPeer, TYPES } = require('./tb-coap-peer');
const { CoapTransport, TOKEN, fastTiming, timingForTest, settings, telemetry, attributes, recordTexts, outcome, assertNoToken } = require('./common');

const timing = fastTiming();
const cleanups = [];
afterEach(async () => { while (cleanups.length) await cleanups.pop()(); });

/** `answer(req, peer)` decides what the peer does with each uplink POST (after its empty ACK). */
async function setup(answer) {
  const posts = [];
  const peer = await startTbPeer({
    token: TOKEN,
    handle: (req, p) => {
      if (req.code !== '0.02' || !['telemetry', 'attributes'].includes(req.path[3])) return false;
      posts.push(req);
      p.ackEmpty(req);
      answer(req, p);
      return true;
    },
  });
  const tr = new CoapTransport(settings(peer.port));
  const texts = recordTexts(tr);
  cleanups.push(() => peer.close(), () => tr.close());
  await tr.connect();
  return { peer, tr, texts, posts };
}

const ackOf = (peer, datagram) => peer.received((m) => m.type === TYPES.ACK && m.messageId === datagram.readUInt16BE(2));

test('a separate 2.01 after an empty ACK: done only then; the CON response is ACKed, a retransmitted one ACKed again, one outcome', async (t) => {
  // "No retransmission after the empty ACK" holds only if the ACK is read before the first
  // retransmission is due: 0.5-0.75 s here, not 0.1-0.15 s, which a CPU pause can exceed.
  timingForTest(t, 0.5);
  const held = [];
  const { peer, tr, texts, posts } = await setup((req) => held.push(req));
  let outcomes = 0;
  const sending = outcome(tr.send(telemetry({ t: 21.5 })), texts).then((r) => { outcomes++; return r; });
  await waitFor(() => held.length === 1, 'the POST at the peer', 3000);
  await waitFor(() => peer.log.some((e) => e.dir === 'out' && e.msg.type === TYPES.ACK && e.msg.code === '0.00'), 'the empty ACK sent', 3000);
  // Longer than a retransmission would take: the empty ACK stopped them, and it is not the result.
  await new Promise((r) => setTimeout(r, timing.ackTimeout * 1000 * 3));
  assert.equal(outcomes, 0, 'not done at the empty ACK: ThingsBoard has not said it took the reading');
  assert.equal(posts.length, 1, 'no retransmission after the empty ACK');

  const response = peer.respondSeparately(held[0], '2.01');
  const r = await sending;
  assert.equal(r.ok, true, r.err?.message);
  await waitFor(() => ackOf(peer, response).length === 1, 'the client ACKs the separate CON response', 3000);
  peer.resend(response); // the server did not see our ACK: it sends the same message again
  await waitFor(() => ackOf(peer, response).length === 2, 'the retransmitted response ACKed again', 3000);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(outcomes, 1, 'one outcome per message');

  // Attributes the same way, and the transport goes on working.
  const attrs = outcome(tr.send(attributes({ fw: '1.2' })), texts);
  await waitFor(() => held.length === 2, 'the attributes POST', 3000);
  assert.equal(held[1].path[3], 'attributes');
  peer.respondSeparately(held[1], '2.01');
  assert.equal((await attrs).ok, true);
  assertNoToken(assert, texts);
});

test('a separate 4.01 or 4.00 is the refusal it names; an empty ACK never followed by a response ends in a timeout', async () => {
  const plan = ['4.01', '4.00', null];
  const { tr, texts } = await setup((req, p) => {
    const code = plan.shift();
    if (code) setTimeout(() => p.respondSeparately(req, code, code === '4.00' ? 'bad json' : undefined), 50);
  });
  const unauthorized = await outcome(tr.send(telemetry({ a: 1 })), texts);
  assert.equal(unauthorized.err.kind, 'unauthorized');
  const bad = await outcome(tr.send(telemetry({ a: 2 })), texts);
  assert.equal(bad.err.kind, 'rejected');
  assert.match(bad.err.message, /4\.00/);

  const started = Date.now();
  const silent = await outcome(tr.send(telemetry({ a: 3 })), texts);
  assert.equal(silent.err.kind, 'timeout', silent.err?.message);
  assert.equal(silent.err.code, 'COAP_TIMEOUT');
  // The deadline after an empty ACK is MAX_TRANSMIT_WAIT from the last datagram (the library
  // alone would wait forever): here 4.65 s with the scaled timing.
  const maxTransmitWait = timing.ackTimeout * 1000 * (2 ** (timing.maxRetransmit + 1) - 1) * timing.ackRandomFactor;
  assert.ok(Date.now() - started < maxTransmitWait + 3000, `ended after ${Date.now() - started} ms`);
  assertNoToken(assert, texts);
});

test('AckMemory: a CON seen again from the same peer gets the same ACK; another peer, port or message ID does not; forgotten after EXCHANGE_LIFETIME; bounded', () => {
  const path = require('node:path');
  const coap = require('coap');
  const { AckMemory, REMEMBERED_ACKS } = require(path.join(__dirname, '..', '..', 'nodes', 'lib', 'transports', 'coap', 'duplicates'));
  let now = 0;
  const memory = new AckMemory(() => now);
  const datagram = (type, mid) => Buffer.from([0x40 | (type << 4), type === TYPES.ACK ? 0 : 0x45, mid >> 8, mid & 0xff]);
  const ack = datagram(TYPES.ACK, 4242);
  memory.sent(datagram(TYPES.CON, 1), 5683, '10.0.0.1'); // our own requests are not ACKs: nothing remembered
  memory.sent(ack, 5683, '10.0.0.1');
  assert.deepEqual(memory.duplicateAck(datagram(TYPES.CON, 4242), 5683, '10.0.0.1'), ack);
  assert.equal(memory.duplicateAck(datagram(TYPES.CON, 1), 5683, '10.0.0.1'), undefined, 'nothing for a CON never acknowledged');
  assert.equal(memory.duplicateAck(datagram(TYPES.CON, 4242), 5684, '10.0.0.1'), undefined, 'another port');
  assert.equal(memory.duplicateAck(datagram(TYPES.CON, 4242), 5683, '10.0.0.2'), undefined, 'another host');
  assert.equal(memory.duplicateAck(datagram(TYPES.NON, 4242), 5683, '10.0.0.1'), undefined, 'only confirmable messages are acknowledged');
  assert.equal(memory.duplicateAck(Buffer.from([0x40]), 5683, '10.0.0.1'), undefined, 'a runt is no message');
  now += coap.parameters.exchangeLifetime * 1000 + 1;
  assert.equal(memory.duplicateAck(datagram(TYPES.CON, 4242), 5683, '10.0.0.1'), undefined, 'after EXCHANGE_LIFETIME the ID is a new message');
  for (let i = 0; i <= REMEMBERED_ACKS; i++) memory.sent(datagram(TYPES.ACK, i), 5683, '10.0.0.1');
  assert.equal(memory.duplicateAck(datagram(TYPES.CON, 0), 5683, '10.0.0.1'), undefined, 'the oldest forgotten beyond the bound');
  assert.ok(memory.duplicateAck(datagram(TYPES.CON, REMEMBERED_ACKS), 5683, '10.0.0.1'), 'the newest kept');
});

test('the emulator answers the ThingsBoard way when asked (npm start does): empty ACK, then a CON response; the transport works through it', async (t) => {
  const dgram = require('node:dgram');
  const { DeviceStore } = require('../../emulator/store');
  const { startCoapEmulator } = require('../../emulator/coap');
  const { encode, decode } = require('./tb-coap-peer');
  const store = new DeviceStore({ devices: [{ name: 'pump', token: TOKEN }] });
  const emu = await startCoapEmulator({ store, separateResponses: true });
  t.after(() => emu.close());
  t.after(() => store.closeDownlink());

  // On the wire, with a raw socket: the empty ACK first, then the 2.01 as a CON of its own.
  const sock = dgram.createSocket('udp4');
  t.after(() => new Promise((r) => sock.close(r)));
  const seen = [];
  sock.on('message', (buf) => seen.push(decode(buf)));
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const token = Buffer.from('a1b2c3d4', 'hex');
  const path = ['api', 'v1', TOKEN, 'telemetry'].map((p) => [11, Buffer.from(p)]);
  sock.send(encode({ type: TYPES.CON, code: '0.02', messageId: 777, token, options: path, payload: Buffer.from('{"t":1}') }), emu.port, '127.0.0.1');
  await waitFor(() => seen.length >= 2, 'the empty ACK and the separate response', 3000);
  assert.deepEqual([seen[0].type, seen[0].code, seen[0].messageId], [TYPES.ACK, '0.00', 777], 'an empty ACK of the request first');
  assert.deepEqual([seen[1].type, seen[1].code], [TYPES.CON, '2.01'], 'then the result as a confirmable response');
  assert.ok(seen[1].token.equals(token), 'matched to the request by its token');
  assert.notEqual(seen[1].messageId, 777);
  sock.send(encode({ type: TYPES.ACK, code: '0.00', messageId: seen[1].messageId }), emu.port, '127.0.0.1');

  // The transport through every kind of exchange.
  const tr = new CoapTransport(settings(emu.port), { downlink: { answerTimeoutMs: 3000 } });
  const events = [];
  tr.on('attributes', (u) => events.push(u));
  t.after(() => tr.close());
  await tr.connect();
  await tr.send(telemetry({ t: 2 }));
  await tr.send(attributes({ fw: '1.0' }));
  assert.equal(store.devices.get('pump').messages, 3);
  await tr.subscribe('attributes');
  store.setShared('pump', { speed: 5 });
  await waitFor(() => events.length === 1, 'a shared-attribute notification', 3000);
  assert.deepEqual(await tr.requestAttributes({ clientKeys: ['fw'], sharedKeys: ['speed'] }, 3000), { client: { fw: '1.0' }, shared: { speed: 5 } });
  assert.equal(typeof (await tr.callRpc('getCurrentTime', {}, 3000)).time, 'number');
});
