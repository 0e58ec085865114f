// Handshake message framing (RFC 6347 4.2.2): 12-byte header with message_seq and fragment
// offset/length, so one message may span several records and records may arrive in any order.
import { ByteReader, u16, u24, u8 } from './bytes';
import { protocolError } from '../errors';

export enum HandshakeType {
  hello_request = 0,
  client_hello = 1,
  server_hello = 2,
  hello_verify_request = 3,
  certificate = 11,
  server_key_exchange = 12,
  certificate_request = 13,
  server_hello_done = 14,
  certificate_verify = 15,
  client_key_exchange = 16,
  finished = 20,
}

export const HANDSHAKE_HEADER_LENGTH = 12;
/** No handshake message we accept is bigger than this (a long certificate chain fits easily). */
export const MAX_HANDSHAKE_MESSAGE = 64 * 1024;

export interface HandshakeFragment {
  type: number;
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  fragment: Buffer;
}

/** A whole handshake message. */
export interface HandshakeMessage {
  type: number;
  messageSeq: number;
  body: Buffer;
}

export function encodeFragmentHeader(type: number, length: number, seq: number, offset: number, fragLength: number): Buffer {
  return Buffer.concat([u8(type), u24(length), u16(seq), u24(offset), u24(fragLength)]);
}

/** The message as it enters the transcript hash: one fragment covering the whole body. */
export function encodeHandshakeMessage(m: HandshakeMessage): Buffer {
  return Buffer.concat([encodeFragmentHeader(m.type, m.body.length, m.messageSeq, 0, m.body.length), m.body]);
}

/** Splits a message into fragments whose encoded size (header + data) is at most maxSize. */
export function fragmentHandshakeMessage(m: HandshakeMessage, maxSize: number): Buffer[] {
  const room = Math.max(1, maxSize - HANDSHAKE_HEADER_LENGTH);
  const out: Buffer[] = [];
  let offset = 0;
  do {
    const piece = m.body.subarray(offset, offset + room);
    out.push(Buffer.concat([encodeFragmentHeader(m.type, m.body.length, m.messageSeq, offset, piece.length), piece]));
    offset += piece.length;
  } while (offset < m.body.length);
  return out;
}

/**
 * Parses the handshake fragments carried in one record body; at most `limit` of them (the rest
 * of the record is not even read: the caller bounds its work per datagram).
 */
export function parseHandshakeFragments(recordBody: Buffer, limit = Infinity): HandshakeFragment[] {
  const out: HandshakeFragment[] = [];
  const r = new ByteReader(recordBody, 'handshake fragment');
  while (r.remaining > 0 && out.length < limit) {
    const type = r.u8();
    const length = r.u24();
    const messageSeq = r.u16();
    const fragmentOffset = r.u24();
    const fragLength = r.u24();
    const fragment = r.bytes(fragLength);
    if (length > MAX_HANDSHAKE_MESSAGE) throw protocolError(`handshake message of ${length} bytes is too big`);
    if (fragmentOffset + fragLength > length) throw protocolError('handshake fragment lies outside its message');
    out.push({ type, length, messageSeq, fragmentOffset, fragment });
  }
  return out;
}
