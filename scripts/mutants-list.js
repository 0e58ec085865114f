'use strict';
// The reviewed list of deliberate breaks `npm run mutants` (scripts/mutants.js) applies, one at a
// time. Each: `id`, `file` (under src/), `find` (the exact original text: it must occur exactly
// once, or the row is STALE/AMBIGUOUS), `replace`, `tests` (the test files that cover the module,
// fastest and most specific first: the run stops at the first one that fails), and `why` (the
// promise it breaks). Keep each break small and plausible: a bug someone could write.
//
// When code moves and a row goes STALE, update its `find` to the new text of the same promise —
// never delete a row because it survives: write the test that kills it.

module.exports = [
  // ---- redaction ------------------------------------------------------------------------------
  {
    id: 'redact-noop',
    file: 'src/transports/redact.ts',
    find: 'if (!token) return text;',
    replace: 'return text;',
    tests: ['test/transports/redact.test.js', 'test/coap/redaction.test.js'],
    why: 'redact() returns the text unchanged: the token reaches errors, status and logs',
  },
  {
    id: 'redact-no-encoded',
    file: 'src/transports/redact.ts',
    find: 'if (encoded !== token) out = out.split(encoded).join(REDACTED);',
    replace: '',
    tests: ['test/transports/redact.test.js', 'test/coap/redaction.test.js'],
    why: 'the URI-encoded form of the token is not redacted',
  },

  // ---- MQTT: certificate checks, diagnosis, connect/close ----------------------------------------
  {
    id: 'mqtts-no-verify',
    file: 'src/transports/mqtt.ts',
    find: 'rejectUnauthorized: verifyServer,',
    replace: 'rejectUnauthorized: false,',
    tests: ['test/mqtt/transport.test.js'],
    why: 'MQTTS accepts a server certificate from an unknown CA',
  },
  {
    id: 'mqtts-no-hostname',
    file: 'src/transports/mqtt.ts',
    find: 'checkServerIdentity: (_hostname, cert) => (verifyServer ? tls.checkServerIdentity(checkedName, cert) : undefined),',
    replace: 'checkServerIdentity: () => undefined,',
    tests: ['test/mqtt/transport.test.js'],
    why: 'MQTTS accepts a trusted certificate for another host name',
  },
  {
    id: 'mqtts-not-tls-diagnosis',
    file: 'src/transports/mqtt-errors.ts',
    find: '      if (where.tls) {\n        return new TransportError(`${at} closed the connection during the TLS handshake without a TLS answer',
    replace: '      if (false) {\n        return new TransportError(`${at} closed the connection during the TLS handshake without a TLS answer',
    tests: ['test/mqtt/transport.test.js'],
    why: 'MQTTS to a plain-MQTT port (it closes on our ClientHello) no longer says "this port probably speaks plain MQTT"',
  },
  // Left out as equivalent: close() without rejectPending() — the 'close' event of mqtt.js's
  // client rejects the pending publishes as well.
  {
    id: 'mqtt-connect-after-close',
    file: 'src/transports/mqtt.ts',
    find: "    if (this.closing) throw new TransportError('transport closed', 'closed', 'CLOSED');\n",
    replace: '',
    tests: ['test/mqtt/transport.test.js', 'test/device/connection.test.js', 'test/nodes/leaks.test.js'],
    why: 'connect() after close() opens a new connection nobody will close',
  },
  {
    id: 'mqtt-close-no-teardown',
    file: 'src/transports/mqtt.ts',
    find: '          resolve();\n        });\n      });\n    }\n    this.teardown();',
    replace: '          resolve();\n        });\n      });\n    }',
    tests: ['test/mqtt/transport.test.js', 'test/nodes/leaks.test.js'],
    why: 'close() of a connection that never got CONNACK leaves its socket open',
  },

  // ---- device layer: queue and done semantics (src/device/outbox.ts) ----------------------------
  {
    id: 'outbox-closed-fails-instead-of-resend',
    file: 'src/device/outbox.ts',
    find: '        this.putBack(this.countResend(entries, count > 1, err));',
    replace: "        for (const entry of this.countResend(entries, count > 1, err)) entry.done(new DeviceError('not sent: connection lost', 'CLOSED'));",
    tests: ['test/device/connection.test.js', 'test/nodes/restart.test.js'],
    why: 'messages in flight when the connection drops fail instead of being sent again (at-least-once)',
  },
  {
    id: 'outbox-batch-done-skips-one',
    file: 'src/device/outbox.ts',
    find: '      if (Array.isArray(sent)) for (const entry of sent) entry.done();',
    replace: '      if (Array.isArray(sent)) for (const entry of sent.slice(1)) entry.done();',
    tests: ['test/device/coalesce.test.js', 'test/nodes/restart.test.js'],
    why: 'the first message of an array publish never ends (done() not called)',
  },
  {
    id: 'outbox-done-before-sent',
    file: 'src/device/outbox.ts',
    find: '    this.queue.push({ seq: this.seq++, message, done, resends: 0, solo: false });',
    replace: '    done();\n    this.queue.push({ seq: this.seq++, message, done: () => {}, resends: 0, solo: false });',
    tests: ['test/device/connection.test.js'],
    why: 'done() is called when the message is queued, not when ThingsBoard has it',
  },
  {
    id: 'outbox-stop-forgets-queued',
    file: 'src/device/outbox.ts',
    find: '    for (const entry of entries) entry.done(error);\n    this.host.queueChanged();',
    replace: '    this.host.queueChanged();',
    tests: ['test/device/connection.test.js', 'test/nodes/out.test.js'],
    why: 'stop/permanent failure drops queued messages without done(err)',
  },
  {
    id: 'outbox-poison-resent-forever',
    file: 'src/device/outbox.ts',
    find: '      if (entry.resends > this.maxResends) {',
    replace: '      if (false) {',
    tests: ['test/device/connection.test.js'],
    why: 'a message the server answers by closing the session is resent forever',
  },
  {
    id: 'outbox-window-plus-one',
    file: 'src/device/outbox.ts',
    find: '      if (this.inFlightSends >= limit) return;',
    replace: '      if (this.inFlightSends > limit) return;',
    tests: ['test/device/connection.test.js'],
    why: 'one more send in flight than transport.maxInFlight allows',
  },
  {
    id: 'outbox-stale-session-answer',
    file: 'src/device/outbox.ts',
    find: '    if (!host.isCurrent(session)) {',
    replace: '    if (false) {',
    tests: ['test/device/connection.test.js', 'test/nodes/out.test.js'],
    why: 'an answer from a stopped session puts its messages back in the new queue',
  },
  {
    id: 'outbox-putback-at-front',
    file: 'src/device/outbox.ts',
    find: '      while (i < this.queue.length && this.queue[i].seq < entry.seq) i++;',
    replace: '',
    tests: ['test/device/connection.test.js', 'test/device/coalesce.test.js'],
    why: 'messages put back after a drop lose their order',
  },

  // ---- device layer: connection lifecycle and backoff --------------------------------------------
  {
    id: 'backoff-jitter-wide',
    file: 'src/device/timing.ts',
    find: 'return Math.round(capMs * (0.75 + 0.25 * this.random()));',
    replace: 'return Math.round(capMs * this.random());',
    tests: ['test/device/connection.test.js'],
    why: 'reconnect jitter widened from 25 % to 0-100 %',
  },
  {
    id: 'backoff-no-doubling',
    file: 'src/device/timing.ts',
    find: 'this.timing.backoffInitialMs * 2 ** Math.min(this.attempts, 30)',
    replace: 'this.timing.backoffInitialMs',
    tests: ['test/device/connection.test.js'],
    why: 'the backoff does not grow',
  },
  {
    id: 'connection-no-reconnect-after-drop',
    file: 'src/device/connection.ts',
    find: '    // Whatever was in flight comes back through onSendFailure (\'closed\') and is put back.\n    this.scheduleRetry(session, this.backoff.next());',
    replace: '',
    tests: ['test/device/connection.test.js', 'test/nodes/restart.test.js'],
    why: 'a connection that drops is never reconnected',
  },
  {
    id: 'connection-permanent-as-transient',
    file: 'src/device/connection.ts',
    find: '    if (err.permanent) {\n      this.enterPermanent(err);',
    replace: '    if (false) {\n      this.enterPermanent(err);',
    tests: ['test/device/connection.test.js'],
    why: 'a refused token is retried fast like a network error, messages wait instead of failing',
  },
  {
    id: 'connection-stop-keeps-transport',
    file: 'src/device/connection.ts',
    find: '    const stopping = transport\n      .close()',
    replace: '    const stopping = Promise.resolve()',
    tests: ['test/device/connection.test.js', 'test/nodes/leaks.test.js'],
    why: 'stopping the connection (redeploy) does not close the transport: sockets leak',
  },

  // ---- leaks: what a redeploy must not leave behind ----------------------------------------------
  {
    id: 'leak-unref-interval-per-start',
    file: 'src/device/connection.ts',
    find: '    const transport = this.options.createTransport(this.settings);\n    this.transport = transport;',
    replace: '    setInterval(() => {}, 60_000).unref();\n    const transport = this.options.createTransport(this.settings);\n    this.transport = transport;',
    tests: ['test/nodes/leaks.test.js', 'test/coap/leaks.test.js'],
    why: "an unref'd interval is left behind by every connection start (invisible to getActiveResourcesInfo)",
  },
  {
    id: 'leak-process-listener-per-start',
    file: 'src/device/connection.ts',
    find: '    const transport = this.options.createTransport(this.settings);\n    this.transport = transport;',
    replace: "    process.on('warning', () => {});\n    const transport = this.options.createTransport(this.settings);\n    this.transport = transport;",
    tests: ['test/nodes/leaks.test.js', 'test/coap/leaks.test.js'],
    why: 'a listener on process (a shared emitter) is added by every connection start',
  },
  {
    id: 'leak-mqtt-socket-left-open',
    file: 'src/transports/mqtt.ts',
    find: '    this.rejectPending();\n    if (client && wasConnected) {',
    replace: '    this.rejectPending();\n    return;\n    if (client && wasConnected) {',
    tests: ['test/nodes/leaks.test.js'],
    why: "close() leaves the MQTT connection open (the broker's session takeover would close it for us)",
  },
  {
    id: 'leak-coap-socket-left-open',
    file: 'src/transports/coap.ts',
    find: '          socket.close(() => resolve());',
    replace: '          resolve();',
    tests: ['test/coap/leaks.test.js'],
    why: 'closing the CoAP transport leaves its UDP socket open',
  },

  // ---- DTLS: certificate checks, handshake signature, record layer (on main's tree; the
  // dtls-records rows are in scripts/mutants-list-dtls.js, see there) ---------------------------
  {
    id: 'dtls-no-host-check',
    file: 'src/dtls/crypto/certificates.ts',
    find: '  checkIdentity(chain[0], certs[0], opts.identity);\n  return path;',
    replace: '  return path;',
    tests: ['test/dtls/negative.test.js', 'test/dtls/peers.test.js', 'test/coap/coaps-node.test.js'],
    why: 'CoAPS accepts a trusted certificate issued for another host name',
  },
  {
    id: 'dtls-no-chain-check',
    file: 'src/dtls/session.ts',
    find: '    if (this.options.verify) verifyServerChain(chain, {',
    replace: '    if (false) verifyServerChain(chain, {',
    tests: ['test/dtls/negative.test.js', 'test/dtls/peers.test.js', 'test/coap/coaps.test.js'],
    why: 'CoAPS accepts a server certificate from an unknown CA (the token then goes to it)',
  },
  {
    id: 'dtls-no-ske-signature',
    file: 'src/dtls/session.ts',
    find: '    if (!verifySignature(scheme, this.serverKey as KeyObject, signed, ske.signature)) {',
    replace: '    if (false) {',
    tests: ['test/dtls/negative.test.js'],
    why: "the ServerKeyExchange signature is not checked (anyone can stand in for the certificate's owner)",
  },
  {
    id: 'dtls-no-replay-check',
    file: 'src/dtls/record-layer.ts',
    find: "    if (!state.window.check(record.sequence)) return 'replayed';",
    replace: '',
    tests: ['test/dtls/record-layer.test.js'],
    why: 'a replayed protected record is delivered again',
  },
];
