'use strict';
// Every datagram fits what ThingsBoard reads: CoAPS datagrams ≤ 1130 bytes less a small margin
// (Scandium with max_fragment_length 1024 drops longer ones without an alert), whatever the
// token's length; plain CoAP payloads ≤ 1024 bytes (MAX_MESSAGE_SIZE). A UDP relay between the
// transport and a real server (libcoap's coap-server-openssl, and the emulator's DTLS front)
// measures every datagram; the server then returns what it got (a GET over plain CoAP / the store).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { requirePeer, havePeer } = require('../support/peers');
const { startCoapServer, coapGet } = require('../support/libcoap');
const { startLossyRelay } = require('../support/lossy-relay');
const { createCA, createLeaf, writePki } = require('../support/pki');
const { decodeCoap } = require('../support/dtls-peers');
const { CoapTransport, fastTiming, settings } = require('./common');
const { decode } = require('./tb-coap-peer');

const root = path.join(__dirname, '..', '..');
const { planBlocks, fixedBytes, COAPS_MAX_DATAGRAM, COAPS_DATAGRAM_MARGIN, COAPS_DATAGRAM_BUDGET, MAX_MESSAGE_PAYLOAD } = require(path.join(root, 'nodes', 'lib', 'transports', 'coap', 'blocks'));

fastTiming(1); // nothing here waits for a CoAP timeout: a window a CPU pause cannot close, at no cost
const TOKENS = [20, 32, 64].map((n) => `T${n}`.padEnd(n, 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)).slice(0, n));
const MAX_PAYLOAD = 65536;

/** n bytes of letters that differ from block to block (and within each): a misplaced block shows. */
function bodyOf(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 97 + ((i * 7 + (i >> 4) * 13 + (i >> 9) * 5 + seed) % 26);
  return b;
}

/** Sizes around every boundary that matters: one message, block sizes, Block1 value lengths. */
function sizesFor(token, limit) {
  const segments = ['api', 'v1', token, 'telemetry'].map((s) => Buffer.from(s));
  // The largest body that still goes as one message, found with the planner itself.
  let single = 1;
  while (single < MAX_MESSAGE_PAYLOAD && planBlocks(single + 1, segments, limit) === undefined) single++;
  const sizes = new Set([1, 2, single - 1, single, single + 1, 1024, 1025, 8192 + 1, 16 * 1024, 16 * 1024 + 1, 40000, MAX_PAYLOAD]);
  return [...sizes].filter((n) => n >= 1 && n <= MAX_PAYLOAD).sort((a, b) => a - b);
}

const dtlsLimit = (tag = 16) => ({ maxDatagramBytes: COAPS_MAX_DATAGRAM, recordOverheadBytes: 13 + 8 + tag });
/** What the transport plans with: Scandium's limit less the margin. */
const budget = (tag = 16) => ({ maxDatagramBytes: COAPS_DATAGRAM_BUDGET, recordOverheadBytes: 13 + 8 + tag });

test('the planner: largest block that fits, one message only when it fits, plain CoAP as before', () => {
  const seg = (token, kind = 'telemetry') => ['api', 'v1', token, kind].map((s) => Buffer.from(s));
  // Plain CoAP: ≤ 1024 in one message, above that 1024-byte blocks (SZX 6), whatever the token.
  for (const token of TOKENS) {
    assert.equal(planBlocks(1024, seg(token)), undefined);
    assert.equal(planBlocks(1025, seg(token)), 6);
    assert.equal(planBlocks(MAX_PAYLOAD, seg(token)), 6);
  }
  // CoAPS (GCM: 37 bytes of record overhead), planned against Scandium's 1130 bytes less a margin
  // of COAPS_DATAGRAM_MARGIN (1122). A 1024-byte block with a 1-byte Block1 value is 1098 + token
  // length; the first block adds Size1 (4 bytes below 64 KiB, 5 from 64 KiB). A 20-char token
  // (ThingsBoard's default) keeps 1024-byte blocks up to 64 KiB - 1 (first block 1122 exactly,
  // later ones 1118/1119); 32 and 64 go to 512 (a 32-char token's 1024-byte block was 1130 exactly).
  assert.equal(COAPS_DATAGRAM_BUDGET, COAPS_MAX_DATAGRAM - COAPS_DATAGRAM_MARGIN);
  assert.ok(COAPS_DATAGRAM_MARGIN >= 4 && COAPS_DATAGRAM_MARGIN <= 16, 'a small margin');
  const [t20, t32, t64] = TOKENS;
  assert.equal(planBlocks(2048, seg(t20), budget()), 6);
  assert.equal(planBlocks(16 * 1024, seg(t20), budget()), 6);
  assert.equal(planBlocks(16 * 1024 + 1, seg(t20), budget()), 6); // later blocks: 2-byte value, 1119
  assert.equal(planBlocks(65535, seg(t20), budget()), 6); // first block: 1118 + 4 = 1122
  assert.equal(planBlocks(65536, seg(t20), budget()), 5); // Size1 takes 3 bytes: 1123
  assert.equal(planBlocks(16 * 1024, seg(t32), budget()), 5);
  assert.equal(planBlocks(2048, seg(t64), budget()), 5);
  assert.equal(planBlocks(MAX_PAYLOAD, seg(t64), budget()), 5);
  // CCM_8 has an 8-byte tag: 8 bytes more room.
  assert.equal(planBlocks(16 * 1024 + 1, seg('y'.repeat(24)), budget(8)), 6);
  assert.equal(planBlocks(16 * 1024 + 1, seg('y'.repeat(24)), budget()), 5);
  // One message goes block-wise before it would not fit: 1024 bytes with a 64-char token.
  assert.equal(planBlocks(1024, seg(t64), budget()), 5);
  const fixed64 = fixedBytes(seg(t64)) + 37;
  assert.equal(planBlocks(COAPS_DATAGRAM_BUDGET - fixed64 - 1, seg(t64), budget()), undefined);
  assert.equal(planBlocks(COAPS_DATAGRAM_BUDGET - fixed64, seg(t64), budget()), 5);
  // A token so long that nothing fits is a clear refusal, not a silent loss.
  assert.throws(() => planBlocks(10, seg('x'.repeat(1100)), budget()), (err) => err.kind === 'rejected' && /too long/.test(err.message));
});

test('the planner remembers each Uri-Path array\'s header size: arrays with different tokens, planned in turns and again, each keep their own one-message limit', () => {
  const seg = (token) => ['api', 'v1', token, 'telemetry'].map((s) => Buffer.from(s));
  const arrays = [seg('m'.repeat(40)), seg('n'.repeat(80)), seg('l'.repeat(200))];
  const limit = budget();
  // The largest one-message body per array, from the uncached header size.
  const largest = arrays.map((a) => COAPS_DATAGRAM_BUDGET - 37 - fixedBytes(a) - 1);
  assert.deepEqual(largest.map((n) => n > 800 && n < 1024), [true, true, true], 'three different limits under the 1024-byte payload cap');
  for (let round = 0; round < 3; round++) {
    arrays.forEach((a, i) => {
      assert.equal(planBlocks(largest[i], a, limit), undefined, `array ${i}, round ${round}: ${largest[i]} bytes in one message`);
      assert.notEqual(planBlocks(largest[i] + 1, a, limit), undefined, `array ${i}, round ${round}: ${largest[i] + 1} bytes go block-wise`);
      assert.equal(planBlocks(1024, a), undefined, 'plain CoAP: 1024 bytes in one message');
      assert.equal(planBlocks(1025, a), 6, 'plain CoAP: 1025 bytes block-wise');
    });
  }
});

test('plain CoAP to coap-server-notls: the size formula is exact, every payload ≤ 1024, bodies arrive whole', { timeout: 120000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-notls')) return;
  const server = await startCoapServer();
  const seen = [];
  const relay = await startLossyRelay({
    target: { host: '127.0.0.1', port: server.port },
    transform: (dir, d) => { if (dir === 'toServer') seen.push(d); return d; },
  });
  try {
    for (const token of TOKENS) {
      const tr = new CoapTransport(settings(relay.port, { accessToken: token }));
      await tr.connect();
      const segments = ['api', 'v1', token, 'telemetry'].map((s) => Buffer.from(s));
      for (const n of [1, 500, 1024, 1025, 5000, MAX_PAYLOAD]) {
        seen.length = 0;
        const body = bodyOf(n, n + token.length);
        await tr.send({ kind: 'telemetry', body, qos: 1 });
        if (n <= 1024) {
          assert.equal(seen.length, 1);
          assert.equal(seen[0].length, fixedBytes(segments) + 1 + n, `the planner's size of a ${n}-byte message`);
        }
        for (const d of seen) assert.ok(coapPayloadLength(d) <= MAX_MESSAGE_PAYLOAD, `a payload of ${coapPayloadLength(d)} bytes`);
        if (n > 1024) {
          // Size1 (RFC 7959 §4) = the whole body, on the first block only (and its retransmissions).
          const messages = seen.map((d) => decode(d));
          const size1 = (m) => m.options.filter(([number]) => number === 60).map(([, v]) => v.readUIntBE(0, v.length));
          const first = messages[0].messageId;
          assert.deepEqual(size1(messages[0]), [n], `Size1 on the first block of ${n} bytes`);
          assert.deepEqual(messages.filter((m) => m.messageId !== first).flatMap(size1), [], 'no Size1 on later blocks');
        }
        assert.equal(await coapGet(server.port, `api/v1/${token}/telemetry`), body.toString());
      }
      await tr.close();
    }
  } finally {
    await relay.close();
    await server.stop();
  }
});

let dir;
let files;
let pki;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-size-'));
  const rootCa = await createCA({ name: 'Size Test Root' });
  const leaf = await createLeaf({ issuer: rootCa, commonName: 'localhost' });
  pki = { rootCa };
  files = writePki(dir, { 'ca.pem': rootCa.certPem, 'leaf.pem': leaf.certPem, 'leaf.key': leaf.keyPem });
});
after(() => { if (dir) fs.rmSync(dir, { recursive: true, force: true }); });

test('CoAPS to coap-server-openssl: tokens of 20, 32, 64 chars, bodies 1 B … 64 KiB: every datagram ≤ 1130 less the margin, each body arrives whole', { timeout: 300000 }, async (t) => {
  if (!requirePeer(t, 'coap-server-openssl')) return;
  const server = await startCoapServer({ command: 'coap-server-openssl', extraArgs: ['-c', files['leaf.pem'], '-j', files['leaf.key'], '-n'] });
  const sizes = [];
  const relay = await startLossyRelay({
    target: { host: '127.0.0.1', port: server.port + 1 },
    transform: (dir, d) => { if (dir === 'toServer') sizes.push(d.length); return d; },
  });
  try {
    for (const token of TOKENS) {
      const tr = new CoapTransport(settings(relay.port, { transport: 'coaps', accessToken: token, caCert: pki.rootCa.certPem }));
      await tr.connect(); // the handshake's datagrams are measured too
      for (const n of sizesFor(token, budget())) {
        const body = bodyOf(n, n + token.length);
        await tr.send({ kind: 'telemetry', body, qos: 1 });
        assert.equal(await coapGet(server.port, `api/v1/${token}/telemetry`), body.toString(), `token ${token.length}, body ${n}`);
      }
      const over = sizes.filter((s) => s > COAPS_DATAGRAM_BUDGET);
      assert.deepEqual(over, [], `token of ${token.length}: datagrams larger than ${COAPS_DATAGRAM_BUDGET} bytes (${COAPS_MAX_DATAGRAM} less the margin)`);
      // Not needlessly small: the blocks use the room there is (a 512-byte block is > 565 bytes on the wire).
      assert.ok(Math.max(...sizes) > COAPS_MAX_DATAGRAM / 2, `largest datagram ${Math.max(...sizes)}`);
      sizes.length = 0;
      await tr.close();
    }
  } finally {
    await relay.close();
    await server.stop();
  }
});

test('CoAPS to the emulator (OpenSSL DTLS in front of the CoAP emulator): every datagram ≤ 1130 less the margin, JSON bodies stored whole', { timeout: 300000 }, async (t) => {
  if (!requirePeer(t, 'socat')) return;
  const { startEmulator } = require('../../emulator/index');
  const emuDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-size-emu-'));
  const emu = await startEmulator({ dataDir: emuDir, ports: { mqtt: false, mqtts: false, coap: 0, coaps: 0, web: false } });
  const sizes = [];
  const relay = await startLossyRelay({
    target: { host: '127.0.0.1', port: emu.ports.coaps },
    transform: (dir, d) => { if (dir === 'toServer') sizes.push(d.length); return d; },
  });
  try {
    assert.ok(emu.ports.coaps > 0, emu.notes.join('; '));
    for (const length of [20, 32, 64]) {
      const token = `emu${length}`.padEnd(length, 'Q');
      emu.store.addDevice(`size-${length}`, token);
      const tr = new CoapTransport(settings(relay.port, { transport: 'coaps', accessToken: token, caCert: fs.readFileSync(emu.caFile, 'utf8') }));
      await tr.connect();
      for (const n of [8, 1000, 1100, 17000, MAX_PAYLOAD]) {
        const text = bodyOf(n - 8, n).toString();
        await tr.send({ kind: 'telemetry', body: Buffer.from(JSON.stringify({ d: text })), qos: 1 });
        assert.equal(emu.store.latest(`size-${length}`).d.value, text, `token ${length}, body ${n}`);
      }
      assert.deepEqual(sizes.filter((s) => s > COAPS_DATAGRAM_BUDGET), [], `token of ${length}`);
      sizes.length = 0;
      await tr.close();
    }
  } finally {
    await relay.close();
    await emu.close();
    fs.rmSync(emuDir, { recursive: true, force: true });
  }
});

test('CoAPS with Connection ID (Bouncy Castle in front of the CoAP emulator): the CID\'s 9 bytes are budgeted (a 20-char token\'s 1024-byte block would be 1127 bytes), every datagram ≤ 1130 less the margin, bodies stored whole', { timeout: 300000 }, async (t) => {
  const { startCidServer, requireBcPeer } = require('../support/bc-dtls-peer');
  if (!requireBcPeer(t)) return;
  const { DeviceStore } = require('../../emulator/store');
  const { startCoapEmulator } = require('../../emulator/coap');
  const { ensureCerts } = require('../../emulator/certs');
  const { freeUdpPort } = require('../support/ports');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coaps-size-cid-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = await ensureCerts(path.join(dir, 'pki'));
  const store = new DeviceStore({ devices: [] });
  t.after(() => store.closeDownlink());
  const coap = await startCoapEmulator({ store });
  t.after(() => coap.close());
  const port = await freeUdpPort();
  const server = await startCidServer({ port, keyPem: certs.keyPem, certPems: [certs.certPem], forwardPort: coap.port });
  t.after(() => server.stop());
  const sizes = [];
  let cidRecords = 0;
  const relay = await startLossyRelay({
    target: { host: '127.0.0.1', port },
    transform: (dir, d) => { if (dir === 'toServer') { sizes.push(d.length); if (d[0] === 25) cidRecords++; } return d; },
  });
  t.after(() => relay.close());
  for (const length of [20, 32]) {
    const token = `cid${length}`.padEnd(length, 'Q');
    store.addDevice(`size-${length}`, token);
    const tr = new CoapTransport(settings(relay.port, { transport: 'coaps', accessToken: token, caCert: certs.caPem }));
    await tr.connect();
    for (const n of [1000, 1100, 17000]) {
      const text = bodyOf(n - 8, n).toString();
      await tr.send({ kind: 'telemetry', body: Buffer.from(JSON.stringify({ d: text })), qos: 1 });
      assert.equal(store.latest(`size-${length}`).d.value, text, `token ${length}, body ${n}`);
    }
    assert.deepEqual(sizes.filter((s) => s > COAPS_DATAGRAM_BUDGET), [], `token of ${length}`);
    sizes.length = 0;
    await tr.close();
  }
  assert.ok(cidRecords > 10, `the records carried the CID (${cidRecords}): ${server.output()}`);
});

/** The payload length of a plaintext CoAP message (after the 0xFF marker; 0 when none). */
function coapPayloadLength(buf) {
  return decodeCoap(buf).payload.length;
}

// Loud when a peer is missing locally (CI fails in requirePeer).
if (!havePeer('coap-server-openssl')) console.error('!!! coap-server-openssl missing: the CoAPS size test is skipped !!!');
