// RFC 7252 §4.5: a confirmable message that arrives again (the server did not get our ACK and
// retransmits it) must be acknowledged again, with the same ACK, and not processed twice. The
// `coap` library's Agent forgets a request once its response came, so it answers a retransmitted
// separate response with RST instead: to ThingsBoard (Californium) that rejects the response, on
// every lossy link where one ACK is lost. The Agent's socket (coap/agent-socket.ts) remembers the
// ACKs the Agent sent, for EXCHANGE_LIFETIME, and answers such a duplicate itself.
import { parameters } from 'coap';

const TYPE_CON = 0;
const TYPE_ACK = 2;
/** Acknowledged messages remembered at most (a device sees a few per second at the very most). */
export const REMEMBERED_ACKS = 512;

interface Acked {
  ack: Buffer;
  at: number;
}

export class AckMemory {
  private readonly acks = new Map<string, Acked>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The Agent sends `datagram` to port/address: an ACK is remembered under its message ID. */
  sent(datagram: Buffer, port: number, address: string): void {
    if (datagram.length < 4 || typeOf(datagram) !== TYPE_ACK) return;
    const key = keyOf(datagram, port, address);
    this.acks.delete(key); // re-inserted as the newest
    this.acks.set(key, { ack: Buffer.from(datagram), at: this.now() });
    if (this.acks.size > REMEMBERED_ACKS) this.acks.delete(this.acks.keys().next().value as string);
  }

  /** The ACK to send again when `datagram` is a confirmable message acknowledged before. */
  duplicateAck(datagram: Buffer, port: number, address: string): Buffer | undefined {
    if (datagram.length < 4 || typeOf(datagram) !== TYPE_CON) return undefined;
    const key = keyOf(datagram, port, address);
    const acked = this.acks.get(key);
    if (!acked) return undefined;
    if (this.now() - acked.at > parameters.exchangeLifetime * 1000) {
      this.acks.delete(key); // the message ID may be used again by now: a new message
      return undefined;
    }
    return acked.ack;
  }
}

function typeOf(datagram: Buffer): number {
  return (datagram[0] >> 4) & 3;
}

function keyOf(datagram: Buffer, port: number, address: string): string {
  return `${address}|${port}|${datagram.readUInt16BE(2)}`;
}
