// The datagram socket the CoAP transport runs over. Plain CoAP uses a node:dgram socket; CoAPS
// plugs in a DTLS session (src/dtls) that implements the same small interface, so the CoAP logic
// (the `coap` library's Agent, retransmission, Block1, result mapping) is identical for both.
//
// What the `coap` Agent (coap 1.5, dist/lib/agent.js and retry_send.js) really uses of the socket
// it is given with `new Agent({ socket })`:
//   - `type`                          read once in the constructor ('udp4' | 'udp6')
//   - `on('message', (msg, rinfo))`   every received datagram (CoAP responses, ACKs, RSTs)
//   - `on('error', (err))`            re-emitted as the Agent's 'error'
//   - `send(buf, offset, length, port, address, callback)`  requests, retransmissions, ACKs of
//                                     separate responses, RSTs; callback(err, bytes) once written
//   - `address()`                     on every received datagram (passed to IncomingMessage)
// It never binds, connects or closes a socket it was given: the transport owns its lifecycle.
// The CoAP transport itself additionally uses `close(callback)` and listens to 'close' (a DTLS
// session that ends on its own — alert, close_notify — emits 'close' so the transport goes 'down').
//
// A DTLS implementation is connected to exactly one peer: it may ignore `port` and `address` in
// send(), must deliver only decrypted application data as 'message' (with the peer as rinfo), must
// not emit 'message' after close(), and should call send's callback with an Error when the
// session cannot send (closed, fatal alert) instead of throwing.
import dgram from 'node:dgram';
import dns from 'node:dns';
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { DatagramLimit } from './blocks';

export interface DatagramRemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface SocketLike extends EventEmitter {
  readonly type: 'udp4' | 'udp6';
  send(
    msg: Buffer,
    offset: number,
    length: number,
    port: number,
    address: string,
    callback?: (err: Error | null, bytes: number) => void,
  ): void;
  address(): AddressInfo;
  close(callback?: () => void): void;
  /** What fits in one datagram (CoAPS: ThingsBoard's 1130 bytes, with the DTLS record's overhead). */
  readonly datagramLimit?: DatagramLimit;
}

/** Where the transport sends: the configured host name and the address it resolved to. */
export interface DatagramPeer {
  /** As configured (a name or an IP literal): for messages, SNI and certificate checks. */
  host: string;
  /** The resolved IP address the datagrams go to. */
  address: string;
  family: 4 | 6;
  port: number;
}

/** Makes the socket for one connection; for CoAPS this runs the DTLS handshake. */
export type CreateSocket = (peer: DatagramPeer) => Promise<SocketLike>;

/**
 * The plain-UDP socket: bound to an ephemeral port and connected to the peer, so that ICMP port
 * unreachable (nothing listens there) comes back as an 'error' (ECONNREFUSED) instead of silence,
 * and only the peer's datagrams are delivered. A connected dgram socket refuses a destination in
 * send(), so send() ignores the port and address the Agent passes (always the peer's).
 */
export const createUdpSocket: CreateSocket = (peer) =>
  new Promise((resolve, reject) => {
    const socket = dgram.createSocket(peer.family === 6 ? 'udp6' : 'udp4');
    const onError = (err: Error) => {
      try { socket.close(); } catch { /* never bound */ }
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(0, () => {
      socket.connect(peer.port, peer.address, () => {
        socket.off('error', onError);
        cacheAddress(socket);
        sendToPeer(socket);
        resolve(socket as unknown as SocketLike);
      });
    });
  });

function sendToPeer(socket: dgram.Socket): void {
  const send = socket.send.bind(socket) as (msg: Buffer, offset: number, length: number, callback?: (err: Error | null, bytes: number) => void) => void;
  (socket as unknown as SocketLike).send = (msg, offset, length, _port, _address, callback) => send(msg, offset, length, callback);
}

/**
 * The `coap` Agent calls address() on every datagram it receives, and on a dgram socket each call
 * is a getsockname() system call (plus a new object). A bound socket never moves, so ask once and
 * hand out the same frozen object (the Agent only reads it). After close() the real address()
 * would throw; the Agent no longer receives anything then, and the transport never asks.
 */
function cacheAddress(socket: dgram.Socket): void {
  const local = Object.freeze(socket.address());
  socket.address = () => local;
}

/** The configured host (an IPv6 literal may come in brackets) resolved; rejects "cannot resolve host …". */
export async function resolvePeer(configuredHost: string, port: number): Promise<DatagramPeer> {
  const host = configuredHost.trim().replace(/^\[(.*)\]$/, '$1');
  try {
    // IPv4 first when a name has both: servers bound to 127.0.0.1 answer 'localhost' too.
    const { address, family } = await dns.promises.lookup(host, { verbatim: false });
    return { host, address, family: family === 6 ? 6 : 4, port };
  } catch (err) {
    throw new Error(`cannot resolve host ${host}: ${(err as NodeJS.ErrnoException).code ?? errorText(err)}`);
  }
}

/** host:port for texts ([v6]:port). */
export function hostPort(peer: DatagramPeer): string {
  return peer.host.includes(':') ? `[${peer.host}]:${peer.port}` : `${peer.host}:${peer.port}`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function closeQuietly(socket: SocketLike): void {
  try { socket.close(); } catch { /* already closed */ }
}
