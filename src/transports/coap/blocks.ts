// How large a CoAP request may be on the wire, and so whether a body goes block-wise (Block1,
// RFC 7959) and with which block size. The `coap` library segments the body itself once a Block1
// option is set on the request (its first byte's low bits are the SZX, the block size is
// 16 << SZX); this file only chooses the SZX.
//
// ThingsBoard's limits on the wire:
// - CoAP (Californium): MAX_MESSAGE_SIZE 1024 and PREFERRED_BLOCK_SIZE 1024: a payload larger
//   than 1024 bytes goes block-wise, in blocks of at most 1024 bytes.
// - CoAPS (Scandium with max_fragment_length 1024): at most 1130 bytes are read per datagram;
//   a longer one is truncated and dropped without an alert. The URI carries the access token, so
//   the per-message overhead depends on the token's length: a 1024-byte block with a 32-character
//   token already needs 1130 bytes, with a longer token more. So the block size is the largest
//   power of two whose whole datagram (DTLS record + CoAP header, token, options, payload) fits.
import { generate, type NamedOption } from 'coap-packet';
import { TransportError } from '../transport';

/** ThingsBoard's MAX_MESSAGE_SIZE / PREFERRED_BLOCK_SIZE: the largest payload in one message. */
export const MAX_MESSAGE_PAYLOAD = 1024;
/** What ThingsBoard's DTLS server (Scandium, max_fragment_length 1024) reads of one datagram. */
export const COAPS_MAX_DATAGRAM = 1130;
/**
 * Bytes kept free under that limit: a datagram that fills Scandium's buffer exactly is one byte
 * of another server's arithmetic away from being dropped without a word. With a 20-character
 * token (ThingsBoard's default) 1024-byte blocks, Size1 included, still fit.
 */
export const COAPS_DATAGRAM_MARGIN = 8;
/** The largest CoAPS datagram we send. */
export const COAPS_DATAGRAM_BUDGET = COAPS_MAX_DATAGRAM - COAPS_DATAGRAM_MARGIN;
/** The `coap` library's Agent gives every request an 8-byte CoAP token (agent.js _nextToken). */
const COAP_TOKEN_BYTES = 8;
const LARGEST_SZX = 6; // 1024 bytes

/** application/json (RFC 7252 §12.3), as the library sends it. */
const CONTENT_FORMAT_JSON = Buffer.of(50);
/** Larger than any datagram: generate() is asked for a size, not to enforce a limit. */
const NO_LIMIT = 0xffff;

/** What a socket allows per datagram (CoAPS: the DTLS record around each CoAP message). */
export interface DatagramLimit {
  /** Largest datagram on the wire, record overhead included. */
  maxDatagramBytes: number;
  /** Bytes the socket adds around each CoAP message (DTLS: header, explicit nonce, AEAD tag). */
  recordOverheadBytes: number;
}

/** CoAPS when the socket does not say: ThingsBoard's datagram, a DTLS 1.2 AEAD record with a 16-byte tag. */
export const COAPS_DEFAULT_LIMIT: DatagramLimit = { maxDatagramBytes: COAPS_DATAGRAM_BUDGET, recordOverheadBytes: 13 + 8 + 16 };

/** undefined: one message (no Block1); a number: the Block1 SZX to send the body with. */
export type BlockPlan = number | undefined;

/** The options of a request besides Block1, as far as their sizes matter. */
export interface RequestShape {
  /** Uri-Path segments (the access token is one). */
  segments: readonly Buffer[];
  /** Uri-Query values. */
  query?: readonly string[];
  /** Observe: 0 registers, 1 deregisters (RFC 7641). */
  observe?: 0 | 1;
  /** A CoAP token given to the request; default: the Agent's 8-byte one. */
  tokenBytes?: number;
  /** Content-Format application/json is set. */
  contentFormat: boolean;
}

/**
 * Plans one POST of `bodyLength` bytes to the Uri-Path `segments` (Content-Format JSON).
 * Throws a 'rejected' TransportError when not even 16-byte blocks fit (an absurdly long token).
 */
export function planBlocks(bodyLength: number, segments: readonly Buffer[], limit?: DatagramLimit): BlockPlan {
  // The common case, one message, from the remembered header size; block-wise plans as before.
  if (fitsWith(fixedFor(segments), bodyLength, limit)) return undefined;
  return planRequest({ segments, contentFormat: true }, bodyLength, limit);
}

/**
 * fixedBytes() per Uri-Path array, measured once: the uplink encodes each kind's segments once
 * and passes that same array with every message (uplink.ts uriPath()), and encoding a whole CoAP
 * message with generate() only to learn its length cost a few µs per message. Keyed by the array
 * object (a WeakMap: it goes with the array); planBlocks' callers never change an array's
 * segments after planning with it.
 */
const fixedBySegments = new WeakMap<readonly Buffer[], number>();

function fixedFor(segments: readonly Buffer[]): number {
  const key = segments;
  let fixed = fixedBySegments.get(key);
  if (fixed === undefined) {
    fixed = fixedBytes(segments);
    fixedBySegments.set(key, fixed);
  }
  return fixed;
}

/** True when the request and its whole body fit in one message (no Block1 needed). */
export function fitsOneMessage(shape: RequestShape, bodyLength: number, limit?: DatagramLimit): boolean {
  return fitsWith(headerBytes(shape), bodyLength, limit);
}

/** fitsOneMessage() for a request whose header and options (without payload) take `header` bytes. */
function fitsWith(header: number, bodyLength: number, limit?: DatagramLimit): boolean {
  const fixed = header + (limit?.recordOverheadBytes ?? 0);
  return bodyLength <= MAX_MESSAGE_PAYLOAD && fixed + payloadBytes(bodyLength) <= (limit?.maxDatagramBytes ?? Infinity);
}

/** planBlocks() for any request shape: the one datagram-size rule of the send and receive sides. */
export function planRequest(shape: RequestShape, bodyLength: number, limit?: DatagramLimit): BlockPlan {
  if (fitsOneMessage(shape, bodyLength, limit)) return undefined;
  const max = limit?.maxDatagramBytes ?? Infinity;
  const record = limit?.recordOverheadBytes ?? 0;
  // The first block carries Size1 (RFC 7959 §4, library-shim.ts goBlockwise) with a one-byte
  // Block1 value; the last one the longest Block1 value (1 to 3 bytes as the number grows).
  const first = headerBytes(shape, 0, bodyLength) + record;
  for (let szx = LARGEST_SZX; szx >= 0; szx--) {
    const block = 16 << szx;
    const lastNum = Math.max(0, Math.ceil(bodyLength / block) - 1);
    const last = headerBytes(shape, lastNum) + record;
    if (Math.max(first, last) + payloadBytes(block) <= max) return szx;
  }
  throw new TransportError(
    `the access token is too long: a CoAP request with it does not fit in a ${max}-byte datagram even in 16-byte blocks`,
    'rejected',
    'COAP_TOO_LONG',
  );
}

/** Bytes of a POST to `segments` on the wire without its payload and Block1: what every block repeats. */
export function fixedBytes(segments: readonly Buffer[]): number {
  return headerBytes({ segments, contentFormat: true });
}

/**
 * The CoAP message without its payload, encoded by coap-packet's generate() (the encoder the
 * library sends with): header, token, and every option; with `block1Num`, a Block1 option for
 * that block number (its value is 1 to 3 bytes as the number grows, as the library writes it);
 * with `size1`, a Size1 option of that value.
 */
export function headerBytes(shape: RequestShape, block1Num?: number, size1?: number): number {
  const options: NamedOption[] = [];
  if (shape.observe !== undefined) options.push({ name: 'Observe', value: shape.observe === 0 ? Buffer.alloc(0) : Buffer.of(1) });
  for (const segment of shape.segments) options.push({ name: 'Uri-Path', value: segment });
  if (shape.contentFormat) options.push({ name: 'Content-Format', value: CONTENT_FORMAT_JSON });
  for (const q of shape.query ?? []) options.push({ name: 'Uri-Query', value: Buffer.from(q, 'utf8') });
  if (block1Num !== undefined) options.push({ name: 'Block1', value: Buffer.alloc(blockValueBytes(block1Num)) });
  if (size1 !== undefined) options.push({ name: 'Size1', value: Buffer.alloc(uintBytes(size1)) });
  return generate({ token: Buffer.alloc(shape.tokenBytes ?? COAP_TOKEN_BYTES), options }, NO_LIMIT).length;
}

/** The payload and its 0xFF marker (absent for an empty payload). */
function payloadBytes(length: number): number {
  return length > 0 ? 1 + length : 0;
}

/** Bytes of an unsigned option value (RFC 7252 §3.2: no leading zero bytes). */
export function uintBytes(n: number): number {
  let bytes = 0;
  while (n > 0) {
    bytes++;
    n = Math.floor(n / 256);
  }
  return bytes;
}

/** The Block1 value as the library encodes it (block.js generateBlockOption). */
function blockValueBytes(num: number): number {
  return num >= 4096 ? 3 : num >= 16 ? 2 : 1;
}
