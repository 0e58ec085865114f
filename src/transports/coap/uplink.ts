// The send path of the CoAP transport (transport.ts): one POST /api/v1/$TOKEN/telemetry|attributes
// per message on the open Agent, confirmable or not, block-wise when the body does not fit one
// datagram (blocks.ts), with a deadline of MAX_TRANSMIT_WAIT after its last new datagram
// (RFC 7252 §4.8.2; send-exchanges.ts), and what its answer, its silence or its error means for
// the message and for the connection (DOWN_AFTER_TIMEOUTS silent messages in a row: 'down').
// The transport owns the session; this file borrows it through UplinkHost.
import type { Agent, IncomingMessage, OutgoingMessage } from 'coap';
import { type ConnectionSettings, type FailureKind, type OutboundMessage, TransportError } from '../transport';
import { errorText, hostPort, type DatagramPeer, type SocketLike } from './datagram';
import { diagnosticText, errorForCode } from './codes';
import { apiPath } from './resources';
import { SendExchanges, type Exchange } from './send-exchanges';
import { planBlocks } from './blocks';
import { ackTimeoutWindowMs } from './liveness';
import { initialAckTimeoutMs, maxTransmitWaitMs, transmissions } from './timing';
import { goBlockwise, onEachDatagram, onceWritten, restartBackoff } from './library-shim';

/** Confirmable messages in a row that got no answer at all before the transport goes 'down'. */
export const DOWN_AFTER_TIMEOUTS = 2;

/** What the send path borrows from the transport. */
export interface UplinkHost {
  /** The open session, or undefined when the transport is not open. */
  endpoint(): { agent: Agent; peer: DatagramPeer; socket: SocketLike | undefined } | undefined;
  /** Stops the library's work on a request: on the Agent still attached, open or not (going down). */
  abort(req: OutgoingMessage): void;
  /** The peer for texts: host:port once resolved, else the configured host. */
  where(): string;
  /** A TransportError with the token redacted (codes.ts; an X.509 device's 4.01 names its certificate). */
  error(message: string, kind: FailureKind, code?: string): TransportError;
  goDown(err: TransportError): void;
  warn(text: string): void;
}

export class CoapUplink {
  private readonly exchanges: SendExchanges;
  private timeoutsInARow = 0;
  private readonly uriPaths = new Map<string, Buffer[]>();

  constructor(
    private readonly host: UplinkHost,
    private readonly settings: ConnectionSettings,
  ) {
    this.exchanges = new SendExchanges((req) => {
      this.host.abort(req);
      // abort() removes every listener of the request's sender, but a datagram already handed to
      // the socket may still fail (ICMP port unreachable, a tick later): the sender then emits an
      // 'error' that, with no listener, would crash Node-RED.
      req.sender?.on('error', () => {});
    }, (ex) => this.onTimeout(ex));
  }

  /** A new session: earlier silences do not count towards this one's. */
  opened(): void {
    this.timeoutsInARow = 0;
  }

  send(message: OutboundMessage): Promise<void> {
    const endpoint = this.host.endpoint();
    if (!endpoint) {
      return Promise.reject(this.host.error('CoAP endpoint is not connected', 'closed', 'NOT_CONNECTED'));
    }
    return this.sendOn(endpoint, message);
  }

  /**
   * send() on a given session: also the one the transport is still connecting (the first message
   * as the token check, transport.ts connectWith()). `onAnswer` sees the code of the server's
   * answer, before the promise settles.
   */
  sendOn(endpoint: { agent: Agent; peer: DatagramPeer; socket: SocketLike | undefined }, message: OutboundMessage, onAnswer?: (code: string) => void): Promise<void> {
    const { agent, peer, socket } = endpoint;
    return new Promise<void>((resolve, reject) => {
      const uriPath = this.uriPath(message.kind);
      let szx: number | undefined;
      try {
        szx = planBlocks(message.body.length, uriPath, socket?.datagramLimit);
      } catch (err) {
        const e = err instanceof TransportError ? err : new TransportError(errorText(err), 'rejected', 'COAP_ENCODE');
        reject(this.host.error(e.message, e.kind, e.code));
        return;
      }
      const blockwise = szx !== undefined;
      const confirmable = this.settings.coap.confirmable !== false || blockwise;
      const req = agent.request({
        hostname: peer.address,
        port: peer.port,
        method: 'POST',
        confirmable,
        options: { 'Content-Format': 'application/json' },
      });
      // Uri-Path set as raw segments: the token is one segment whatever characters it holds.
      req.setOption('Uri-Path', uriPath);
      if (blockwise) goBlockwise(req, szx as number, message.body.length);

      const ex = this.exchanges.start(req, resolve, reject);

      req.on('response', (res: IncomingMessage) => {
        onAnswer?.(res.code);
        this.onResponse(ex, res);
      });
      req.on('error', (err: Error) => this.onSendError(ex, err));
      req.on('timeout', () => { ex.finished = true; this.onTimeout(ex); });
      onEachDatagram(req, (datagram) => {
        // A new message ID is a new exchange (the next Block1 block): its deadline starts now.
        const messageId = datagram.readUInt16BE(2);
        if (messageId !== ex.lastMessageId) {
          if (ex.lastMessageId !== -1) restartBackoff(req, initialAckTimeoutMs());
          ex.lastMessageId = messageId;
          this.exchanges.armDeadline(ex, maxTransmitWaitMs());
        }
      });
      if (!confirmable) {
        onceWritten(req, (err) => {
          if (err) return; // 'error' follows and rejects
          this.exchanges.settle(ex);
          // Stay registered for one ACK_TIMEOUT span so an error answer is still noticed.
          this.exchanges.armDeadline(ex, ackTimeoutWindowMs());
        });
      }
      try {
        req.end(message.body);
      } catch (err) {
        this.exchanges.finish(ex);
        this.exchanges.settle(ex, this.host.error(`cannot send: ${errorText(err)}`, 'rejected', 'COAP_ENCODE'));
      }
    });
  }

  /** The session is gone: every message in flight ends with `reason`. */
  failAll(reason: TransportError): void {
    for (const ex of this.exchanges.all()) {
      this.exchanges.finish(ex);
      this.exchanges.settle(ex, reason);
    }
  }

  /** The Agent threw on a datagram: true when it answered one of our messages (that one fails). */
  agentException(err: unknown, datagram: Buffer): boolean {
    const tokenLength = datagram.length >= 4 ? datagram[0] & 0x0f : 0;
    const ex = this.exchanges.byToken(datagram.subarray(4, 4 + tokenLength));
    if (!ex) return false;
    this.exchanges.finish(ex);
    if (!ex.settled) this.exchanges.settle(ex, this.host.error(`the CoAP exchange failed: ${errorText(err)}`, 'rejected', 'COAP_PROTOCOL'));
    return true;
  }

  /** Uri-Path segments for `kind`, encoded once (the token never changes; the library only reads them). */
  private uriPath(kind: string): Buffer[] {
    let segments = this.uriPaths.get(kind);
    if (!segments) {
      segments = apiPath(this.settings.accessToken, kind);
      this.uriPaths.set(kind, segments);
    }
    return segments;
  }

  private onResponse(ex: Exchange, res: IncomingMessage): void {
    this.exchanges.answered(ex);
    this.timeoutsInARow = 0; // any answer proves the server is there
    const code = res.code;
    let err: TransportError | undefined;
    if (code.startsWith('2.')) err = undefined;
    else if (code === '0.00') err = this.host.error('server reset the request (RST): it does not serve CoAP requests here', 'rejected', 'COAP_RST');
    else {
      const e = errorForCode(code, diagnosticText(res.payload));
      err = this.host.error(e.message, e.kind, e.code);
    }
    if (!ex.settled) return this.exchanges.settle(ex, err);
    // A NON message already resolved when written: tell the user about a late refusal.
    if (!err) return;
    if (err.kind === 'unauthorized') this.host.goDown(err);
    else this.host.warn(`a non-confirmable message was refused: ${err.message}`);
  }

  private onTimeout(ex: Exchange): void {
    if (this.exchanges.has(ex)) this.exchanges.finish(ex);
    if (ex.settled) return; // NON: the listening window ended without an answer, as expected
    const where = this.host.where();
    this.exchanges.settle(ex, this.host.error(`no response from ${where} after ${transmissions()} attempts`, 'timeout', 'COAP_TIMEOUT'));
    if (++this.timeoutsInARow >= DOWN_AFTER_TIMEOUTS) {
      this.host.goDown(this.host.error(`no response from ${where} to ${this.timeoutsInARow} messages in a row`, 'unreachable', 'COAP_TIMEOUT'));
    }
  }

  private onSendError(ex: Exchange, err: Error): void {
    if (!this.exchanges.has(ex)) return;
    this.exchanges.finish(ex);
    const where = this.host.where();
    const failure = this.host.error(`cannot send to ${where}: ${errorText(err)}`, 'closed', 'SEND_FAILED');
    if (!ex.settled) this.exchanges.settle(ex, failure);
    this.host.goDown(this.host.error(`cannot send to ${where}: ${errorText(err)}`, 'unreachable', 'SEND_FAILED'));
  }
}
