// Makes a DtlsConnection look like the dgram.Socket that the `coap` package's Agent drives
// (coap/dist/lib/agent.js and retry_send.js call: on('message', (msg, rinfo)), on('error'),
// send(buf, offset, length, port, address, cb), address(), close(cb); `type` is read when the
// socket is given as `new Agent({ socket })`). Every datagram goes to the DTLS peer, whatever
// port/address the caller names; every decrypted record arrives as one 'message'.
//
//   const conn = await connectDtls({ host, port, ca });
//   const agent = new coap.Agent({ socket: new DtlsDgramSocket(conn) as any });
//
// When the DTLS session ends (fatal alert, close_notify, error) the adapter emits 'close' with
// the DtlsError (or nothing after our own close()), and later sends fail through their callback.
import { EventEmitter } from 'node:events';
import { DtlsError, type DtlsConnection } from '../../dtls';

type SendCallback = (err: Error | null, bytes?: number) => void;

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
   * send(buf, cb), send(buf, port, address, cb) or send(buf, offset, length, port, address, cb).
   * Encrypted synchronously (so `buf` is not copied: the Agent may retransmit the same buffer);
   * the callback follows on the next tick, as dgram's does, with an Error when the session is gone.
   */
  send(buf: Buffer | Uint8Array | string, a1?: unknown, a2?: unknown, a3?: unknown, a4?: unknown, a5?: unknown): void {
    const cb = (typeof a1 === 'function' ? a1 : typeof a2 === 'function' ? a2 : typeof a3 === 'function' ? a3
      : typeof a4 === 'function' ? a4 : typeof a5 === 'function' ? a5 : undefined) as SendCallback | undefined;
    let data = Buffer.isBuffer(buf) ? buf : Buffer.from(buf as Uint8Array);
    if (typeof a1 === 'number' && typeof a2 === 'number') data = data.subarray(a1, a1 + a2);
    try {
      this.connection.write(data);
    } catch (err) {
      if (cb) process.nextTick(cb, err as Error);
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

  /** The DTLS session is already bound and connected: nothing to do. */
  bind(..._args: unknown[]): this {
    const cb = _args.find((a) => typeof a === 'function') as (() => void) | undefined;
    if (cb) setImmediate(cb);
    return this;
  }

  /** Sends close_notify and closes the DTLS connection. */
  close(cb?: () => void): this {
    if (this.closed) { if (cb) setImmediate(cb); return this; }
    this.closed = true;
    this.connection.close().then(() => cb?.());
    return this;
  }

  ref(): this { return this; }
  unref(): this { return this; }
  setBroadcast(): void { /* not applicable */ }
  setMulticastTTL(): void { /* not applicable */ }
  setMulticastLoopback(): void { /* not applicable */ }
  addMembership(): void { /* not applicable */ }
  dropMembership(): void { /* not applicable */ }
}
