// Connection ID for DTLS 1.2 (RFC 9146). We offer the connection_id extension with a
// zero-length CID of our own: the server may name the association by a CID it picks, which we
// then put into every protected record we send, so the server still finds our session after a
// NAT gives us a new address and port. With our zero-length CID the server's records to us keep
// the RFC 6347 format (RFC 9146 3: a zero-length CID means "do not use one when sending to me").
// A server that does not echo the extension (OpenSSL, GnuTLS, libcoap) gets plain records.
import { ByteReader, vec8 } from './bytes';
import { protocolError } from '../errors';
import { AlertDescription } from './alert';
import { writeRecordPrefix } from './record';
import type { Extension } from './extensions';
import { EXPLICIT_NONCE_LENGTH, type RecordKey } from '../crypto/ciphersuites';

/** The connection_id extension's code point (RFC 9146 3). */
export const CONNECTION_ID_EXTENSION = 54;
/** The record content type of a record that carries a CID (RFC 9146 4). */
export const TLS12_CID = 25;
/** RFC 9146 5: eight 0xff bytes where RFC 5246's additional data starts with seq_num. */
const SEQ_NUM_PLACEHOLDER = Buffer.alloc(8, 0xff);

/** Our offer: cid<0..255> with no bytes, i.e. we ask the server not to address us by a CID. */
export function connectionIdExtension(): Extension {
  return { type: CONNECTION_ID_EXTENSION, data: vec8(Buffer.alloc(0)) };
}

/** The CID the server asks us to send with (its ServerHello's connection_id extension). */
export function parseConnectionIdExtension(data: Buffer): Buffer {
  const r = new ByteReader(data, 'connection_id extension');
  const cid = r.vec8();
  if (r.remaining !== 0) throw protocolError('the connection_id extension has trailing bytes', AlertDescription.decode_error);
  return Buffer.from(cid);
}

/**
 * RFC 9146 5 (AEAD ciphers): seq_num_placeholder + tls12_cid + cid_length + tls12_cid +
 * version + epoch + sequence_number + cid + length_of_DTLSInnerPlaintext.
 */
export function cidAdditionalData(version: number, epoch: number, sequence: number, cid: Buffer, innerLength: number): Buffer {
  const out = Buffer.allocUnsafe(10 + cidHeaderLength(cid));
  SEQ_NUM_PLACEHOLDER.copy(out, 0);
  out[8] = TLS12_CID;
  out[9] = cid.length;
  // From here the additional data is the record's header, with the inner plaintext's length.
  writeCidHeader(out, 10, version, epoch, sequence, cid, innerLength);
  return out;
}

/** Bytes of a tls12_cid record header: type, version, epoch, 48-bit sequence, the CID, length. */
function cidHeaderLength(cid: Buffer): number {
  return 11 + cid.length + 2;
}

/** Writes a tls12_cid record header at `at` (RFC 9146 4), with `length` in its length field. */
function writeCidHeader(out: Buffer, at: number, version: number, epoch: number, sequence: number, cid: Buffer, length: number): void {
  writeRecordPrefix(out, at, TLS12_CID, version, epoch, sequence);
  cid.copy(out, at + 11);
  out.writeUInt16BE(length, at + 11 + cid.length);
}

/** Bytes a tls12_cid record adds over an RFC 6347 record with the same key: the CID and the inner type. */
export function cidOverhead(cid: Buffer): number {
  return cid.length + 1;
}

/**
 * One protected tls12_cid record (RFC 9146 4): type 25, version, epoch, sequence, the CID,
 * length, then explicit nonce + AEAD(DTLSInnerPlaintext = content + real type, no padding) + tag.
 */
export function sealCidRecord(key: RecordKey, version: number, epoch: number, sequence: number, cid: Buffer, type: number, content: Buffer): Buffer {
  const inner = Buffer.allocUnsafe(content.length + 1);
  content.copy(inner, 0);
  inner[content.length] = type;
  const headerLength = cidHeaderLength(cid);
  const bodyLength = EXPLICIT_NONCE_LENGTH + inner.length + key.tagLength;
  const record = Buffer.allocUnsafe(headerLength + bodyLength);
  writeCidHeader(record, 0, version, epoch, sequence, cid, bodyLength);
  // The explicit nonce is the record's epoch + sequence, as in an RFC 6347 record (RFC 9146 4).
  record.copy(record, headerLength, 3, 3 + EXPLICIT_NONCE_LENGTH);
  key.sealInto(record, headerLength, cidAdditionalData(version, epoch, sequence, cid, inner.length), inner);
  return record;
}
