// Is the server still there, and does it still know our session? Every datagram the Agent sends
// (telemetry, Observe registrations and renewals, attribute requests, RPC calls and replies,
// deregistrations) and every datagram received passes through here, so every exchange counts as
// evidence, not only telemetry (coap/liveness.ts says why silence matters for CoAPS).
//
// - Evidence of life: any datagram received over the socket.
// - Suspicion: one confirmable message has been sent 1 + SESSION_SUSPECT_RETRANSMISSIONS times
//   with nothing at all received since its first transmission (CoAPS only; plain CoAP keeps the
//   transport's timeouts-in-a-row rule, a UDP server has no session to forget).
// - Suspicion is settled by a probe, a CoAP ping (RFC 7252 §4.3) over the same session: any live
//   endpoint answers it with RST at once. Answered: the session is alive and only that request is
//   being ignored (a server that drops it: it runs to its own deadline and fails there, instead of
//   making new handshakes forever). Unanswered after PROBE_TRANSMISSIONS sends: `lost()`.
// - Keepalive: after `keepaliveMs` in which nothing was sent or nothing was received, the same
//   probe goes out. It keeps a NAT's UDP mapping open (RFC 4787 REQ-6: outbound packets refresh
//   it) for a device that only listens, and it finds a dead session even when nothing is sent:
//   a server restart is noticed within keepaliveMs + the probe's wait (probeWaitMs()).
import { coapPing, SESSION_SUSPECT_RETRANSMISSIONS, type Ping, type PingFailure } from './liveness';
import { maxTransmitWaitMs } from './timing';
import { parameters } from 'coap';
import type { DatagramPeer, SocketLike } from './datagram';

/** Confirmable messages tracked before old unanswered ones are swept (a few are in flight at once). */
const SWEEP_AT = 64;

/** Sends of a probe ping before it counts as unanswered (at T and 3T: 6–9 s with RFC timing). */
export const PROBE_TRANSMISSIONS = 2;

/** Longest time a probe waits for its answer: ACK_TIMEOUT × ACK_RANDOM_FACTOR × (1 + 2). */
export function probeWaitMs(): number {
  return parameters.ackTimeout * parameters.ackRandomFactor * (2 ** PROBE_TRANSMISSIONS - 1) * 1000;
}

export interface SessionWatchOptions {
  socket: SocketLike;
  peer: DatagramPeer;
  /** Take retransmissions into a silent session as suspicion (CoAPS). */
  suspectSilence: boolean;
  /** Probe after this long without sending or without receiving; 0 = no keepalive. */
  keepaliveMs: number;
  /** The probe went unanswered (or the socket refused it). */
  lost(failure: PingFailure, why: 'keepalive' | 'suspicion', sends: number): void;
}

interface Sent {
  sends: number;
  receivedAtFirst: number;
  firstAt: number;
}

export class SessionWatch {
  private received = 0;
  private lastSentAt = Date.now();
  private lastReceivedAt = Date.now();
  private readonly confirmables = new Map<number, Sent>();
  private probe?: Ping;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: SessionWatchOptions) {
    this.arm(options.keepaliveMs);
  }

  /** A datagram the Agent (or the transport) sent. */
  sent(datagram: Buffer): void {
    if (this.stopped) return;
    this.lastSentAt = Date.now();
    // A confirmable message (type 0), request or empty: RFC 7252 §3.
    if (datagram.length < 4 || (datagram[0] >> 4) & 0x03) return;
    const messageId = datagram.readUInt16BE(2);
    let entry = this.confirmables.get(messageId);
    // A message ID is reused only after EXCHANGE_LIFETIME, far beyond MAX_TRANSMIT_WAIT.
    if (!entry || this.lastSentAt - entry.firstAt > maxTransmitWaitMs()) {
      // Answered messages leave at their ACK/RST; unanswered ones are swept now and then.
      if (this.confirmables.size >= SWEEP_AT) this.forgetOld();
      entry = { sends: 0, receivedAtFirst: this.received, firstAt: this.lastSentAt };
      this.confirmables.set(messageId, entry);
    }
    entry.sends++;
    if (this.options.suspectSilence && entry.sends > SESSION_SUSPECT_RETRANSMISSIONS && this.received === entry.receivedAtFirst) {
      const sends = entry.sends;
      // Not from inside the library's send: it is still working on this request.
      process.nextTick(() => this.startProbe('suspicion', sends));
    }
  }

  /** A datagram arrived over the socket: the session is alive. */
  receivedDatagram(datagram: Buffer): void {
    if (this.stopped) return;
    this.received++;
    this.lastReceivedAt = Date.now();
    const type = datagram.length >= 4 ? (datagram[0] >> 4) & 0x03 : -1;
    if (type === 2 || type === 3) this.confirmables.delete(datagram.readUInt16BE(2)); // ACK, RST
  }

  /** Whether a probe is out now (tests, status). */
  get probing(): boolean {
    return this.probe !== undefined;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.probe?.cancel();
    this.probe = undefined;
    this.confirmables.clear();
  }

  private startProbe(why: 'keepalive' | 'suspicion', sends: number): void {
    if (this.stopped || this.probe) return;
    const probe = coapPing(this.options.socket, this.options.peer, PROBE_TRANSMISSIONS);
    this.probe = probe;
    this.lastSentAt = Date.now();
    probe.answered.then(
      () => {
        if (this.probe === probe) this.probe = undefined;
        // The ping's RST came in through 'message' too, so every suspicion so far is cleared.
      },
      (failure: PingFailure) => {
        if (this.probe !== probe) return;
        this.probe = undefined;
        if (this.stopped || (failure.why === 'send' && failure.detail === 'closed')) return;
        this.options.lost(failure, why, sends);
      },
    );
  }

  /** Keepalive timer: fires when nothing was sent, or nothing received, for keepaliveMs. */
  private arm(ms: number): void {
    const keepalive = this.options.keepaliveMs;
    if (!(keepalive > 0) || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const idleSince = Math.min(this.lastSentAt, this.lastReceivedAt);
      const due = idleSince + keepalive - Date.now();
      if (due <= 0) {
        this.startProbe('keepalive', 1);
        this.arm(keepalive);
      } else {
        this.arm(due);
      }
    }, Math.max(1, ms));
    // The keepalive alone must not keep Node.js running.
    this.timer.unref?.();
  }

  private forgetOld(): void {
    const oldest = Date.now() - maxTransmitWaitMs();
    for (const [id, entry] of this.confirmables) if (entry.firstAt < oldest) this.confirmables.delete(id);
  }
}

/** The text and code of a lost session (or, plain CoAP, a server that stopped answering). */
export function lostSession(failure: PingFailure, why: 'keepalive' | 'suspicion', sends: number, where: string, dtls: boolean): { message: string; code: string } {
  if (failure.why === 'refused') return { message: `nothing listens on ${where} any more (ICMP port unreachable)`, code: 'ECONNREFUSED' };
  const what = why === 'keepalive' ? 'a keepalive ping' : `a message sent ${sends} times, nor to a ping`;
  if (!dtls) return { message: `no answer from ${where} to ${what}`, code: 'COAP_TIMEOUT' };
  return {
    message: `no answer over the DTLS session with ${where} to ${what}: the server may have forgotten the session (restart, NAT rebinding); making a new handshake`,
    code: 'DTLS_SESSION_LOST',
  };
}
