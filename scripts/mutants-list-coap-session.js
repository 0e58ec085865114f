'use strict';
// Mutant rows (format: scripts/mutants-list.js) for CoAP(S) sessions that stay alive: the session
// watch (every exchange is evidence, a probe settles silence, keepalive) and the token check at
// connect.
module.exports = [
  {
    id: 'coap-keepalive-never',
    file: 'src/transports/coap/session-watch.ts',
    find: 'if (!(keepalive > 0) || this.stopped) return;',
    replace: 'return;',
    tests: ['test/coap/session-loss.test.js', 'test/coap/nat.test.js'],
    why: 'no keepalive: a device that only listens never notices a server restart (and a NAT mapping expires)',
  },
  {
    id: 'coap-suspicion-without-probe',
    file: 'src/transports/coap/session-watch.ts',
    find: "process.nextTick(() => this.startProbe('suspicion', sends));",
    replace: "process.nextTick(() => this.options.lost({ why: 'silent', detail: 'no probe' }, 'suspicion', sends));",
    tests: ['test/coap/session-loss.test.js'],
    why: 'silence is taken as a lost session without asking: a request the server ignores makes new handshakes forever',
  },
  {
    id: 'coap-watch-blind-to-agent-sends',
    file: 'src/transports/coap/agent-socket.ts',
    find: '    this.onSent(datagram);',
    replace: '',
    tests: ['test/coap/session-loss.test.js'],
    why: "the session watch does not see the Agent's exchanges: retransmissions into a forgotten session are not evidence",
  },
  {
    id: 'coap-token-check-ignored',
    file: 'src/transports/coap/token-probe.ts',
    find: "(res.code === '4.01' ? codeError(token, res, 'the access token check at connect') : undefined)",
    replace: 'undefined',
    tests: ['test/device/coap-status.test.js'],
    why: 'a wrong CoAP token shows green "connected" until the first message is refused',
  },
  {
    id: 'coap-late-token-refusal-not-permanent',
    file: 'src/device/connection.ts',
    find: '    if (err.permanent) {\n      // A CoAP server refused the token after connect',
    replace: '    if (false as boolean) {\n      // A CoAP server refused the token after connect',
    tests: ['test/device/coap-status.test.js'],
    why: "a token refused after connect (the check's late answer) shows reconnecting instead of unauthorized",
  },
  {
    id: 'coap-no-size1',
    file: 'src/transports/coap/library-shim.ts',
    find: "  req.setOption('Size1', bodyLength);\n",
    replace: '',
    tests: ['test/coap/datagram-size.test.js'],
    why: 'a Block1 upload without Size1: Californium reserves its maximum body size (256 MiB in ThingsBoard) for it',
  },
  {
    id: 'coap-size1-on-every-block',
    file: 'src/transports/coap/library-shim.ts',
    find: "req._packet.options = (req._packet.options ?? []).filter((o) => o.name !== 'Size1');",
    replace: '',
    tests: ['test/coap/datagram-size.test.js'],
    why: 'Size1 repeated on every block: bytes the planner did not count for later blocks',
  },
  {
    id: 'coaps-no-datagram-margin',
    file: 'src/transports/coap/blocks.ts',
    find: 'export const COAPS_DATAGRAM_MARGIN = 8;',
    replace: 'export const COAPS_DATAGRAM_MARGIN = 0;',
    tests: ['test/coap/datagram-size.test.js'],
    why: "CoAPS datagrams fill Scandium's 1130-byte buffer exactly, with no margin",
  },
];
