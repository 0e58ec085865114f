// Our current handshake flight and its retransmission (RFC 6347 4.2.4): the flight is kept as
// messages, re-sealed on each send (every record needs a fresh sequence number), packed into
// datagrams of at most `mtu` bytes, and resent on a timer that starts at 1 s and doubles.
import { ContentType } from '../protocol/record';
import { HandshakeMessage, fragmentHandshakeMessage, HANDSHAKE_HEADER_LENGTH } from '../protocol/handshake';
import { encodeChangeCipherSpec } from '../protocol/messages';
import { RecordLayer } from '../record-layer';

/** A handshake message or ChangeCipherSpec of our current flight, re-encoded on each send. */
export interface FlightItem { kind: 'handshake' | 'ccs'; epoch: number; message?: HandshakeMessage }

export interface FlightOptions {
  mtu: number;
  initialRetransmitMs: number;
  maxRetransmitMs: number;
  send(datagram: Buffer): void;
  /** Called by the timer: false stops retransmitting (handshake over). */
  stillHandshaking(): boolean;
  onError(err: unknown): void;
}

export class FlightSender {
  private items: FlightItem[] = [];
  private timer: NodeJS.Timeout | null = null;
  private retransmitMs: number;
  /** How often the current flight was sent (for the timeout message). */
  transmissions = 0;

  constructor(private readonly records: RecordLayer, private readonly options: FlightOptions) {
    this.retransmitMs = options.initialRetransmitMs;
  }

  get isEmpty(): boolean { return this.items.length === 0; }

  start(items: FlightItem[]): void {
    this.items = items;
    this.retransmitMs = this.options.initialRetransmitMs;
    this.transmissions = 0;
    this.send();
  }

  /** (Re)sends the current flight, packing records into datagrams of at most `mtu` bytes. */
  send(): void {
    const { mtu } = this.options;
    const datagrams: Buffer[] = [];
    let current: Buffer[] = [];
    let size = 0;
    const push = (record: Buffer) => {
      if (size + record.length > mtu && current.length) { datagrams.push(Buffer.concat(current)); current = []; size = 0; }
      current.push(record);
      size += record.length;
    };
    for (const item of this.items) {
      if (item.kind === 'ccs') { push(this.records.seal(ContentType.change_cipher_spec, 0, encodeChangeCipherSpec())); continue; }
      const room = mtu - this.records.overhead(item.epoch);
      for (const fragment of fragmentHandshakeMessage(item.message as HandshakeMessage, Math.max(room, HANDSHAKE_HEADER_LENGTH + 16))) {
        push(this.records.seal(ContentType.handshake, item.epoch, fragment));
      }
    }
    if (current.length) datagrams.push(Buffer.concat(current));
    for (const d of datagrams) this.options.send(d);
    this.transmissions++;
    this.arm();
  }

  /** Forgets the flight and stops the timer (handshake done or session over). */
  stop(): void {
    this.items = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.options.stillHandshaking()) return;
      this.retransmitMs = Math.min(this.retransmitMs * 2, this.options.maxRetransmitMs);
      try { this.send(); } catch (err) { this.options.onError(err); }
    }, this.retransmitMs);
  }
}
