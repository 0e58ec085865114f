// CoAP (RFC 7252) transport to ThingsBoard: POST /api/v1/$TOKEN/telemetry|attributes with
// Content-Format application/json, on the `coap` library's Agent (its message IDs, tokens,
// confirmable retransmission with ACK_TIMEOUT/ACK_RANDOM_FACTOR/MAX_RETRANSMIT from
// `coap.parameters`, Block1 segmentation). One Agent over ONE datagram socket per transport,
// shared by every message; the socket is a plain UDP socket, or — for CoAPS — a DTLS session
// from src/dtls (coap/dtls-socket.ts) implementing SocketLike (datagram.ts); `options.createSocket`
// replaces either (tests, other datagram layers).
//
// What "connected" means for connectionless CoAP (coap/liveness.ts): the server answered.
//   connect() resolves once the host name is resolved, the socket is bound and connected to the
//   server's address (so ICMP port unreachable comes back as an error), and — plain CoAP — a
//   CoAP ping was answered; for CoAPS the DTLS handshake is that proof (and a ping follows it after
//   a 'down'). While open, the transport stays "connected" as long as the server answers: any
//   answer, even an error code, proves it is there. DOWN_AFTER_TIMEOUTS confirmable messages in a
//   row without any answer, or an ICMP error → 'down' (kind 'unreachable'): the device layer shows
//   reconnecting and queues. CoAPS also goes 'down' early when the DTLS session looks forgotten
//   (coap/session-watch.ts: every exchange, and a keepalive probe when idle, is evidence):
//   in-flight messages come back as 'closed' and are sent again. connect() also asks whether
//   the token is known (coap/token-probe.ts), so a wrong one is 'unauthorized' at once; with a
//   message waiting at connect (connectWith()), that message's answer is the question.
//   In non-confirmable mode nothing is acknowledged, so "connected" is "the ping was answered".
//
// Messages (coap/uplink.ts, the send path): confirmable (CON) by default; settings.coap.confirmable=false sends NON and resolves
// once the datagram is written, then listens for a short while for an error answer (reported as
// a 'warning', or 'down' for 4.01). Bodies that do not fit one message go block-wise (Block1,
// RFC 7959), always confirmable, in blocks sized so every datagram fits ThingsBoard's limits
// (coap/blocks.ts). Every message has a deadline of MAX_TRANSMIT_WAIT (RFC 7252 §4.8.2, from the
// library's parameters) after its last new datagram: the library itself only gives up after
// EXCHANGE_LIFETIME (247 s), and never after an empty ACK of a separate response. Every text
// that leaves this file and uplink.ts goes through error()/redact(): the token is in the URI.
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { Agent } from 'coap';
import { type AttributesAnswer, type AttributesQuery, type ConnectionSettings, type DownlinkChannel, type FirstMessage, type OutboundMessage, type Transport, type TransportName, TransportError, type FailureKind } from '../transport';
import { redact } from '../../shared';
import { background } from '../../background';
import { closeQuietly, createUdpSocket, errorText, hostPort, resolvePeer, type CreateSocket, type DatagramPeer, type DatagramRemoteInfo, type SocketLike } from './datagram';
import { errorForCode, tokenError, x509Unauthorized } from './codes';
import { dtlsSocketFactory } from './dtls-socket';
import { CoapDownlink, type CoapDownlinkOptions } from './downlink';
import type { PendingExchange } from './exchange';
import { AgentSocket } from './agent-socket';
import { MAX_MESSAGE_PAYLOAD, COAPS_DEFAULT_LIMIT, type DatagramLimit } from './blocks';
import { coapPing, ackTimeoutWindowMs, type PingFailure } from './liveness';
import { transmissions } from './timing';
import { CoapUplink } from './uplink';
import { lostSession, SessionWatch } from './session-watch';
import { checkTokenAtConnect, firstAnswer } from './token-probe';

export interface CoapTransportOptions {
  /** Makes the datagram socket (CoAPS: a DTLS session). Default: a plain UDP socket. */
  createSocket?: CreateSocket;
  /** Receive side: observation renewal period, answer timeout (coap/downlink.ts). */
  downlink?: CoapDownlinkOptions;
}

/** Keepalive probe after this long idle (coap/session-watch.ts), below the 30 s some NATs keep an idle UDP mapping. */
export const DEFAULT_KEEPALIVE_SECONDS = 15;

export { DOWN_AFTER_TIMEOUTS } from './uplink';
/** Plain CoAP: bodies larger than this go block-wise, in blocks of this size (coap/blocks.ts). */
export const BLOCK_BYTES = MAX_MESSAGE_PAYLOAD;
const DEFAULT_PORTS: Record<string, number> = { coap: 5683, coaps: 5684 };

type State = 'idle' | 'connecting' | 'open' | 'closed';

export class CoapTransport extends EventEmitter implements Transport {
  readonly name: TransportName;
  readonly maxInFlight: number;
  private state: State = 'idle';
  private socket?: SocketLike;
  private agent?: Agent;
  private peer?: DatagramPeer;
  /** The send path (coap/uplink.ts): messages, their answers, silences and errors. */
  private readonly uplink: CoapUplink;
  /** Plain CoAP proves the server at every connect; CoAPS (handshake) only after a 'down'. */
  private mustPing: boolean;
  /** Evidence that the server (and the DTLS session) is alive; keepalive (coap/session-watch.ts). */
  private watch?: SessionWatch;
  private readonly probes = new Set<PendingExchange>();
  private cancelPing?: () => void;
  private connecting?: Promise<void>;
  /** connectWith()'s source of a waiting message, until the token check at connect asks it. */
  private take?: () => FirstMessage | undefined;
  /** Bumped by close() so a connect() that is still resolving or handshaking gives up. */
  private generation = 0;
  private readonly createSocket: CreateSocket;
  private readonly work = background((text) => this.emit('warning', text), () => this.settings.accessToken);
  private readonly downlink: CoapDownlink;

  constructor(private readonly settings: ConnectionSettings, options: CoapTransportOptions = {}) {
    super();
    this.name = settings.transport === 'coaps' ? 'coaps' : 'coap';
    this.maxInFlight = Math.max(1, Math.floor(settings.coap.maxInFlight || 4));
    this.createSocket = options.createSocket ?? (this.name === 'coaps' ? dtlsSocketFactory(settings) : createUdpSocket);
    // The receive side borrows the open Agent/socket/peer and sizes its requests by the same
    // datagram limit as send(); its texts are redacted there.
    this.downlink = new CoapDownlink({
      endpoint: () => (this.state === 'open' && this.agent && this.socket && this.peer
        ? { agent: this.agent, socket: this.socket, peer: this.peer, limit: this.datagramLimit } : undefined),
      accessToken: settings.accessToken,
      emit: (event, ...args) => this.emit(event, ...args),
    }, options.downlink);
    this.mustPing = this.name === 'coap';
    this.uplink = new CoapUplink({
      endpoint: () => (this.state === 'open' && this.agent && this.peer ? { agent: this.agent, peer: this.peer, socket: this.socket } : undefined),
      abort: (req) => this.agent?.abort(req),
      where: () => (this.peer ? hostPort(this.peer) : this.settings.host),
      error: (message, kind, code) => this.error(message, kind, code),
      goDown: (err) => this.goDown(err),
      warn: (text) => this.emit('warning', text),
    }, settings);
  }

  // ---- receive side (coap/downlink.ts, coap/requests.ts) --------------------------------------
  subscribe(channel: DownlinkChannel): Promise<void> { return this.downlink.subscribe(channel); }
  unsubscribe(channel: DownlinkChannel): Promise<void> { return this.downlink.unsubscribe(channel); }
  respondRpc(id: number, body: Buffer): Promise<void> { return this.downlink.requests.respondRpc(id, body); }
  requestAttributes(query: AttributesQuery, timeoutMs: number, signal?: AbortSignal): Promise<AttributesAnswer> { return this.downlink.requests.requestAttributes(query, timeoutMs, signal); }
  callRpc(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> { return this.downlink.requests.callRpc(method, params, timeoutMs, signal); }
  provision(body: Buffer, timeoutMs: number): Promise<Buffer> { return this.downlink.requests.provision(body, timeoutMs); } // transports/provision.ts

  connect(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    if (!this.connecting) {
      this.connecting = this.open().finally(() => { this.connecting = undefined; });
    }
    return this.connecting;
  }

  send(message: OutboundMessage): Promise<void> {
    return this.uplink.send(message);
  }

  /**
   * connect(), with the token check made by a waiting confirmable message when there is one
   * (Transport.connectWith; coap/token-probe.ts firstAnswer()). Without a token check to make
   * (provisioning) or in non-confirmable mode, `take` is never called: connect() as it is.
   */
  connectWith(take: () => FirstMessage | undefined): Promise<void> {
    const checks = Boolean(this.settings.accessToken) || this.settings.auth?.type === 'x509';
    if (this.state === 'open' || this.connecting || !checks || this.settings.coap.confirmable === false) return this.connect();
    this.take = take;
    return this.connect().finally(() => { if (this.take === take) this.take = undefined; });
  }

  /** What fits in one datagram: the socket's limit (CoAPS: its DTLS record), else for CoAPS ThingsBoard's. */
  private get datagramLimit(): DatagramLimit | undefined {
    return this.socket?.datagramLimit ?? (this.name === 'coaps' ? COAPS_DEFAULT_LIMIT : undefined);
  }

  async close(): Promise<void> {
    this.generation++;
    if (this.state === 'closed') return;
    const deregistered = this.downlink.close(); // Observe=1 while the socket is still open
    this.state = 'closed';
    await deregistered;
    await this.teardown(this.error('connection closed while the message was in flight', 'closed', 'CLOSED'));
  }

  // ---- connecting ---------------------------------------------------------------------------

  private async open(): Promise<void> {
    const generation = this.generation;
    const givenUp = () => generation !== this.generation;
    this.state = 'connecting';
    this.emit('phase', 'connecting');
    const peer = await this.resolve();
    if (givenUp()) throw this.error('closed while connecting', 'closed', 'CLOSED');
    if (this.name === 'coaps') this.emit('phase', 'securing');
    let socket: SocketLike;
    try {
      socket = await this.createSocket(peer);
    } catch (err) {
      if (!givenUp()) this.state = 'idle';
      if (err instanceof TransportError) throw this.error(err.message, err.kind, err.code);
      throw this.error(`cannot open a socket to ${hostPort(peer)}: ${errorText(err)}`, 'unreachable', 'SOCKET');
    }
    if (givenUp()) {
      closeQuietly(socket);
      throw this.error('closed while connecting', 'closed', 'CLOSED');
    }
    this.attach(socket, peer);
    if (this.mustPing) {
      try {
        await this.ping(socket, peer);
      } catch (err) {
        await this.teardown(this.error('connection closed while the message was in flight', 'closed', 'CLOSED'));
        if (!givenUp()) this.state = 'idle';
        throw err;
      }
      if (givenUp()) throw this.error('closed while connecting', 'closed', 'CLOSED');
    }
    try {
      await this.checkToken(socket);
    } catch (err) {
      await this.teardown(this.error('connection closed while the message was in flight', 'closed', 'CLOSED'));
      if (!givenUp()) this.state = 'idle';
      throw err;
    }
    if (givenUp()) throw this.error('closed while connecting', 'closed', 'CLOSED');
    this.mustPing = this.name === 'coap';
    this.uplink.opened();
    this.state = 'open';
  }

  private async resolve(): Promise<DatagramPeer> {
    try {
      return await resolvePeer(this.settings.host, this.settings.port || DEFAULT_PORTS[this.name]);
    } catch (err) {
      this.state = 'idle';
      throw this.error(errorText(err), 'unreachable', 'DNS');
    }
  }

  /** The token check at connect (coap/token-probe.ts): an early 4.01 fails connect(), a late one takes the transport down. */
  private async checkToken(socket: SocketLike): Promise<void> {
    const agent = this.agent;
    const peer = this.peer;
    // A provisioning request has neither token nor certificate: nothing to check.
    if (!agent || !peer || (!this.settings.accessToken && this.settings.auth?.type !== 'x509')) return;
    // Through error(): an X.509 device's refusal names its certificate, not a token.
    const refusal = (err: TransportError) => this.error(err.message, err.kind, err.code);
    const take = this.take;
    this.take = undefined;
    const first = take?.();
    if (first && await this.checkWithMessage(first, { agent, peer, socket })) return;
    await checkTokenAtConnect({ agent, peer, limit: this.datagramLimit }, this.settings.accessToken, this.probes, ackTimeoutWindowMs(), (refused) => {
      this.work.call('the late answer to the token check', () => { if (this.socket === socket) this.goDown(refusal(refused)); });
    }).catch((err) => { throw err instanceof TransportError ? refusal(err) : err; });
  }

  /**
   * The waiting message as the token check: true when its answer decided (or will: it came
   * late), false when it ended unanswered and the probe must ask. A 4.01 rejects the message as
   * NOT_SENT and throws the refusal in the probe's words, so a wrong token reads the same
   * whether or not a message was waiting.
   */
  private async checkWithMessage(first: FirstMessage, endpoint: { agent: Agent; peer: DatagramPeer; socket: SocketLike }): Promise<boolean> {
    let code: string | undefined;
    const outcome = this.uplink.sendOn(endpoint, first.message, (c) => { code = c; });
    const verdict = await firstAnswer(outcome, () => code, ackTimeoutWindowMs());
    // The caller's settle() runs its messages' callbacks: a throw there is reported, not ours.
    const settle = (err?: TransportError) => this.work.call('ending the message sent with the connect', () => first.settle(err));
    if (verdict === 'refused') {
      outcome.catch(() => { /* its refusal is connect()'s */ });
      settle(this.error('not sent: ThingsBoard refused the access token', 'closed', 'NOT_SENT'));
      throw this.error(`the access token check at connect: ${errorForCode('4.01', '').message}`, 'unauthorized', 'COAP_4.01');
    }
    outcome.then(() => settle(), (err: TransportError) => settle(err));
    return verdict !== 'unanswered';
  }

  /** Puts the Agent on the socket through a guard that contains the library's exceptions. */
  private attach(socket: SocketLike, peer: DatagramPeer): void {
    const keepaliveSeconds = this.settings.coap?.keepaliveSeconds ?? DEFAULT_KEEPALIVE_SECONDS;
    const watch = new SessionWatch({
      socket,
      peer,
      suspectSilence: this.name === 'coaps',
      keepaliveMs: Math.max(0, keepaliveSeconds) * 1000,
      lost: (failure, why, sends) => this.work.call('taking a lost CoAP session down', () => { if (this.watch === watch) this.sessionLost(failure, why, sends); }),
    });
    const guard = new AgentSocket(socket, (err, datagram) => this.onAgentException(err, datagram), (datagram) => watch.sent(datagram));
    socket.on('message', (msg: Buffer, rinfo: DatagramRemoteInfo) => {
      watch.receivedDatagram(msg);
      guard.deliver(msg, rinfo);
    });
    // A datagram refused by ICMP while open (the server stopped): down at once, not after timeouts.
    socket.on('error', this.onSocketErrorWhileOpen);
    socket.on('close', (cause?: Error) => {
      // Only a socket that ends on its own (a DTLS session: alert, close_notify) — teardown()
      // forgets the socket before closing it.
      const why = cause ? `: ${errorText(cause)}` : '';
      if (this.socket === socket) this.goDown(this.error(`connection to ${hostPort(peer)} closed by the other side${why}`, 'unreachable', 'SOCKET_CLOSED'));
    });
    const agent = new Agent({ socket: guard as unknown as dgram.Socket });
    agent.on('error', () => { /* socket errors are handled above */ });
    this.socket = socket;
    this.agent = agent;
    this.peer = peer;
    this.watch = watch;
  }

  private readonly onSocketErrorWhileOpen = (err: NodeJS.ErrnoException): void => {
    const peer = this.peer;
    const where = peer ? hostPort(peer) : this.settings.host;
    const why = err.code === 'ECONNREFUSED' ? `nothing listens on ${where} any more (ICMP port unreachable)` : `socket error towards ${where}: ${errorText(err)}`;
    this.goDown(this.error(why, 'unreachable', err.code === 'ECONNREFUSED' ? 'ECONNREFUSED' : 'SOCKET'));
  };

  /** CoAP ping (coap/liveness.ts): resolves once the server answered, else 'unreachable'. */
  private async ping(socket: SocketLike, peer: DatagramPeer): Promise<void> {
    const ping = coapPing(socket, peer);
    this.cancelPing = ping.cancel;
    try {
      await ping.answered;
    } catch (err) {
      const failure = err as PingFailure;
      if (failure.why === 'refused') throw this.error(`nothing listens on ${hostPort(peer)} (ICMP port unreachable): is the CoAP server running on port ${peer.port}?`, 'unreachable', 'ECONNREFUSED');
      if (failure.why === 'silent') throw this.error(`no response from ${hostPort(peer)} to a CoAP ping after ${transmissions()} attempts`, 'unreachable', 'COAP_TIMEOUT');
      if (failure.detail === 'closed') throw this.error('closed while connecting', 'closed', 'CLOSED');
      throw this.error(`cannot send to ${hostPort(peer)}: ${failure.detail}`, 'unreachable', 'SEND_FAILED');
    } finally {
      this.cancelPing = undefined;
    }
  }

  /** The Agent threw while handling a datagram (e.g. "Too many block re-transfers"). */
  private onAgentException(err: unknown, datagram: Buffer): void {
    if (this.uplink.agentException(err, datagram)) return;
    this.emit('warning', redact(`ignored a CoAP datagram the library could not handle: ${errorText(err)}`, this.settings.accessToken));
  }

  /** The session watch's probe went unanswered (coap/session-watch.ts). */
  private sessionLost(failure: PingFailure, why: 'keepalive' | 'suspicion', sends: number): void {
    const lost = lostSession(failure, why, sends, this.peer ? hostPort(this.peer) : this.settings.host, this.name === 'coaps');
    this.goDown(this.error(lost.message, 'unreachable', lost.code));
  }

  // ---- going down / closing -----------------------------------------------------------------

  private goDown(err: TransportError): void {
    if (this.state !== 'open') return;
    this.state = 'idle';
    this.mustPing = true;
    this.work.run('tearing the CoAP endpoint down', () => this.teardown(this.error(`the message may not have arrived: ${err.message}`, 'closed', 'DOWN')));
    this.emit('down', err);
  }

  private async teardown(reason: TransportError): Promise<void> {
    this.cancelPing?.();
    this.watch?.stop();
    this.watch = undefined;
    for (const p of [...this.probes]) p.fail(reason);
    this.downlink.onTeardown(reason);
    this.uplink.failAll(reason);
    const socket = this.socket;
    this.socket = undefined;
    this.agent?.removeAllListeners();
    this.agent = undefined;
    if (socket) {
      socket.removeAllListeners('message');
      await new Promise<void>((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
      socket.removeAllListeners();
    }
  }

  private error(message: string, kind: FailureKind, code?: string): TransportError {
    return code === 'COAP_4.01' && this.settings.auth?.type === 'x509' ? x509Unauthorized() : tokenError(this.settings.accessToken, message, kind, code);
  }
}
