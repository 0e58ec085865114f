'use strict';
// connectWith() (src/transports/coap/transport.ts): a confirmable message waiting at connect
// goes out as soon as the endpoint is up, in place of the token check's own request, and its
// answer is the check. Against the ThingsBoard-like peer (tb-coap-peer.js), which tells the token
// check apart from other requests: a known token → the message is delivered and no token check
// was sent; a wrong one → the message comes back NOT_SENT before connect() rejects with the very
// error a connect() without a message gives; any other answer → connected, the message fails
// with its own answer; non-confirmable mode and a connection without a message keep the check.
const test = require('node:test');
const assert = require('node:assert/strict');
const { CoapTransport, fastTiming, settings, telemetry, recordTexts, assertNoToken } = require('./common');
const { startTbPeer } = require('./tb-coap-peer');

fastTiming(1);
const GOOD = 'FirstMsgTok3nA1';
const texts = [];
const opened = [];
test.after(() => Promise.all(opened.map((t) => t.close())));
test.after(() => assertNoToken(assert, texts));

function transport(port, overrides) {
  const t = new CoapTransport(settings(port, { accessToken: GOOD, ...overrides }));
  opened.push(t);
  recordTexts(t, texts);
  return t;
}

/** connectWith() with one message; the log says in which order things ended. */
function connectWith(t, message) {
  const log = [];
  let taken = 0;
  const sent = new Promise((resolve) => {
    t.connectWith(() => {
      taken++;
      return { message, settle: (err) => { log.push(err ? `sent: ${err.code}` : 'sent'); resolve(err); } };
    }).then(() => log.push('connected'), (err) => { log.push(`connect: ${err.code}`); texts.push(err.message); });
  });
  return { log, sent, taken: () => taken };
}

const posts = (peer) => peer.requests((m) => m.code === '0.02');

test('a known token: the waiting message is the token check (no check of its own) and is delivered', async (t) => {
  const peer = await startTbPeer({ token: GOOD });
  t.after(() => peer.close());
  const tr = transport(peer.port);
  const run = connectWith(tr, telemetry({ first: 1 }));
  assert.equal(await run.sent, undefined);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(run.log.sort(), ['connected', 'sent']);
  assert.equal(run.taken(), 1);
  assert.equal(peer.tokenChecks().length, 0, 'a token check was sent although a message was waiting');
  assert.equal(posts(peer).length, 1);
  assert.deepEqual(JSON.parse(posts(peer)[0].payload), { first: 1 });
  // The session is open for the next message as after connect().
  await tr.send(telemetry({ second: 2 }));
  assert.equal(posts(peer).length, 2);

  // Nothing waiting (take() gives nothing, as for a listen-only device): the token check is made.
  const quiet = transport(peer.port);
  await quiet.connectWith(() => undefined);
  assert.equal(peer.tokenChecks().length, 1);
});

test('a wrong token: the message comes back NOT_SENT, then connect fails exactly as without a message', async (t) => {
  const peer = await startTbPeer({ token: GOOD });
  t.after(() => peer.close());
  const wrong = { accessToken: 'WrongFirstTok3nZ9' };
  const plain = await transport(peer.port, wrong).connect().then(() => null, (err) => err);
  assert.equal(plain?.code, 'COAP_4.01');
  const run = connectWith(transport(peer.port, wrong), telemetry({ first: 1 }));
  const err = await run.sent;
  assert.equal(err.code, 'NOT_SENT');
  assert.equal(err.kind, 'closed');
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(run.log, ['sent: NOT_SENT', 'connect: COAP_4.01'], 'the message must be back before connect() fails');
  // The same words as the token check's refusal, so the status and the failed messages read the same.
  let refused;
  const again = transport(peer.port, wrong);
  await again.connectWith(() => ({ message: telemetry({ n: 2 }), settle: () => {} })).catch((e) => { refused = e; });
  assert.equal(refused.kind, 'unauthorized');
  assert.equal(refused.message, plain.message);
  assert.equal(peer.tokenChecks().length, 1, 'only the connect() without a message sent a token check');
  assert.ok(!refused.message.includes('WrongFirstTok3nZ9'));
});

test('another answer than 4.01 proves the token: connected, the message fails with its own answer', async (t) => {
  const peer = await startTbPeer({
    token: GOOD,
    handle: (req, p) => (req.code === '0.02' && String(req.payload).includes('bad') ? (p.respond(req, '4.00'), true) : false),
  });
  t.after(() => peer.close());
  const run = connectWith(transport(peer.port), telemetry({ bad: true }));
  const err = await run.sent;
  assert.equal(err.code, 'COAP_4.00');
  assert.equal(err.kind, 'rejected');
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(run.log.includes('connected'), run.log.join(' '));
  assert.equal(peer.tokenChecks().length, 0);
});

test('non-confirmable mode: nothing is taken, the token check is made as before', async (t) => {
  const peer = await startTbPeer({ token: GOOD });
  t.after(() => peer.close());
  const run = connectWith(transport(peer.port, { coap: { confirmable: false } }), telemetry({ non: 1 }));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(run.taken(), 0);
  assert.deepEqual(run.log, ['connected']);
  assert.equal(peer.tokenChecks().length, 1);
});

test('a waiting message that cannot be sent decides nothing: the token check is made as without it', async (t) => {
  const peer = await startTbPeer({ token: GOOD });
  t.after(() => peer.close());
  const { createUdpSocket } = require('../../nodes/lib/transports/coap/datagram');
  // A socket that fails every POST datagram (as a send error would) and carries the rest.
  const createSocket = async (p) => {
    const s = await createUdpSocket(p);
    const send = s.send.bind(s);
    s.send = (buf, offset, length, port, address, cb) => {
      if (buf[offset + 1] === 0x02) return process.nextTick(() => cb?.(new Error('the test refuses to send a POST'), 0));
      return send(buf, offset, length, port, address, cb);
    };
    return s;
  };
  const tr = new CoapTransport(settings(peer.port, { accessToken: 'UnsentWrongTok3n' }), { createSocket });
  opened.push(tr);
  recordTexts(tr, texts);
  let settled;
  const refused = await tr.connectWith(() => ({ message: telemetry({ never: 1 }), settle: (err) => { settled = err; } })).then(() => null, (err) => err);
  assert.equal(settled?.code, 'SEND_FAILED', 'the message ends with its own send failure');
  assert.equal(refused?.code, 'COAP_4.01', 'the token check was not made after the message could not be sent');
  assert.equal(peer.tokenChecks().length, 1);
});
