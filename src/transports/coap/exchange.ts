// One CoAP request of the receive side (attribute request, client-side RPC, RPC reply, Observe
// (de)registration) on the transport's Agent, with its own deadline and the datagram-size rule.
//
// Why not the transport's send(): those requests go to other resources (`rpc/{id}`, query
// strings, Observe) and have different deadlines: an answer may come as a separate CON response
// long after the empty ACK (ThingsBoard acknowledges after `piggyback_timeout` 500 ms and answers
// when the rule chain has), and the library itself never gives up after an empty ACK.
//
// Datagram sizes: ThingsBoard's CoAPS server (Scandium, max_fragment_length 1024) reads at most
// 1130 bytes per datagram and silently drops a longer one. A body that
// does not fit in one datagram with this request's header, token and options goes block-wise
// (Block1, RFC 7959) in the largest block size that fits; a request without a body that does not
// fit (a very long key list) is refused with a clear error instead of being lost on the wire.
import type { Agent, IncomingMessage, OutgoingMessage } from 'coap';
import { TransportError } from '../transport';
import { awaitAnswer } from '../../deadline';
import { goBlockwise, onEachDatagram } from './library-shim';
import type { DatagramPeer, SocketLike } from './datagram';
import { COAPS_DATAGRAM_BUDGET, fitsOneMessage, headerBytes, planRequest, type DatagramLimit, type RequestShape } from './blocks';

export interface ExchangeRequest {
  method: 'GET' | 'POST';
  /** Uri-Path segments, token included (never logged). */
  path: Buffer[];
  query?: string[];
  /** 0 registers, 1 deregisters (RFC 7641). */
  observe?: 0 | 1;
  /** Reuse a CoAP token (deregistration names the registration's token). */
  token?: Buffer;
  body?: Buffer;
}

/** What a caller needs to know about the wire: the peer and what fits in one datagram (CoAPS). */
export interface ExchangeTarget {
  agent: Agent;
  peer: DatagramPeer;
  /** undefined: plain CoAP, only ThingsBoard's 1024-byte payload rule applies. */
  limit?: DatagramLimit;
}

/**
 * Builds and sends one confirmable request. Returns the library's request (its token identifies
 * the exchange; for an Observe registration, every notification). Throws a 'rejected'
 * TransportError when the request cannot fit in one datagram.
 */
export function startRequest(target: ExchangeTarget, spec: ExchangeRequest): OutgoingMessage {
  const body = spec.body ?? Buffer.alloc(0);
  const szx = blockPlan(spec, body.length, target.limit);
  const req = target.agent.request({
    hostname: target.peer.address,
    port: target.peer.port,
    method: spec.method,
    confirmable: true,
    ...(spec.observe !== undefined ? { observe: spec.observe } : {}),
    ...(spec.token ? { token: spec.token } : {}),
    ...(spec.body ? { options: { 'Content-Format': 'application/json' } } : {}),
  });
  // Uri-Path as raw segments: the access token is one segment whatever characters it holds.
  req.setOption('Uri-Path', spec.path);
  if (spec.query && spec.query.length) req.setOption('Uri-Query', spec.query.map((q) => Buffer.from(q, 'utf8')));
  if (szx !== undefined) goBlockwise(req, szx, body.length);
  return req;
}

/**
 * undefined: the whole request fits in one datagram; otherwise the Block1 SZX (block = 16 << SZX)
 * whose every block fits (coap/blocks.ts: the same rule as the send side's).
 */
export function blockPlan(spec: ExchangeRequest, bodyLength: number, limit?: DatagramLimit): number | undefined {
  const shape: RequestShape = {
    segments: spec.path,
    query: spec.query,
    observe: spec.observe,
    tokenBytes: spec.token?.length,
    contentFormat: bodyLength > 0,
  };
  if (bodyLength > 0 && spec.method === 'POST') return planRequest(shape, bodyLength, limit);
  if (fitsOneMessage(shape, bodyLength, limit)) return undefined;
  throw new TransportError(
    `the request does not fit in one ${COAPS_DATAGRAM_BUDGET}-byte CoAPS datagram (${headerBytes(shape)} bytes of header and options): ask for fewer keys at once`,
    'rejected',
    'COAP_TOO_LONG',
  );
}

export interface PendingExchange {
  req: OutgoingMessage;
  /** Rejects the caller's promise (teardown: 'closed') and stops the library's work. */
  fail(err: TransportError): void;
}

/**
 * Sends `spec` and resolves with the response, whenever it comes (piggybacked or as a separate
 * CON response after an empty ACK: the library ACKs that one). After `timeoutMs` without an
 * answer it rejects with `onTimeout()` and forgets the request in the Agent, so a late answer
 * finds no request: the library rejects it with RST and nothing is delivered.
 * `track` sees the exchange while it is pending (so a teardown can fail it). `signal` aborting
 * rejects at once with kind 'closed', code 'ABORTED', and forgets the request the same way.
 */
export function exchange(
  target: ExchangeTarget,
  spec: ExchangeRequest,
  timeoutMs: number,
  onTimeout: () => TransportError,
  track: Set<PendingExchange>,
  signal?: AbortSignal,
): Promise<IncomingMessage> {
  return awaitAnswer<IncomingMessage>({ timeoutMs, expired: onTimeout, signal, aborted: cancelled }, (waiting) => {
    const req = startRequest(target, spec);
    // Whether the Agent has forgotten the request itself (a non-Observe answer, its own give-up);
    // otherwise it is aborted when the wait ends: the asker is gone, a late answer then gets RST.
    let forgotten = false;
    const pending: PendingExchange = { req, fail: (err) => waiting.reject(err) };
    track.add(pending);
    waiting.signal.addEventListener('abort', () => {
      track.delete(pending);
      // Once only: a second abort corrupts the Agent's counters (coap/send-exchanges.ts).
      if (!forgotten) target.agent.abort(req);
    }, { once: true });
    // A non-Observe answer makes the Agent forget the request itself; an Observe=1 one does not.
    req.on('response', (res: IncomingMessage) => {
      if (waiting.ended) return;
      forgotten = spec.observe !== 1;
      waiting.resolve(res);
    });
    req.on('error', (err: Error) => waiting.reject(new TransportError(`cannot send: ${err.message}`, 'closed', 'SEND_FAILED')));
    // The library's own give-up (no ACK within EXCHANGE_LIFETIME): it has aborted the request.
    req.on('timeout', () => {
      if (waiting.ended) return;
      forgotten = true;
      waiting.reject(onTimeout());
    });
    try {
      req.end(spec.body);
    } catch (err) {
      waiting.reject(new TransportError(`cannot send: ${(err as Error).message}`, 'rejected', 'COAP_ENCODE'));
    }
  });
}

function cancelled(): TransportError {
  return new TransportError('the request was cancelled', 'closed', 'ABORTED');
}

/**
 * Sends `spec` and resolves once the server acknowledged or answered it, or after `waitMs`
 * (never rejects): for a deregistration, which ThingsBoard may only ACK. The ACK is seen on the
 * socket (the library drops empty ACKs without telling), and the request is then forgotten.
 */
export function acknowledged(target: ExchangeTarget & { socket: SocketLike }, spec: ExchangeRequest, waitMs: number): Promise<void> {
  return awaitAnswer<void>({ timeoutMs: waitMs, expired: () => undefined }, (waiting) => {
    const req = startRequest(target, spec);
    let messageId = -1;
    let forgotten = false; // the library's own give-up has aborted it already
    const onMessage = (msg: Buffer) => {
      const type = (msg[0] >> 4) & 0x03; // 2 = ACK, 3 = RST
      if (msg.length >= 4 && (type === 2 || type === 3) && msg.readUInt16BE(2) === messageId) waiting.resolve();
    };
    waiting.signal.addEventListener('abort', () => {
      target.socket.off('message', onMessage);
      // Once: an Observe=1 answer is not cleaned up by the Agent itself; its own give-up is.
      if (!forgotten) target.agent.abort(req);
    }, { once: true });
    onEachDatagram(req, (datagram) => { messageId = datagram.readUInt16BE(2); });
    target.socket.on('message', onMessage);
    req.on('response', () => waiting.resolve());
    req.on('error', () => waiting.resolve());
    req.on('timeout', () => {
      forgotten = !waiting.ended;
      waiting.resolve();
    });
    req.end();
  }).catch(() => undefined); // never rejects: a deregistration is best effort
}
