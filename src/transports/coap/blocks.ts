// How large a CoAP request may be on the wire, and so whether a body goes block-wise (Block1,
// RFC 7959) and with which block size. The `coap` library segments the body itself once a Block1
// option is set on the request (its first byte's low bits are the SZX, the block size is
// 16 << SZX); this file only chooses the SZX.
//
// ThingsBoard's limits (see reference dtls-coaps.md, "ThingsBoard's limits on the wire"):
// - CoAP (Californium): MAX_MESSAGE_SIZE 1024 and PREFERRED_BLOCK_SIZE 1024: a payload larger
//   than 1024 bytes goes block-wise, in blocks of at most 1024 bytes.
// - CoAPS (Scandium with max_fragment_length 1024): at most 1130 bytes are read per datagram;
//   a longer one is truncated and dropped without an alert. The URI carries the access token, so
//   the per-message overhead depends on the token's length: a 1024-byte block with a 32-character
//   token already needs 1130 bytes, with a longer token more. So the block size is the largest
//   power of two whose whole datagram (DTLS record + CoAP header, token, options, payload) fits.
import { TransportError } from '../transport';

/** ThingsBoard's MAX_MESSAGE_SIZE / PREFERRED_BLOCK_SIZE: the largest payload in one message. */
export const MAX_MESSAGE_PAYLOAD = 1024;
/** What ThingsBoard's DTLS server (Scandium, max_fragment_length 1024) reads of one datagram. */
export const COAPS_MAX_DATAGRAM = 1130;
/** The `coap` library's Agent gives every request an 8-byte CoAP token (agent.js _nextToken). */
const COAP_TOKEN_BYTES = 8;
const LARGEST_SZX = 6; // 1024 bytes

const OPTION_OBSERVE = 6;
const OPTION_URI_PATH = 11;
const OPTION_CONTENT_FORMAT = 12;
const OPTION_URI_QUERY = 15;
const OPTION_BLOCK1 = 27;
/** application/json = 50: one byte. */
const CONTENT_FORMAT_BYTES = 1;

/** What a socket allows per datagram (CoAPS: the DTLS record around each CoAP message). */
export interface DatagramLimit {
  /** Largest datagram on the wire, record overhead included. */
  maxDatagramBytes: number;
  /** Bytes the socket adds around each CoAP message (DTLS: header, explicit nonce, AEAD tag). */
  recordOverheadBytes: number;
}

/** CoAPS when the socket does not say: ThingsBoard's datagram, a DTLS 1.2 AEAD record with a 16-byte tag. */
export const COAPS_DEFAULT_LIMIT: DatagramLimit = { maxDatagramBytes: COAPS_MAX_DATAGRAM, recordOverheadBytes: 13 + 8 + 16 };

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
  return planRequest({ segments, contentFormat: true }, bodyLength, limit);
}

/** True when the request and its whole body fit in one message (no Block1 needed). */
export function fitsOneMessage(shape: RequestShape, bodyLength: number, limit?: DatagramLimit): boolean {
  const fixed = headerBytes(shape) + (limit?.recordOverheadBytes ?? 0);
  return bodyLength <= MAX_MESSAGE_PAYLOAD && fixed + payloadBytes(bodyLength) <= (limit?.maxDatagramBytes ?? Infinity);
}

/** planBlocks() for any request shape: the one datagram-size rule of the send and receive sides. */
export function planRequest(shape: RequestShape, bodyLength: number, limit?: DatagramLimit): BlockPlan {
  if (fitsOneMessage(shape, bodyLength, limit)) return undefined;
  const fixed = headerBytes(shape) + (limit?.recordOverheadBytes ?? 0);
  const max = limit?.maxDatagramBytes ?? Infinity;
  for (let szx = LARGEST_SZX; szx >= 0; szx--) {
    const block = 16 << szx;
    const lastNum = Math.max(0, Math.ceil(bodyLength / block) - 1);
    // The Block1 value grows with the block number (1, 2 or 3 bytes): size for the last block.
    const block1 = optionBytes(OPTION_BLOCK1 - lastOptionNumber(shape), blockValueBytes(lastNum));
    if (fixed + block1 + payloadBytes(block) <= max) return szx;
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

/** CoAP header, token and every option except Block1 (RFC 7252 §3, §3.1), in option-number order. */
export function headerBytes(shape: RequestShape): number {
  const options: Array<[number, number]> = [];
  if (shape.observe !== undefined) options.push([OPTION_OBSERVE, shape.observe === 0 ? 0 : 1]);
  for (const segment of shape.segments) options.push([OPTION_URI_PATH, segment.length]);
  if (shape.contentFormat) options.push([OPTION_CONTENT_FORMAT, CONTENT_FORMAT_BYTES]);
  for (const q of shape.query ?? []) options.push([OPTION_URI_QUERY, Buffer.byteLength(q)]);
  // header (version, type, token length, code, message ID) + token
  let n = 4 + (shape.tokenBytes ?? COAP_TOKEN_BYTES);
  let last = 0;
  for (const [number, length] of options) {
    n += optionBytes(number - last, length);
    last = number;
  }
  return n;
}

/** The option Block1 follows (its delta is counted from it). */
function lastOptionNumber(shape: RequestShape): number {
  if (shape.query && shape.query.length) return OPTION_URI_QUERY;
  if (shape.contentFormat) return OPTION_CONTENT_FORMAT;
  if (shape.segments.length) return OPTION_URI_PATH;
  return shape.observe !== undefined ? OPTION_OBSERVE : 0;
}

/** The payload and its 0xFF marker (absent for an empty payload). */
function payloadBytes(length: number): number {
  return length > 0 ? 1 + length : 0;
}

/** One option (RFC 7252 §3.1): a byte of delta/length nibbles, their extensions, the value. */
function optionBytes(delta: number, length: number): number {
  return 1 + extensionBytes(delta) + extensionBytes(length) + length;
}

function extensionBytes(value: number): number {
  return value < 13 ? 0 : value < 269 ? 1 : 2;
}

/** The Block1 value as the library encodes it (block.js generateBlockOption). */
function blockValueBytes(num: number): number {
  return num >= 4096 ? 3 : num >= 16 ? 2 : 1;
}
