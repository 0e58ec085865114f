// CoAP (RFC 7252) transport to ThingsBoard: POST /api/v1/$TOKEN/telemetry|attributes with
// Content-Format application/json, on the `coap` library's Agent (its message IDs, tokens,
// confirmable retransmission with ACK_TIMEOUT/ACK_RANDOM_FACTOR/MAX_RETRANSMIT from
// `coap.parameters`, Block1 segmentation). One Agent over ONE datagram socket per transport,
// shared by every message; the socket is a plain UDP socket, or — for CoAPS — a DTLS session
// from src/dtls (coaps-socket.ts) implementing SocketLike (datagram.ts); `options.createSocket`
// replaces either (tests, other datagram layers).
//
// What "connected" means for connectionless CoAP:
//   connect() resolves once the host name is resolved and the socket is bound (for CoAPS: the
//   DTLS handshake finished). No request is made, so a server that is not running is found out
//   by the first messages, which fail with 'timeout' (each within the retransmission budget).
//   While open, the transport stays "connected" as long as the server answers: any answer,
//   even an error code, proves it is there. DOWN_AFTER_TIMEOUTS confirmable messages in a row
//   without any answer → 'down' (kind 'unreachable'): the device layer shows reconnecting and
//   queues. A connect() after such a 'down' must prove the server is back: it sends a CoAP ping
//   (empty CON, answered by RST) and fails with 'unreachable' when nothing answers.
//   In non-confirmable mode nothing is acknowledged, so "connected" is only "socket bound".
//
// Messages: confirmable (CON) by default; settings.coap.confirmable=false sends NON and resolves
// once the datagram is written, then listens for a short while for an error answer (reported as
// a 'warning', or 'down' for 4.01). Bodies larger than BLOCK_BYTES go block-wise (Block1,
// RFC 7959), always confirmable. Every message has a deadline of MAX_TRANSMIT_WAIT (RFC 7252
// §4.8.2, from the library's parameters) after its last new datagram: the library itself only
// gives up after EXCHANGE_LIFETIME (247 s), and never after an empty ACK of a separate response.
//
// Every text that leaves this file goes through redact(): the token is in the URI.
import crypto from 'node:crypto';
import dns from 'node:dns';
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { Agent, parameters, type IncomingMessage, type OutgoingMessage } from 'coap';
import { type ConnectionSettings, type OutboundMessage, type Transport, type TransportName, TransportError, type FailureKind } from './transport';
import { redact } from './redact';
import { createUdpSocket, type CreateSocket, type DatagramPeer, type DatagramRemoteInfo, type SocketLike } from './datagram';
import { diagnosticText, errorForCode } from './coap-codes';
import { dtlsSocketFactory } from './coaps-socket';
import { CoapDownlink, type CoapDownlinkOptions } from './coap-downlink';
import type { AttributesAnswer, AttributesQuery, DownlinkChannel } from './transport';

export interface CoapTransportOptions {
  /** Makes the datagram socket (CoAPS: a DTLS session). Default: a plain UDP socket. */
  createSocket?: CreateSocket;
  /** Receive side: observation renewal period, answer timeout (coap-downlink.ts). */
  downlink?: CoapDownlinkOptions;
}

/** Confirmable messages in a row that got no answer at all before the transport goes 'down'. */
export const DOWN_AFTER_TIMEOUTS = 2;
/** Block1 size: SZX 6 = 1024 bytes, the payload size RFC 7252 §4.6 recommends per datagram. */
const BLOCK_SZX = 6;
export const BLOCK_BYTES = 1024;
const DEFAULT_PORTS: Record<string, number> = { coap: 5683, coaps: 5684 };

interface Exchange {
  req: OutgoingMessage;
  resolve: () => void;
  reject: (err: TransportError) => void;
  /** The promise was resolved or rejected. */
  settled: boolean;
  /** The Agent has finished its bookkeeping for this request (answered, or we aborted it). */
  finished: boolean;
  deadline?: NodeJS.Timeout;
  lastMessageId: number;
}

type State = 'idle' | 'connecting' | 'open' | 'closed';

export class CoapTransport extends EventEmitter implements Transport {
  readonly name: TransportName;
  readonly maxInFlight: number;
  private state: State = 'idle';
  private socket?: SocketLike;
  private agent?: Agent;
  private peer?: DatagramPeer;
  private readonly exchanges = new Set<Exchange>();
  private timeoutsInARow = 0;
  private mustPing = false;
  private cancelPing?: () => void;
  private connecting?: Promise<void>;
  /** Bumped by close() so a connect() that is still resolving or handshaking gives up. */
  private generation = 0;
  private readonly createSocket: CreateSocket;
  private readonly uriPaths = new Map<string, Buffer[]>();
  private readonly downlink: CoapDownlink;

  constructor(private readonly settings: ConnectionSettings, options: CoapTransportOptions = {}) {
    super();
    this.name = settings.transport === 'coaps' ? 'coaps' : 'coap';
    this.maxInFlight = Math.max(1, Math.floor(settings.coap?.maxInFlight || 4));
    this.createSocket = options.createSocket ?? (this.name === 'coaps' ? dtlsSocketFactory(settings) : createUdpSocket);
    // The receive side borrows the open Agent/socket/peer; its texts are redacted there.
    this.downlink = new CoapDownlink({
      endpoint: () => (this.state === 'open' && this.agent && this.socket && this.peer
        ? { agent: this.agent, socket: this.socket, peer: this.peer, secure: this.name === 'coaps' } : undefined),
      accessToken: settings.accessToken,
      emit: (event, ...args) => this.emit(event, ...args),
    }, options.downlink);
  }

  // ---- receive side (coap-downlink.ts) --------------------------------------------------------
  subscribe(channel: DownlinkChannel): Promise<void> { return this.downlink.subscribe(channel); }
  unsubscribe(channel: DownlinkChannel): Promise<void> { return this.downlink.unsubscribe(channel); }
  respondRpc(id: number, body: Buffer): Promise<void> { return this.downlink.respondRpc(id, body); }
  requestAttributes(query: AttributesQuery, timeoutMs: number, signal?: AbortSignal): Promise<AttributesAnswer> { return this.downlink.requestAttributes(query, timeoutMs, signal); }
  callRpc(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> { return this.downlink.callRpc(method, params, timeoutMs, signal); }

  connect(): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    if (!this.connecting) {
      this.connecting = this.open().finally(() => { this.connecting = undefined; });
    }
    return this.connecting;
  }

  send(message: OutboundMessage): Promise<void> {
    const agent = this.agent;
    const peer = this.peer;
    if (this.state !== 'open' || !agent || !peer) {
      return Promise.reject(this.error('CoAP endpoint is not connected', 'closed', 'NOT_CONNECTED'));
    }
    return new Promise<void>((resolve, reject) => {
      const blockwise = message.body.length > BLOCK_BYTES;
      const confirmable = this.settings.coap?.confirmable !== false || blockwise;
      const req = agent.request({
        hostname: peer.address,
        port: peer.port,
        method: 'POST',
        confirmable,
        options: { 'Content-Format': 'application/json' },
      });
      // Uri-Path set as raw segments: the token is one segment whatever characters it holds.
      req.setOption('Uri-Path', this.uriPath(message.kind));
      // The library segments the body when a Block1 option is present; its first byte is the SZX.
      if (blockwise) req.setOption('Block1', Buffer.of(BLOCK_SZX));

      const ex: Exchange = { req, resolve, reject, settled: false, finished: false, lastMessageId: -1 };
      this.exchanges.add(ex);

      req.on('response', (res: IncomingMessage) => this.onResponse(ex, res));
      req.on('error', (err: Error) => this.onSendError(ex, err));
      req.on('timeout', () => { ex.finished = true; this.onTimeout(ex); });
      req.sender.on('sending', (datagram: Buffer) => {
        // A new message ID is a new exchange (the next Block1 block): its deadline starts now.
        const messageId = datagram.readUInt16BE(2);
        if (messageId !== ex.lastMessageId) {
          if (ex.lastMessageId !== -1) restartBackoff(req);
          ex.lastMessageId = messageId;
          this.armDeadline(ex, maxTransmitWaitMs());
        }
      });
      if (!confirmable) {
        req.sender.once('sent', (err: Error | null) => {
          if (err) return; // 'error' follows and rejects
          this.settle(ex);
          // Stay registered for one ACK_TIMEOUT span so an error answer is still noticed.
          this.armDeadline(ex, parameters.ackTimeout * parameters.ackRandomFactor * 1000);
        });
      }
      try {
        req.end(message.body);
      } catch (err) {
        this.finish(ex);
        this.settle(ex, this.error(`cannot send: ${errorText(err)}`, 'rejected', 'COAP_ENCODE'));
      }
    });
  }

  /**
   * The Uri-Path segments for `kind`, encoded once per transport (the token never changes): the
   * library only reads option values, so every request can share the same Buffers.
   */
  private uriPath(kind: string): Buffer[] {
    let segments = this.uriPaths.get(kind);
    if (!segments) {
      segments = ['api', 'v1', this.settings.accessToken, kind].map((s) => Buffer.from(s, 'utf8'));
      this.uriPaths.set(kind, segments);
    }
    return segments;
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
    this.mustPing = false;
    this.timeoutsInARow = 0;
    this.state = 'open';
  }

  private async resolve(): Promise<DatagramPeer> {
    const host = this.settings.host.trim().replace(/^\[(.*)\]$/, '$1');
    const port = this.settings.port || DEFAULT_PORTS[this.name];
    try {
      // IPv4 first when a name has both: servers bound to 127.0.0.1 answer 'localhost' too.
      const { address, family } = await dns.promises.lookup(host, { verbatim: false });
      return { host, address, family: family === 6 ? 6 : 4, port };
    } catch (err) {
      this.state = 'idle';
      const code = (err as NodeJS.ErrnoException).code ?? errorText(err);
      throw this.error(`cannot resolve host ${host}: ${code}`, 'unreachable', 'DNS');
    }
  }

  /** Puts the Agent on the socket through a guard that contains the library's exceptions. */
  private attach(socket: SocketLike, peer: DatagramPeer): void {
    const guard = new AgentSocket(socket, (err, datagram) => this.onAgentException(err, datagram));
    socket.on('message', (msg: Buffer, rinfo: DatagramRemoteInfo) => guard.deliver(msg, rinfo));
    socket.on('error', (err: Error) => {
      this.goDown(this.error(`socket error towards ${hostPort(peer)}: ${errorText(err)}`, 'unreachable', 'SOCKET'));
    });
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
  }

  /** CoAP ping (RFC 7252 §4.3): an empty CON, which any CoAP endpoint answers with RST. */
  private ping(socket: SocketLike, peer: DatagramPeer): Promise<void> {
    const messageId = crypto.randomInt(0, 0x10000);
    const datagram = Buffer.from([0x40, 0x00, messageId >> 8, messageId & 0xff]);
    const attempts = parameters.maxRetransmit + 1;
    return new Promise<void>((resolve, reject) => {
      let interval = initialAckTimeoutMs();
      let sent = 0;
      let timer: NodeJS.Timeout | undefined;
      const onMessage = (msg: Buffer) => {
        const type = (msg[0] >> 4) & 0x03; // 2 = ACK, 3 = RST
        if (msg.length >= 4 && (type === 2 || type === 3) && msg.readUInt16BE(2) === messageId) done();
      };
      const done = (err?: TransportError) => {
        clearTimeout(timer);
        socket.off('message', onMessage);
        this.cancelPing = undefined;
        if (err) reject(err);
        else resolve();
      };
      const transmit = () => {
        sent++;
        socket.send(datagram, 0, datagram.length, peer.port, peer.address, (err) => {
          if (err) done(this.error(`cannot send to ${hostPort(peer)}: ${errorText(err)}`, 'unreachable', 'SEND_FAILED'));
        });
        timer = setTimeout(() => {
          if (sent < attempts) {
            interval *= 2;
            transmit();
          } else {
            done(this.error(`no response from ${hostPort(peer)} to a CoAP ping after ${attempts} attempts`, 'unreachable', 'COAP_TIMEOUT'));
          }
        }, interval);
      };
      socket.on('message', onMessage);
      this.cancelPing = () => done(this.error('closed while connecting', 'closed', 'CLOSED'));
      transmit();
    });
  }

  // ---- per-message outcomes -----------------------------------------------------------------

  private onResponse(ex: Exchange, res: IncomingMessage): void {
    ex.finished = true; // the Agent counted the request as answered
    this.clearDeadline(ex);
    this.exchanges.delete(ex);
    this.timeoutsInARow = 0; // any answer proves the server is there
    const code = res.code;
    let err: TransportError | undefined;
    if (code.startsWith('2.')) err = undefined;
    else if (code === '0.00') err = this.error('server reset the request (RST): it does not serve CoAP requests here', 'rejected', 'COAP_RST');
    else {
      const e = errorForCode(code, diagnosticText(res.payload));
      err = this.error(e.message, e.kind, e.code);
    }
    if (!ex.settled) return this.settle(ex, err);
    // A NON message already resolved when written: tell the user about a late refusal.
    if (!err) return;
    if (err.kind === 'unauthorized') this.goDown(err);
    else this.emit('warning', `a non-confirmable message was refused: ${err.message}`);
  }

  private onTimeout(ex: Exchange): void {
    if (this.exchanges.has(ex)) this.finish(ex);
    if (ex.settled) return; // NON: the listening window ended without an answer, as expected
    const peer = this.peer;
    const attempts = parameters.maxRetransmit + 1;
    this.settle(ex, this.error(`no response from ${peer ? hostPort(peer) : this.settings.host} after ${attempts} attempts`, 'timeout', 'COAP_TIMEOUT'));
    if (++this.timeoutsInARow >= DOWN_AFTER_TIMEOUTS) {
      this.goDown(this.error(`no response from ${peer ? hostPort(peer) : this.settings.host} to ${this.timeoutsInARow} messages in a row`, 'unreachable', 'COAP_TIMEOUT'));
    }
  }

  private onSendError(ex: Exchange, err: Error): void {
    if (!this.exchanges.has(ex)) return;
    this.finish(ex);
    const where = this.peer ? hostPort(this.peer) : this.settings.host;
    const failure = this.error(`cannot send to ${where}: ${errorText(err)}`, 'closed', 'SEND_FAILED');
    if (!ex.settled) this.settle(ex, failure);
    this.goDown(this.error(`cannot send to ${where}: ${errorText(err)}`, 'unreachable', 'SEND_FAILED'));
  }

  /** The Agent threw while handling a datagram (e.g. "Too many block re-transfers"). */
  private onAgentException(err: unknown, datagram: Buffer): void {
    const tokenLength = datagram.length >= 4 ? datagram[0] & 0x0f : 0;
    const token = datagram.subarray(4, 4 + tokenLength);
    for (const ex of this.exchanges) {
      const reqToken = ex.req._packet.token;
      if (tokenLength > 0 && reqToken && Buffer.compare(reqToken, token) === 0) {
        this.finish(ex);
        if (!ex.settled) this.settle(ex, this.error(`the CoAP exchange failed: ${errorText(err)}`, 'rejected', 'COAP_PROTOCOL'));
        return;
      }
    }
    this.emit('warning', redact(`ignored a CoAP datagram the library could not handle: ${errorText(err)}`, this.settings.accessToken));
  }

  private armDeadline(ex: Exchange, ms: number): void {
    this.clearDeadline(ex);
    ex.deadline = setTimeout(() => this.onTimeout(ex), ms);
  }

  private clearDeadline(ex: Exchange): void {
    if (ex.deadline) clearTimeout(ex.deadline);
    ex.deadline = undefined;
  }

  /** Stops the library's work on a request (once: a second abort corrupts its counters). */
  private finish(ex: Exchange): void {
    this.clearDeadline(ex);
    this.exchanges.delete(ex);
    if (ex.finished) return;
    ex.finished = true;
    this.agent?.abort(ex.req);
  }

  private settle(ex: Exchange, err?: TransportError): void {
    if (ex.settled) return;
    ex.settled = true;
    if (err) ex.reject(err);
    else ex.resolve();
  }

  // ---- going down / closing -----------------------------------------------------------------

  private goDown(err: TransportError): void {
    if (this.state !== 'open') return;
    this.state = 'idle';
    this.mustPing = true;
    void this.teardown(this.error(`the message may not have arrived: ${err.message}`, 'closed', 'DOWN'));
    this.emit('down', err);
  }

  private async teardown(reason: TransportError): Promise<void> {
    this.cancelPing?.();
    this.downlink.onTeardown(reason);
    for (const ex of [...this.exchanges]) {
      this.finish(ex);
      this.settle(ex, reason);
    }
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
    return new TransportError(redact(message, this.settings.accessToken), kind, code);
  }
}

/**
 * What the Agent sees as its socket: forwards to the real one, and keeps an exception thrown by
 * the Agent's datagram handler from escaping into the socket's 'message' event (where it would
 * crash Node-RED) — the transport fails the matching exchange instead.
 */
class AgentSocket extends EventEmitter {
  constructor(private readonly inner: SocketLike, private readonly onException: (err: unknown, datagram: Buffer) => void) {
    super();
  }

  get type(): 'udp4' | 'udp6' {
    return this.inner.type;
  }

  deliver(msg: Buffer, rinfo: DatagramRemoteInfo): void {
    try {
      this.emit('message', msg, rinfo);
    } catch (err) {
      this.onException(err, msg);
    }
  }

  send(msg: Buffer, offset: number, length: number, port: number, address: string, callback?: (err: Error | null, bytes: number) => void): void {
    try {
      this.inner.send(msg, offset, length, port, address, callback);
    } catch (err) {
      // A closed socket throws synchronously: report it like any other send failure.
      const error = err instanceof Error ? err : new Error(String(err));
      if (callback) process.nextTick(callback, error, 0);
    }
  }

  address(): { address: string; family: string; port: number } {
    try {
      return this.inner.address();
    } catch {
      return { address: '', family: '', port: 0 };
    }
  }

  close(callback?: () => void): void {
    // The Agent never closes a socket it was given; the transport closes the real one.
    if (callback) process.nextTick(callback);
  }
}

/**
 * coap 1.5's RetrySend keeps doubling one retransmission timeout for the whole request and never
 * resets it when the next Block1 block (a new exchange) starts, so after a lossy block the next
 * ones would retransmit far less often than RFC 7252 §4.2 says. Each block gets a fresh initial
 * timeout here; the first retransmission timer (just armed with the stale value) is re-armed.
 */
function restartBackoff(req: OutgoingMessage): void {
  const sender = req.sender;
  sender._currentTime = initialAckTimeoutMs();
  if (sender._bOffTimer) {
    clearTimeout(sender._bOffTimer);
    sender._bOffTimer = setTimeout(sender._bOff, sender._currentTime);
  }
}

function initialAckTimeoutMs(): number {
  return parameters.ackTimeout * (1 + (parameters.ackRandomFactor - 1) * Math.random()) * 1000;
}

/** RFC 7252 MAX_TRANSMIT_WAIT: first transmission → giving up on an ACK or answer. */
function maxTransmitWaitMs(): number {
  return parameters.ackTimeout * (2 ** (parameters.maxRetransmit + 1) - 1) * parameters.ackRandomFactor * 1000;
}

function hostPort(peer: DatagramPeer): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function closeQuietly(socket: SocketLike): void {
  try { socket.close(); } catch { /* already closed */ }
}
