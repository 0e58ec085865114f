'use strict';
// DTLS record layer, handshake order and reassembly bounds: the breaks reviewed for the
// handshake split (src/dtls/session.ts, src/dtls/handshake/, src/dtls/protocol/bytes.ts). Included
// at the end of scripts/mutants-list.js; same fields as there.
// Left out as equivalent on the merged tree: `if (err instanceof DtlsError) throw err;` in
// certificateStep() (client-handshake.ts) made `throw err;`: the step it wraps (serverPublicKey)
// converts its own failures, so nothing else reaches it. Guarded as a whole by
// test/dtls/fuzz-flights.test.js and trust.test.js ("never an internal error").
module.exports = [
  {
    id: "dtls-client-handshake-1",
    file: "src/dtls/handshake/client-handshake.ts",
    find: "!timingSafeEqual(m.body, this.expectedServerFinished)",
    replace: "false",
    tests: ["test/dtls/hostile-server.test.js"],
    why: "the server's Finished verify_data is not compared: the handshake transcript is not authenticated",
  },
  {
    id: "dtls-bytes-1",
    file: "src/dtls/protocol/bytes.ts",
    find: "this.pos + n > this.buf.length",
    replace: "false",
    tests: ["test/dtls/fuzz-flights.test.js"],
    why: "the byte reader reads past the end of a message: malformed input no longer ends in a clean, specific DtlsError",
  },
  {
    id: "dtls-session-1",
    file: "src/dtls/session.ts",
    find: "// After the server's ChangeCipherSpec an unprotected record can only be a repeated server",
    replace: "if (record.type === ContentType.alert && this.state === 'connected' && record.body.length === 2) { this.onAlert(record.body[0], record.body[1]); return false; } // After the server's ChangeCipherSpec an unprotected record can only be a repeated server",
    tests: ["test/dtls/hostile-server.test.js"],
    why: "an unprotected (epoch 0) alert after the server's CCS closes the connection: anyone on the path can tear it down",
  },
  {
    id: "dtls-session-2",
    file: "src/dtls/session.ts",
    find: "if (this.state === 'wait_finished') this.forgedAfterCcs++;",
    replace: "if (this.state === 'wait_finished') throw new DtlsError('BAD_FINISHED', 'forged record', { sendAlert: AlertDescription.bad_record_mac });",
    tests: ["test/dtls/hostile-server.test.js"],
    why: "one forged record after the server's CCS aborts the handshake: DTLS must silently drop records that fail authentication",
  },
  {
    id: "dtls-client-handshake-2",
    file: "src/dtls/handshake/client-handshake.ts",
    find: "if (state === 'wait_change_cipher_spec') throw unexpected(' (before the server\\'s ChangeCipherSpec)');",
    replace: "// no check before the CCS",
    tests: ["test/dtls/hostile-server.test.js"],
    why: "a handshake message between ServerHelloDone and the server's CCS is accepted instead of rejected as unexpected",
  },
  {
    id: "dtls-client-handshake-3",
    file: "src/dtls/handshake/client-handshake.ts",
    find: "if (m.epoch !== 1) throw unexpected(' (not protected by the new keys)');",
    replace: "// unprotected Finished accepted",
    tests: ["test/dtls/codec.test.js"],
    why: "an unprotected (epoch 0) Finished is accepted: Finished must come under the new keys",
  },
  {
    id: "dtls-client-handshake-4",
    file: "src/dtls/handshake/client-handshake.ts",
    find: "if (!hello.extensions.some((e) => e.type === ExtensionType.renegotiation_info)) {",
    replace: "if (false) {",
    tests: ["test/dtls/hostile-server.test.js"],
    why: "a ServerHello without renegotiation_info is accepted (RFC 5746 secure renegotiation not enforced)",
  },
  {
    id: "dtls-reassembler-1",
    file: "src/dtls/handshake/reassembler.ts",
    find: "if (starts.length >= MAX_RANGES) return false;",
    replace: "// no cap on ranges",
    tests: ["test/dtls/reassembly-flood.test.js"],
    why: "the fragment reassembler has no cap on ranges: a flood of tiny fragments costs unbounded memory and time",
  },
  {
    id: "dtls-reassembler-2",
    file: "src/dtls/handshake/reassembler.ts",
    find: "if (ends[mid] < value) lo = mid + 1; else hi = mid;",
    replace: "if (ends[mid] <= value) lo = mid + 1; else hi = mid;",
    tests: ["test/dtls/reassembly-flood.test.js"],
    why: "adjacent fragment ranges are not merged: the range list grows until the cap refuses a valid message",
  },
  {
    id: "dtls-reassembler-3",
    file: "src/dtls/handshake/reassembler.ts",
    find: "if (p && epoch < p.epoch) return 'ignored';",
    replace: "// any epoch mixes",
    tests: ["test/dtls/codec.test.js"],
    why: "a fragment from an older epoch mixes into a newer message's reassembly",
  },
  {
    id: "dtls-reassembler-4",
    file: "src/dtls/handshake/reassembler.ts",
    find: "if (!p || epoch > p.epoch) {",
    replace: "if (!p) {",
    tests: ["test/dtls/codec.test.js"],
    why: "a protected fragment does not replace what unprotected (epoch 0) records put in the same message",
  },
  {
    id: "dtls-session-3",
    file: "src/dtls/session.ts",
    find: "export const MAX_FRAGMENTS_PER_DATAGRAM = 64;",
    replace: "export const MAX_FRAGMENTS_PER_DATAGRAM = 1e9;",
    tests: ["test/dtls/reassembly-flood.test.js"],
    why: "no cap on handshake fragments per datagram: one datagram can cost unbounded work",
  },
  {
    id: "dtls-session-4",
    file: "src/dtls/session.ts",
    find: "export const MAX_RECORDS_PER_DATAGRAM = 64;",
    replace: "export const MAX_RECORDS_PER_DATAGRAM = 1e9;",
    tests: ["test/dtls/reassembly-flood.test.js"],
    why: "no cap on records per datagram: one datagram can cost unbounded work",
  },
  {
    id: "dtls-record-layer-1",
    file: "src/dtls/record-layer.ts",
    find: "if (!plaintext) return 'forged';",
    replace: "if (!plaintext) return record.body;",
    tests: ["test/dtls/hostile-server.test.js"],
    why: "a protected record that fails AEAD authentication is delivered as if it were plaintext",
  },
];
