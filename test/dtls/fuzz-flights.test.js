'use strict';
// Fuzz of every message the server sends, with flights that are valid for each client's own
// randoms: per session a fresh hostile server (test/support/dtls-hostile-server.js, holding the
// keys) answers our DtlsSession in-process, and one thing of its output is mutated — the body of
// ServerHello, Certificate, ServerKeyExchange, CertificateRequest or ServerHelloDone (the
// transcript follows, so a mutation that still parses reaches the later checks), the record and
// fragment headers of flight 4, the ChangeCipherSpec, the Finished (correctly encrypted),
// sealed records of flight 6, extra epoch-1 records, or records after the handshake.
// Half the sessions carry a client certificate (EC P-256 or RSA), so the CertificateRequest's
// mutations reach the answer we build (handshake/client-auth.ts), and flight 5 holds our chain
// and CertificateVerify: the hostile server checks that signature, and every session that
// connects with a certificate after an unmutated CertificateRequest must have had it verified.
// Every session must end in a specific DtlsError or a working session: never a throw, never a
// PROTOCOL "internal error" (which would mean an exception we did not anticipate, e.g. a read
// past the end of a message).
//
// DTLS_FUZZ_SESSIONS sets the number of sessions (default 10000: 10 s on an idle core, about 17 s
// on busy ones); DTLS_FUZZ_SEED the seed.
const test = require('node:test');
const assert = require('node:assert/strict');
const { DtlsSession, DtlsError } = require('../../nodes/lib/dtls');
const { clientCredentials } = require('../../nodes/lib/dtls/handshake/client-auth');
const { createLeaf } = require('../support/pki');
const { parseDatagram, encodeRecord } = require('../../nodes/lib/dtls/protocol/record');
const { HostileDtlsEngine, makeHostileServerPki, HT } = require('../support/dtls-hostile-server');
const { seededRandom } = require('../support/lossy-relay');

const SESSIONS = Number(process.env.DTLS_FUZZ_SESSIONS || 10000);
const SEED = Number(process.env.DTLS_FUZZ_SEED || 2025);

const TARGETS = [
  'ServerHello', 'Certificate', 'ServerKeyExchange', 'CertificateRequest', 'ServerHelloDone',
  'flight 4 messages (drop / swap / duplicate)', 'flight 4 record and fragment headers',
  'ChangeCipherSpec', 'Finished (encrypted)', 'flight 6 sealed records', 'extra epoch-1 records in flight 6',
  'records after the handshake',
];
const MESSAGE_TYPES = [HT.server_hello, HT.certificate, HT.server_key_exchange, HT.certificate_request, HT.server_hello_done];

/** One mutation of `buf` (a message body or record): bits, bytes, lengths, truncation, extension. */
function mutateBytes(buf, rnd) {
  const pick = (n) => Math.floor(rnd() * n);
  const d = Buffer.from(buf);
  if (d.length === 0) return Buffer.from(Array.from({ length: 1 + pick(8) }, () => pick(256)));
  switch (pick(7)) {
    case 0: { const n = 1 + pick(3); for (let i = 0; i < n; i++) d[pick(d.length)] ^= 1 << pick(8); return d; }
    case 1: d[pick(d.length)] = [0, 1, 0x7f, 0x80, 0xff][pick(5)]; return d;
    case 2: return d.subarray(0, pick(d.length));
    case 3: return Buffer.concat([d, Buffer.from(Array.from({ length: 1 + pick(16) }, () => pick(256)))]);
    case 4: { // a plausible length field (u8 / u16 / u24) made a little too long, too short, zero or huge
      const width = 1 + pick(3);
      if (d.length < width) return d;
      const at = pick(d.length - width + 1);
      const old = d.readUIntBE(at, width);
      const max = 2 ** (8 * width) - 1;
      d.writeUIntBE([0, max, Math.min(max, old + 1), Math.max(0, old - 1), pick(max + 1)][pick(5)], at, width);
      return d;
    }
    case 5: return d.subarray(pick(d.length)); // a suffix
    default: { const at = pick(d.length); return Buffer.concat([d.subarray(0, at), d.subarray(at + 1 + pick(4))]); } // bytes cut out
  }
}

/** Mutates one record of a datagram: header fields, body bytes or its fragment header. */
function mutateDatagram(datagram, rnd) {
  const pick = (n) => Math.floor(rnd() * n);
  const records = parseDatagram(datagram);
  if (!records.length || rnd() < 0.1) return mutateBytes(datagram, rnd);
  const i = pick(records.length);
  const r = records[i];
  let changed;
  switch (pick(5)) {
    case 0: changed = { ...r, type: [20, 21, 22, 23, 24, 0][pick(6)] }; break;
    case 1: changed = { ...r, epoch: pick(3) }; break;
    case 2: changed = { ...r, sequence: [0, r.sequence, r.sequence + 1, 2 ** 48 - 1, pick(2 ** 20)][pick(5)] }; break;
    case 3: { // fragment header: type, length, seq, offset, fragment length
      const body = Buffer.from(r.body);
      if (body.length >= 12) { const [at, w] = [[0, 1], [1, 3], [4, 2], [6, 3], [9, 3]][pick(5)]; body.writeUIntBE(pick(2 ** (8 * w)), at, w); }
      changed = { ...r, body };
      break;
    }
    default: changed = { ...r, body: mutateBytes(r.body, rnd) };
  }
  return Buffer.concat(records.map((x, k) => encodeRecord(k === i ? changed : x)));
}

/** The server's script for one session, mutating `target`. */
function scriptFor(target, rnd, hits) {
  const pick = (n) => Math.floor(rnd() * n);
  const hit = () => hits.set(target, (hits.get(target) ?? 0) + 1);
  const certificateRequest = rnd() < 0.8; // sometimes a flight without CertificateRequest
  if (target < 5) {
    return {
      certificateRequest: target === 3 ? true : certificateRequest,
      flight4: (items) => items.map((it) => {
        if (it.type !== MESSAGE_TYPES[target]) return it;
        hit();
        return { ...it, body: mutateBytes(it.body, rnd) };
      }),
    };
  }
  if (target === 5) {
    return {
      certificateRequest,
      flight4: (items) => {
        hit();
        const out = items.slice();
        const i = pick(out.length);
        const j = pick(out.length);
        switch (pick(4)) {
          case 0: out.splice(i, 1); break;
          case 1: [out[i], out[j]] = [out[j], out[i]]; break;
          case 2: out.splice(i, 0, { ...out[i] }); break; // the same message twice (same seq)
          default: out.splice(i, 0, { ...out[j], seq: undefined, type: out[j].type }); break; // a copy with a new seq
        }
        let seq = items[0].seq;
        for (const it of out) if (it.seq === undefined) it.seq = seq++; else seq = Math.max(seq, it.seq + 1);
        return out;
      },
    };
  }
  if (target === 6) {
    return { certificateRequest, datagrams: (stage, list) => (stage === 'flight4' ? (hit(), list.map((d) => (rnd() < 0.5 ? mutateDatagram(d, rnd) : d))) : list) };
  }
  if (target === 7) {
    return { certificateRequest, flight6: (items) => { hit(); return [{ kind: 'record', type: 20, epoch: 0, body: mutateBytes(Buffer.from([1]), rnd) }, items[1]]; } };
  }
  if (target === 8) {
    return { certificateRequest, flight6: (items) => { hit(); return [items[0], { ...items[1], body: mutateBytes(items[1].body, rnd) }]; } };
  }
  if (target === 9) {
    return { certificateRequest, datagrams: (stage, list) => (stage === 'flight6' ? (hit(), list.map((d) => mutateDatagram(d, rnd))) : list) };
  }
  if (target === 10) {
    return {
      certificateRequest,
      flight6: (items) => {
        hit();
        const extra = [];
        for (let n = 1 + pick(3); n > 0; n--) {
          const body = mutateBytes(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), rnd);
          extra.push(rnd() < 0.5
            ? { kind: 'record', type: [20, 21, 22, 23, 25][pick(5)], epoch: 1, body }
            : { kind: 'raw', bytes: encodeRecord({ type: 22, version: 0xfefd, epoch: 1, sequence: pick(50), body }) });
        }
        const out = items.slice();
        out.splice(pick(3), 0, ...extra);
        return out;
      },
    };
  }
  return { certificateRequest }; // target 11: records after the handshake, sent by the loop below
}

test(`${SESSIONS} sessions against a hostile server mutating one message of its flights each: only specific DtlsErrors or working sessions, never an internal error`, async () => {
  const pki = await makeHostileServerPki();
  const ca = pki.caPem;
  const clientLeaves = [await createLeaf({ keyType: 'ec-p256', commonName: 'fuzz-device', dnsNames: [], ips: [] }), await createLeaf({ keyType: 'rsa-2048', commonName: 'fuzz-device-rsa', dnsNames: [], ips: [] })];
  const clients = clientLeaves.map((l) => clientCredentials(l.certPem, l.keyPem));
  let verifiedClientSessions = 0;
  const rnd = seededRandom(SEED);
  const pick = (n) => Math.floor(rnd() * n);
  const outcomes = new Map();
  const hits = new Map();
  const samples = new Map();
  const unhandled = [];
  const onUnhandled = (err) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  const started = Date.now();
  let current = null; // closed in `finally` when an assertion fails, so no timer keeps the run alive
  try {
    for (let i = 0; i < SESSIONS; i++) {
      const target = i % TARGETS.length;
      const engine = new HostileDtlsEngine({ chain: pki.chain, key: pki.key, mtu: 300 + pick(900), script: scriptFor(target, rnd, hits) });
      const toServer = [];
      const withClient = rnd() < 0.5 ? clients[pick(clients.length)] : undefined;
      const session = new DtlsSession({ identity: '127.0.0.1', ca, verify: rnd() < 0.8, mtu: 1200, handshakeTimeoutMs: 60000, clientCredentials: withClient }, { send: (d) => toServer.push(d) });
      let failure = null;
      let connected = false;
      current = session;
      session.handshake().then(() => { connected = true; }, (err) => { failure = err; });
      session.on('close', (err) => { if (err && !failure) failure = err; });
      for (let steps = 0; steps < 20 && session.state !== 'closed'; steps++) {
        // OpenSSL's verdict on the chain arrives asynchronously; the handshake resumes after it.
        if (!toServer.length && session.hs.pendingTrust) { await session.hs.pendingTrust; await new Promise(setImmediate); }
        if (!toServer.length) break;
        let replies = [];
        try { replies = engine.receive(toServer.shift()); } catch { /* the server is not under test */ }
        for (const d of replies) {
          assert.doesNotThrow(() => session.handleDatagram(d));
          if (session.state === 'closed') break;
        }
      }
      if (target === 11 && session.state === 'connected') {
        hits.set(target, (hits.get(target) ?? 0) + 1);
        for (let n = 1 + pick(4); n > 0; n--) {
          const body = mutateBytes(Buffer.from([2, 40, 0, 0]).subarray(0, 1 + pick(4)), rnd);
          const type = [20, 21, 22, 23, 24][pick(5)];
          const record = rnd() < 0.7 ? engine.seal(type, 1, body) : encodeRecord({ type, version: 0xfefd, epoch: pick(3), sequence: pick(1000), body });
          assert.doesNotThrow(() => session.handleDatagram(rnd() < 0.3 ? mutateDatagram(record, rnd) : record));
          if (session.state === 'closed') break;
        }
      }
      const state = session.state;
      // Flight 5 with our certificate: an unmutated CertificateRequest and a finished handshake
      // mean the server verified our CertificateVerify.
      if (withClient && state === 'connected' && engine.clientChain?.length && target !== 3 && target !== 5 && target !== 6) {
        assert.equal(engine.clientVerified, true, `session ${i} (${TARGETS[target]}): the server could not verify our CertificateVerify`);
        verifiedClientSessions++;
      }
      if (state !== 'closed') session.close();
      await null; // let the handshake promise settle
      let outcome;
      if (failure && !(state !== 'closed' && failure.code === 'CLOSED')) {
        assert.ok(failure instanceof DtlsError, `session ${i} (${TARGETS[target]}): ${failure?.stack ?? failure}`);
        assert.doesNotMatch(failure.message, /internal error/, `session ${i} (${TARGETS[target]}): ${failure.cause?.stack ?? failure.stack}`);
        assert.ok(failure.message.length > 10);
        outcome = failure.code;
      } else {
        outcome = connected || state === 'connected' ? 'connected' : `still ${state}`;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (!samples.has(outcome)) samples.set(outcome, `${TARGETS[target]}: ${failure?.message ?? ''}`);
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    current?.close();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`# fuzz: ${SESSIONS} sessions in ${seconds} s; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  console.log(`# fuzz: mutations per target ${JSON.stringify(Object.fromEntries([...hits].map(([k, v]) => [TARGETS[k], v])))}`);
  for (const [k, v] of samples) console.log(`#   ${k}: ${v.slice(0, 160)}`);
  console.log(`# fuzz: ${verifiedClientSessions} sessions connected with a client certificate the server verified`);
  assert.deepEqual(unhandled, []);
  assert.ok(verifiedClientSessions > SESSIONS / 20, `sessions with a verified client certificate: ${verifiedClientSessions}`);
  // Every message of both flights was reached, and the checks behind them fired.
  for (let t = 0; t < TARGETS.length; t++) assert.ok((hits.get(t) ?? 0) >= SESSIONS / TARGETS.length / 3, `${TARGETS[t]} was mutated (${hits.get(t) ?? 0} times)`);
  for (const code of ['connected', 'PROTOCOL', 'BAD_SIGNATURE', 'BAD_FINISHED', 'BAD_CERTIFICATE']) {
    assert.ok(outcomes.get(code) > 0, `some sessions end as ${code}`);
  }
});
