// Makes a DtlsConnection look like the part of a dgram.Socket that the `coap` package's Agent
// drives, and nothing more (coap/dist/lib/agent.js and retry_send.js call: on('message',
// (msg, rinfo)), on('error'), send(buf, offset, length, port, address, cb), address(),
// close(cb); `type` is read when the socket is given as `new Agent({ socket })`; bind() only
// when the Agent is given a port, which ours never is). Every datagram goes to the DTLS peer,
// whatever port/address the caller names; every decrypted record arrives as one 'message'.
//
//   const conn = await connectDtls({ host, port, ca });
//   const agent = new coap.Agent({ socket: new DtlsDgramSocket(conn) as any });
//
// When the DTLS session ends (fatal alert, close_notify, error) the adapter emits 'close' with
// the DtlsError (or nothing after our own close()), and later sends fail through their callback.
import { EventEmitter } from 'node:events';
import { DtlsError, type DtlsConnection } from '../../dtls';

export class DtlsDgramSocket extends EventEmitter {
  readonly type: 'udp4' | 'udp6';
  private closed = false;

  constructor(readonly connection: DtlsConnection) {
    super();
    this.type = connection.remote.address.includes(':') ? 'udp6' : 'udp4';
    connection.on('message', (data: Buffer) => {
      this.emit('message', data, {
        address: connection.remote.address,
        family: this.type === 'udp6' ? 'IPv6' : 'IPv4',
        port: connection.remote.port,
        size: data.length,
      });
    });
    connection.on('close', (err?: DtlsError) => {
      this.closed = true;
      this.emit('close', err);
    });
  }

  /**
   * The one form the Agent uses: `port` and `address` are the DTLS peer's anyway. Encrypted
   * synchronously (so `buf` is not copied: the Agent may retransmit the same buffer); the
   * callback follows on the next tick, as dgram's does, with an Error when the session is gone.
   */
  send(buf: Buffer, offset: number, length: number, _port: number, _address: string, cb?: (err: Error | null, bytes: number) => void): void {
    const data = offset === 0 && length === buf.length ? buf : buf.subarray(offset, offset + length);
    try {
      this.connection.write(data);
    } catch (err) {
      if (cb) process.nextTick(cb, err as Error, 0);
      return;
    }
    if (cb) process.nextTick(cb, null, data.length);
  }

  private local?: Readonly<{ address: string; family: string; port: number }>;

  /**
   * The Agent asks on every received datagram: ask the kernel once (the socket never rebinds),
   * and hand out the same frozen object (the Agent only reads it).
   */
  address(): { address: string; family: string; port: number } {
    if (!this.local) this.local = Object.freeze({ ...this.connection.localAddress() });
    return this.local;
  }

  /** Sends close_notify and closes the DTLS connection. */
  close(cb?: () => void): this {
    if (this.closed) { if (cb) setImmediate(cb); return this; }
    this.closed = true;
    // Closed either way: a failed close_notify must not become an unhandled rejection.
    this.connection.close().then(() => cb?.(), () => cb?.());
    return this;
  }
}
