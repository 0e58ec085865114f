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
import { DtlsConnection } from './connection';
import { DtlsError } from './errors';

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

  /** send(buf, cb), send(buf, port, address, cb) or send(buf, offset, length, port, address, cb). */
  send(buf: Buffer | Uint8Array | string, ...rest: unknown[]): void {
    const cb = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as SendCallback) : undefined;
    let data = Buffer.isBuffer(buf) ? buf : Buffer.from(buf as Uint8Array);
    if (typeof rest[0] === 'number' && typeof rest[1] === 'number' && rest.length >= 3) {
      data = data.subarray(rest[0], rest[0] + rest[1]);
    }
    const length = data.length;
    this.connection.send(Buffer.from(data)).then(
      () => cb?.(null, length),
      (err: Error) => { if (cb) cb(err); },
    );
  }

  private local?: { address: string; family: string; port: number };

  /** The Agent asks on every received datagram: ask the kernel once (the socket never rebinds). */
  address(): { address: string; family: string; port: number } {
    if (!this.local) this.local = this.connection.localAddress();
    return { ...this.local };
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
