'use strict';
// A hostile peer floods handshake fragments: 1-byte fragments at distinct, non-adjacent offsets
// of messages declared 64 KB long, packed as densely as a datagram allows (about 5,000 per
// 64 KB datagram). Reassembly must stay cheap per fragment, so no datagram holds the event loop
// for more than a few milliseconds (it was 10.7 s for one such datagram when every fragment
// re-sorted all ranges received so far). Measured with perf_hooks: the time spent in each
// handleDatagram call, and the event loop's longest delay while the flood runs.
// Wall-clock budgets: a test file running beside this one would count against them.
// test/run.js: alone
const test = require('node:test');
const assert = require('node:assert/strict');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const { DtlsSession } = require('../../nodes/lib/dtls');
const { encodeRecord, MAX_RECORD_BODY } = require('../../nodes/lib/dtls/protocol/record');
const { encodeFragmentHeader, MAX_HANDSHAKE_MESSAGE } = require('../../nodes/lib/dtls/protocol/handshake');
const { HandshakeReassembler, MAX_RANGES } = require('../../nodes/lib/dtls/handshake/reassembler');
const { MAX_FRAGMENTS_PER_DATAGRAM, MAX_RECORDS_PER_DATAGRAM } = require('../../nodes/lib/dtls/session');

const MAX_UDP_PAYLOAD = 65507;
const DECLARED = MAX_HANDSHAKE_MESSAGE - 1;
/** Worst stall allowed per datagram; generous for 2 busy cores, three orders below the old 10.7 s. */
const BUDGET_MS = Number(process.env.DTLS_FLOOD_BUDGET_MS || 15);

/**
 * One datagram of 1-byte fragments at every other offset from `first`, spread over seqs 0..15:
 * `perRecord` fragments per record (Infinity: records as large as allowed).
 */
function floodDatagram(first, perRecord = Infinity, type = 2) {
  const records = [];
  let size = 0;
  let offset = first;
  let n = 0;
  while (size + 13 + 13 <= MAX_UDP_PAYLOAD) {
    const room = Math.min(MAX_RECORD_BODY, MAX_UDP_PAYLOAD - size - 13, perRecord * 13);
    const frags = [];
    for (let used = 0; used + 13 <= room; used += 13) {
      frags.push(encodeFragmentHeader(type, DECLARED, n % 16, offset % DECLARED, 1), Buffer.from([0x41]));
      n++;
      if (n % 16 === 0) offset += 2;
    }
    const record = encodeRecord({ type: 22, version: 0xfefd, epoch: 0, sequence: records.length, body: Buffer.concat(frags) });
    records.push(record);
    size += record.length;
  }
  return { datagram: Buffer.concat(records), fragments: n, nextOffset: offset };
}

/** One flood into a fresh session: the longest handleDatagram, the longest event-loop delay. */
async function floodOnce(flood) {
  const session = new DtlsSession({ identity: '127.0.0.1', ca: '', verify: false, mtu: 1200, handshakeTimeoutMs: 60000 }, { send() {} });
  const result = session.handshake().then(() => null, (err) => err);
  try {
    await new Promise((resolve) => setImmediate(resolve));
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    let worst = 0;
    for (const datagram of flood) {
      const start = performance.now();
      session.handleDatagram(datagram);
      worst = Math.max(worst, performance.now() - start);
      await new Promise((resolve) => setImmediate(resolve));
    }
    histogram.disable();
    return { worst, loopMaxMs: histogram.max / 1e6, state: session.state };
  } finally {
    session.close(); // also when an assertion fails: no timer keeps the run alive
    assert.equal((await result)?.code, 'CLOSED');
  }
}

// Wall-clock figures on a shared CI machine: one garbage collection or stolen time slice can
// stall a single datagram past the budget. Up to TRIALS floods, each into a fresh session, and
// one within budget passes: noise does not repeat itself TRIALS times, work that grows with the flood
// (10.7 s for one datagram before reassembly was bounded) fails every one of them. The caps
// themselves are checked without a clock by the tests below.
const TRIALS = 3;

for (const [shape, perRecord] of [['records as large as allowed', Infinity], ['one fragment per record', 1]]) {
  test(`a flood of 1-byte fragments of 64 KB messages (${shape}): no datagram holds the event loop for more than ${BUDGET_MS} ms`, async () => {
    const DATAGRAMS = 40;
    const flood = [];
    let offset = 0;
    let fragments = 0;
    for (let i = 0; i < DATAGRAMS; i++) {
      const d = floodDatagram(offset, perRecord);
      offset = d.nextOffset;
      fragments += d.fragments;
      flood.push(d.datagram);
    }
    assert.ok(fragments > 40 * 2000, `the flood is dense (${fragments} fragments)`);
    let r;
    for (let trial = 1; trial <= TRIALS; trial++) {
      r = await floodOnce(flood);
      assert.equal(r.state, 'wait_server_hello', 'consistent junk fragments neither complete nor kill the handshake');
      console.log(`# flood (${shape}), trial ${trial}: ${fragments} fragments in ${DATAGRAMS} datagrams of ${flood[0].length} bytes; longest handleDatagram ${r.worst.toFixed(2)} ms, longest event-loop delay ${r.loopMaxMs.toFixed(2)} ms`);
      if (r.worst < BUDGET_MS && r.loopMaxMs < BUDGET_MS + 10) break; // within budget: done
    }
    // Reached only with every trial over budget, or with the one that was not.
    assert.ok(r.worst < BUDGET_MS, `longest handleDatagram took ${r.worst.toFixed(2)} ms (in each of ${TRIALS} floods, the last shown)`);
    assert.ok(r.loopMaxMs < BUDGET_MS + 10, `longest event-loop delay ${r.loopMaxMs.toFixed(2)} ms (in each of ${TRIALS} floods, the last shown)`);
  });
}

test(`reassembly keeps at most ${MAX_RANGES} holes per message: fragments opening more are dropped, a contiguous message still completes`, () => {
  const r = new HandshakeReassembler();
  const body = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 13) & 0xff));
  const frag = (o, len) => ({ type: 11, length: body.length, messageSeq: 0, fragmentOffset: o, fragment: body.subarray(o, o + len) });
  for (let i = 0; i < MAX_RANGES; i++) assert.equal(r.add(frag(i * 100, 1)), 'stored');
  assert.equal(r.add(frag(3990, 1)), 'ignored', 'one disjoint range too many');
  assert.equal(r.add(frag(50, 1)), 'ignored');
  // Fragments that touch existing ranges merge them and are always accepted.
  assert.equal(r.add(frag(0, 2000)), 'stored');
  assert.equal(r.takeNext(), null);
  assert.equal(r.add(frag(2000, 2000)), 'stored');
  const m = r.takeNext();
  assert.ok(m && m.body.equals(body), 'the message is whole and correct');
});

test('reassembly merges exactly touching fragments, in order and in reverse order (how real servers fragment)', () => {
  const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff));
  for (const order of ['forward', 'reverse']) {
    const r = new HandshakeReassembler();
    const offsets = Array.from({ length: 10 }, (_, i) => i * 100);
    if (order === 'reverse') offsets.reverse();
    for (const [k, o] of offsets.entries()) {
      assert.equal(r.takeNext(), null, `${order}: incomplete after ${k} fragments`);
      assert.equal(r.add({ type: 11, length: 1000, messageSeq: 0, fragmentOffset: o, fragment: body.subarray(o, o + 100) }), 'stored');
    }
    const m = r.takeNext();
    assert.ok(m && m.body.equals(body), `${order}: whole after the last fragment`);
  }
});

test(`at most ${MAX_FRAGMENTS_PER_DATAGRAM} fragments and ${MAX_RECORDS_PER_DATAGRAM} records of a datagram are looked at: a ServerHello behind more is handled only when it comes again`, (t) => {
  const { encodeExtensions } = require('../../nodes/lib/dtls/protocol/extensions');
  const serverHelloBody = Buffer.concat([Buffer.from([0xfe, 0xfd]), Buffer.alloc(32, 7), Buffer.from([0, 0xc0, 0x2b, 0]),
    encodeExtensions([{ type: 0xff01, data: Buffer.from([0]) }])]);
  // A retransmission comes in a record with a new sequence number (RFC 6347 4.2.4).
  const serverHello = (sequence) => encodeRecord({ type: 22, version: 0xfefd, epoch: 0, sequence,
    body: Buffer.concat([encodeFragmentHeader(2, serverHelloBody.length, 0, 0, serverHelloBody.length), serverHelloBody]) });
  const JUNK = 64; // what a datagram may hold in front of the ServerHello to push it past the limits
  const junkFragments = Array.from({ length: JUNK }, (_, i) => Buffer.concat([encodeFragmentHeader(11, 5000, 3, i * 2, 1), Buffer.from([1])]));
  const cases = {
    fragments: encodeRecord({ type: 22, version: 0xfefd, epoch: 0, sequence: 1, body: Buffer.concat(junkFragments) }),
    records: Buffer.concat(Array.from({ length: JUNK }, (_, i) => encodeRecord({ type: 23, version: 0xfefd, epoch: 0, sequence: 100 + i, body: Buffer.from('x') }))),
  };
  for (const [what, junk] of Object.entries(cases)) {
    const session = new DtlsSession({ identity: '127.0.0.1', ca: '', verify: false, mtu: 1200, handshakeTimeoutMs: 60000 }, { send() {} });
    t.after(() => session.close());
    const result = session.handshake().catch(() => null);
    session.handleDatagram(Buffer.concat([junk, serverHello(998)]));
    assert.equal(session.state, 'wait_server_hello', `${what}: the ServerHello behind ${JUNK} ${what} was not looked at`);
    session.handleDatagram(serverHello(999));
    assert.equal(session.state, 'wait_server_hello_done', `${what}: the same ServerHello alone is handled`);
    session.close();
    void result;
  }
});

test('reassembly merges touching and overlapping ranges exactly (checked against a byte map)', () => {
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  for (let round = 0; round < 200; round++) {
    const length = 1 + Math.floor(rnd() * 300);
    const body = Buffer.from(Array.from({ length }, () => Math.floor(rnd() * 256)));
    const r = new HandshakeReassembler();
    const have = new Uint8Array(length);
    let complete = false;
    for (let k = 0; k < 400 && !complete; k++) {
      const o = Math.floor(rnd() * length);
      const len = Math.min(length - o, 1 + Math.floor(rnd() * 40));
      const res = r.add({ type: 11, length, messageSeq: 0, fragmentOffset: o, fragment: body.subarray(o, o + len) });
      if (res === 'stored') have.fill(1, o, o + len);
      const m = r.takeNext();
      const full = have.every((b) => b === 1);
      assert.equal(Boolean(m), full, `round ${round}: complete exactly when every byte arrived`);
      if (m) { assert.ok(m.body.equals(body)); complete = true; }
    }
  }
});
