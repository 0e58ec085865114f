// Is the CoAP server there? Connectionless CoAP has no handshake, so "connected" is defined as
// "the server answered": connect() sends a CoAP ping (RFC 7252 §4.3, an empty CON that any CoAP
// endpoint answers with RST). A live server answers within one round trip; a closed port answers
// with ICMP port unreachable, which the connected UDP socket reports at once as ECONNREFUSED;
// silence (a firewall that drops) ends after the RFC retransmissions.
//
// CoAPS adds a failure plain CoAP cannot have: a DTLS server that forgot the session (restart on
// the same port, eviction, NAT rebinding) discards our records without an alert, so requests just
// go unanswered. Waiting for their retransmission budget (93 s with RFC timing) before noticing
// would also fail them; instead, once one confirmable message has been retransmitted
// SESSION_SUSPECT_RETRANSMISSIONS times with nothing at all received over the session since it was
// first sent, the session is taken as lost: the transport goes 'down' (in-flight messages reject
// with 'closed', so the device layer queues them again) and the next connect() makes a fresh
// handshake, which tells a live server (it answers the handshake) from a dead one.
import crypto from 'node:crypto';
import { parameters } from 'coap';
import type { DatagramPeer, SocketLike } from './datagram';
import { initialAckTimeoutMs, transmissions } from './timing';
import { awaitAnswer } from '../../deadline';

/** CoAPS: retransmissions of one message, nothing received meanwhile → the session is lost. */
export const SESSION_SUSPECT_RETRANSMISSIONS = 2;

export type PingFailure = { why: 'refused' | 'silent' | 'send'; detail: string };

export interface Ping {
  /** Resolves when the server answered (RST or ACK); rejects with a PingFailure. */
  readonly answered: Promise<void>;
  /** Ends the ping without an answer (rejects `answered` with why 'send', detail 'closed'). */
  cancel(): void;
}

/**
 * Pings over `socket`, retransmitting like a confirmable message: `attempts` sends (default
 * 1 + MAX_RETRANSMIT), each waiting twice as long as the one before, then 'silent'.
 */
export function coapPing(socket: SocketLike, peer: DatagramPeer, attempts = transmissions()): Ping {
  const messageId = crypto.randomInt(0, 0x10000);
  const datagram = Buffer.from([0x40, 0x00, messageId >> 8, messageId & 0xff]);
  const cancelled = new AbortController();
  // No deadline of its own: the retransmission schedule below gives up after the last attempt.
  const answered = awaitAnswer<void>({ signal: cancelled.signal, aborted: () => ({ why: 'send', detail: 'closed' }) }, (waiting) => {
    let interval = initialAckTimeoutMs();
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const onMessage = (msg: Buffer) => {
      const type = (msg[0] >> 4) & 0x03; // 2 = ACK, 3 = RST
      if (msg.length >= 4 && (type === 2 || type === 3) && msg.readUInt16BE(2) === messageId) waiting.resolve();
    };
    const fail = (failure: PingFailure) => waiting.reject(failure);
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') fail({ why: 'refused', detail: 'ICMP port unreachable' });
      else fail({ why: 'send', detail: err.message });
    };
    waiting.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      socket.off('error', onError);
    }, { once: true });
    const transmit = () => {
      sent++;
      try {
        socket.send(datagram, 0, datagram.length, peer.port, peer.address, (err) => {
          if (!err) return;
          if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') fail({ why: 'refused', detail: 'ICMP port unreachable' });
          else fail({ why: 'send', detail: err.message });
        });
      } catch (err) {
        // A socket closed meanwhile throws (later sends run from a timer, not from awaitAnswer).
        fail({ why: 'send', detail: (err as Error)?.message ?? String(err) });
        return;
      }
      timer = setTimeout(() => {
        if (sent < attempts) {
          interval *= 2;
          transmit();
        } else {
          fail({ why: 'silent', detail: `no answer to a CoAP ping after ${attempts} attempts` });
        }
      }, interval);
    };
    socket.on('message', onMessage);
    socket.on('error', onError);
    transmit();
  });
  return { answered, cancel: () => cancelled.abort() };
}

/** For messages: the parameters are read at call time (tests change them). */
export function ackTimeoutWindowMs(): number {
  return parameters.ackTimeout * parameters.ackRandomFactor * 1000;
}
