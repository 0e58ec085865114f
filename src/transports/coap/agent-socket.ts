// What the `coap` Agent sees as its socket: forwards to the transport's real socket (UDP or a
// DTLS session), and keeps an exception thrown by the Agent's datagram handler from escaping into
// the socket's 'message' event (where it would crash Node-RED): the transport fails the matching
// exchange instead. It also answers retransmitted confirmable messages the Agent acknowledged
// already (coap/duplicates.ts). The Agent never closes it; the transport closes the real socket.
import { EventEmitter } from 'node:events';
import type { DatagramRemoteInfo, SocketLike } from './datagram';
import { AckMemory } from './duplicates';

export class AgentSocket extends EventEmitter {
  private readonly acked = new AckMemory();

  /** `onSent` sees every datagram the Agent sends (coap/session-watch.ts). */
  constructor(
    private readonly inner: SocketLike,
    private readonly onException: (err: unknown, datagram: Buffer) => void,
    private readonly onSent: (datagram: Buffer) => void = () => {},
  ) {
    super();
  }

  get type(): 'udp4' | 'udp6' {
    return this.inner.type;
  }

  deliver(msg: Buffer, rinfo: DatagramRemoteInfo): void {
    const ack = this.acked.duplicateAck(msg, rinfo.port, rinfo.address);
    if (ack) {
      this.send(ack, 0, ack.length, rinfo.port, rinfo.address); // the same ACK again; not processed twice
      return;
    }
    try {
      this.emit('message', msg, rinfo);
    } catch (err) {
      this.onException(err, msg);
    }
  }

  send(msg: Buffer, offset: number, length: number, port: number, address: string, callback?: (err: Error | null, bytes: number) => void): void {
    const datagram = offset === 0 && length === msg.length ? msg : msg.subarray(offset, offset + length);
    this.acked.sent(datagram, port, address);
    this.onSent(datagram);
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
    if (callback) process.nextTick(callback);
  }
}
