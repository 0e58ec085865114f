// Every place this package reaches past the `coap` library's public API, in one module. The
// library is pinned to the version these were written and tested against (package.json: coap
// 1.5.0); a new version must be checked here, and only here:
// - OutgoingMessage._packet: the request's CoAP token (to match a response or a notification)
//   and its options (to turn an Observe registration into a plain GET for later Block2 fetches,
//   and to take Size1 off a Block1 upload after its first block);
// - OutgoingMessage.sender (RetrySend): its 'sending' / 'sent' events (each datagram, and the
//   send of a non-confirmable request) and its backoff fields _currentTime/_bOffTimer/_bOff;
// - IncomingMessage.options (untyped): the raw options of a response, for its Observe number;
// - the Observe stream's append(): every later notification, with its code and Observe number,
//   which the stream's data events hide.
import type { IncomingMessage, OutgoingMessage } from 'coap';
import type { NotificationPacket, ObserveOptions } from './notifications';

/** The CoAP token the library gave the request (empty until it is sent). */
export function requestToken(req: OutgoingMessage): Buffer | undefined {
  return req._packet.token;
}

/**
 * The library fetches the remaining blocks of a block-wise notification with this request's
 * options, which must then be a plain GET, not another registration (RFC 7959 §3.4): drop Observe.
 */
export function dropObserveOption(req: OutgoingMessage): void {
  req._packet.options = (req._packet.options ?? []).filter((o) => o.name !== 'Observe');
}

/** The raw options of a response (the library keeps them, untyped, beside its parsed headers). */
export function responseOptions(res: IncomingMessage): ObserveOptions | undefined {
  return (res as unknown as { options?: ObserveOptions }).options;
}

/** Hands every later notification of an Observe response to `onPacket`; drops the first payload. */
export function takeNotifications(res: IncomingMessage, onPacket: (packet: NotificationPacket) => void): void {
  const stream = res as unknown as { append?: (packet: NotificationPacket) => void; resume(): void };
  stream.append = onPacket;
  stream.resume();
}

/** Calls `onDatagram` with every datagram the library sends for `req` (retransmissions too). */
export function onEachDatagram(req: OutgoingMessage, onDatagram: (datagram: Buffer) => void): void {
  req.sender.on('sending', onDatagram);
}

/** Calls `onSent` once the library has written a non-confirmable request (err: it could not). */
export function onceWritten(req: OutgoingMessage, onSent: (err: Error | null) => void): void {
  req.sender.once('sent', onSent);
}

/**
 * coap 1.5's RetrySend keeps doubling one retransmission timeout for the whole request and never
 * resets it when the next Block1 block (a new exchange) starts, so after a lossy block the next
 * ones would retransmit far less often than RFC 7252 §4.2 says. Each block gets a fresh initial
 * timeout `ms` here; the first retransmission timer (just armed with the stale value) is re-armed.
 */
export function restartBackoff(req: OutgoingMessage, ms: number): void {
  const sender = req.sender;
  sender._currentTime = ms;
  if (sender._bOffTimer) {
    clearTimeout(sender._bOffTimer);
    sender._bOffTimer = setTimeout(sender._bOff, sender._currentTime);
  }
}

/**
 * Makes `req` go block-wise: Block1 with the planned SZX (the library segments the body once the
 * option is present; its first byte is the SZX), and Size1 = the whole body's length on the first
 * block (RFC 7959 §4), so the server reserves what the body needs instead of its maximum (256 MiB
 * in ThingsBoard's Californium configuration). The library repeats the request's options on every
 * block, so Size1 is taken off once the first block is on the wire (its retransmissions reuse it).
 */
export function goBlockwise(req: OutgoingMessage, szx: number, bodyLength: number): void {
  req.setOption('Block1', Buffer.of(szx));
  req.setOption('Size1', bodyLength);
  req.sender.once('sending', () => {
    req._packet.options = (req._packet.options ?? []).filter((o) => o.name !== 'Size1');
  });
}
