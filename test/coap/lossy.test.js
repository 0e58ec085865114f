'use strict';
// Over a relay that drops 20% of datagrams each way, every message ends (delivered, or an error
// the device layer can act on), none hangs, and nothing is lost silently: every message whose
// send() resolved is at the server, exactly once. Against the emulator and coap-server-notls.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startLossyRelay, seededRandom } = require('../support/lossy-relay');
const { requirePeer } = require('../support/peers');
const { distinctText, assertSameText } = require('../support/bodies');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { DeviceStore } = require('../../emulator/store');
const { startCoapEmulator } = require('../../emulator/coap');
const { CoapTransport, TOKEN, fastTiming, settings, telemetry, recordTexts, assertNoToken, tokenCheckFilter } = require('./common');

fastTiming();

/**
 * Sends every message with `maxInFlight` workers, like the device layer: a 'closed' failure (the
 * transport went down) reconnects and puts the message back; anything else is its final outcome.
 */
async function sendAll(transport, messages) {
  const outcomes = new Array(messages.length);
  let next = 0;
  let reconnects = 0;
  const worker = async () => {
    while (next < messages.length) {
      const i = next++;
      for (let attempt = 0; ; attempt++) {
        try {
          await transport.send(messages[i]);
          outcomes[i] = { ok: true };
          break;
        } catch (err) {
          if (err.kind !== 'closed' || attempt > 5) {
            outcomes[i] = { ok: false, err };
            break;
          }
          reconnects++;
          await transport.connect().catch(() => {});
        }
      }
    }
  };
  await Promise.all(Array.from({ length: transport.maxInFlight }, worker));
  return { outcomes, reconnects };
}

test('20% loss each way to the emulator: all settle, every success stored once', { timeout: 60000 }, async (tc) => {
  const store = new DeviceStore({ devices: [{ name: 'dev', token: TOKEN }] });
  const emu = await startCoapEmulator({ store });
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port: emu.port }, dropToServer: 0.2, dropToClient: 0.2, random: seededRandom(2024) });
  const t = new CoapTransport(settings(relay.port));
  // Also when an assertion fails (close() is idempotent): nothing may keep the process alive.
  tc.after(async () => { await t.close(); await relay.close(); await emu.close(); });
  const texts = recordTexts(t);
  await t.connect();
  // Every 10th message goes block-wise, with a pad that differs in every block (and per message).
  const pad = (seq) => distinctText(6000, `s${seq}`);
  const messages = Array.from({ length: 40 }, (_, seq) => telemetry(seq % 10 === 9 ? { seq, pad: pad(seq) } : { seq }));
  const { outcomes } = await sendAll(t, messages);

  assert.equal(outcomes.filter(Boolean).length, messages.length, 'every message settled');
  const stored = store.devices.get('dev').telemetry.get('seq').map((e) => e.value);
  assert.equal(new Set(stored).size, stored.length, `no duplicates: ${stored}`);
  const pads = (store.devices.get('dev').telemetry.get('pad') || []).map((e) => e.value);
  for (const seq of [9, 19, 29, 39]) {
    if (!outcomes[seq].ok) continue;
    const arrived = pads.find((p) => p.startsWith(pad(seq).slice(0, 8)));
    assert.ok(arrived, `block-wise message ${seq} resolved but its pad is not at the server`);
    assertSameText(assert, arrived, pad(seq), `pad of message ${seq}`);
  }
  outcomes.forEach((o, seq) => {
    if (o.ok) assert.ok(stored.includes(seq), `message ${seq} resolved but is not at the server`);
    else {
      assert.ok(['timeout', 'closed'].includes(o.err.kind), o.err.message);
      texts.push(o.err.message);
    }
  });
  assert.ok(relay.stats.toServer.dropped > 0 && relay.stats.toClient.dropped > 0, 'the relay did lose datagrams');
  assert.ok(outcomes.filter((o) => o.ok).length >= messages.length * 0.8, 'most messages get through');
  assertNoToken(assert, texts);
});

test('20% loss each way to coap-server-notls: all settle, each success is what the server holds', { timeout: 60000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const server = await startCoapServer();
  const relay = await startLossyRelay({ target: { host: '127.0.0.1', port: server.port }, dropToServer: 0.2, dropToClient: 0.2, random: seededRandom(7) });
  try {
    // One device (token) per chain of 3 sequential messages: the server keeps each resource's
    // last body, so a resolved last message must be exactly what a GET returns. Single-datagram
    // bodies only: libcoap 4.3.1 does not deduplicate a retransmitted FINAL Block1 block (when
    // its answer was lost) and then stores that block alone — see the exact test below, which
    // shows our retransmission is the identical datagram, as RFC 7252 requires.
    const chains = Array.from({ length: 8 }, (_, d) => ({ token: `dev${d}tok`, bodies: [0, 1, 2].map((n) => ({ d, n })) }));
    const results = await Promise.all(chains.map(async (chain) => {
      const tr = new CoapTransport(settings(relay.port, { accessToken: chain.token, coap: { maxInFlight: 1 } }));
      // The connect's ping can lose all its attempts at this loss rate (0.36^5 each, eight
      // devices): the device layer then connects again, and so does the test.
      for (let attempt = 1; ; attempt++) {
        try {
          await tr.connect();
          break;
        } catch (err) {
          if (attempt === 3 || err.kind !== 'unreachable') throw err;
        }
      }
      const { outcomes } = await sendAll(tr, chain.bodies.map(telemetry));
      await tr.close();
      return outcomes;
    }));
    for (const [d, outcomes] of results.entries()) {
      assert.equal(outcomes.filter(Boolean).length, 3);
      const last = outcomes[2];
      if (last.ok) {
        const got = await coapGet(server.port, `api/v1/${chains[d].token}/telemetry`);
        assert.equal(got, JSON.stringify(chains[d].bodies[2]));
      } else {
        assert.ok(['timeout', 'closed'].includes(last.err.kind), last.err.message);
      }
    }
    assert.ok(results.flat().filter((o) => o.ok).length >= 20, 'most messages get through');
  } finally {
    await relay.close();
    await server.stop();
  }
});

test('Block1 with any one datagram lost: retransmissions are byte-identical, the body arrives whole', { timeout: 60000 }, async () => {
  const store = new DeviceStore({ devices: [{ name: 'dev', token: TOKEN }] });
  const emu = await startCoapEmulator({ store });
  const body = { blob: distinctText(3000) }; // 3 blocks of 1024, each different
  const blocks = 3;
  try {
    for (const direction of ['toServer', 'toClient']) {
      for (let k = 0; k < blocks; k++) {
        let seen = 0;
        const sent = [];
        const tokenCheck = tokenCheckFilter();
        const relay = await startLossyRelay({
          target: { host: '127.0.0.1', port: emu.port },
          transform: (dir, datagram) => {
            // The connect ping (an empty message) and its RST are not part of the upload, nor is
            // the token check at connect and its answer.
            if (datagram.length === 4 && datagram[1] === 0) return datagram;
            if (tokenCheck(dir, datagram)) return datagram;
            if (dir === 'toServer') sent.push(Buffer.from(datagram));
            return dir === direction && seen++ === k ? null : datagram;
          },
        });
        const t = new CoapTransport(settings(relay.port));
        try {
          await t.connect();
          await t.send(telemetry(body));
        } finally {
          await t.close();
          await relay.close();
        }
        assertSameText(assert, store.latest('dev').blob.value, body.blob, `${direction} #${k} lost`);
        // blocks + 1 retransmission, and that retransmission repeats an earlier datagram exactly.
        assert.equal(sent.length, blocks + 1, `${direction} #${k}`);
        const repeated = sent.filter((d, i) => sent.findIndex((e) => e.equals(d)) !== i);
        assert.equal(repeated.length, 1, `${direction} #${k}: one identical retransmission`);
        store.devices.get('dev').telemetry.clear();
      }
    }
  } finally {
    await emu.close();
  }
});
