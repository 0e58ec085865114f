// DTLS record layer framing (RFC 6347 4.1): 13-byte header, several records per datagram.

export enum ContentType {
  change_cipher_spec = 20,
  alert = 21,
  handshake = 22,
  application_data = 23,
}

export const DTLS_1_2 = 0xfefd;
/** Some servers send their first flight as DTLS 1.0 (0xfeff) in the record header. */
export const DTLS_1_0 = 0xfeff;
export const RECORD_HEADER_LENGTH = 13;
/** 2^14 plaintext plus the AEAD expansion we may meet (8 explicit nonce + 16 tag) and slack. */
export const MAX_RECORD_BODY = 16384 + 2048;

export interface DtlsRecord {
  type: number;
  version: number;
  epoch: number;
  sequence: number; // 48-bit, safe as a JS number
  body: Buffer;
}

/**
 * Writes the 11 bytes every record header starts with at `out[offset..]`: type, version, epoch
 * and the 48-bit sequence number (RFC 6347 4.1; a tls12_cid header goes on with its CID, RFC 9146 4).
 */
export function writeRecordPrefix(out: Buffer, offset: number, type: number, version: number, epoch: number, sequence: number): void {
  out[offset] = type;
  out.writeUInt16BE(version, offset + 1);
  out.writeUInt16BE(epoch, offset + 3);
  // 48-bit sequence as 16 + 32 bits: exact for any integer below 2^48 (ToUint32 is modulo 2^32).
  out.writeUInt16BE(Math.floor(sequence / 0x100000000), offset + 5);
  out.writeUInt32BE(sequence >>> 0, offset + 7);
}

/** Writes a 13-byte record header at `out[offset..]`. */
export function writeRecordHeader(out: Buffer, offset: number, type: number, version: number, epoch: number, sequence: number, length: number): void {
  writeRecordPrefix(out, offset, type, version, epoch, sequence);
  out.writeUInt16BE(length, offset + 11);
}

export function encodeRecord(r: DtlsRecord): Buffer {
  const out = Buffer.alloc(RECORD_HEADER_LENGTH + r.body.length);
  writeRecordHeader(out, 0, r.type, r.version, r.epoch, r.sequence, r.body.length);
  r.body.copy(out, RECORD_HEADER_LENGTH);
  return out;
}

/** The 48-bit sequence number of the record header at `d[at..]`, read as 16 + 32 bits: exact in a double. */
export function readSequence(d: Buffer, at: number): number {
  return ((d[at + 5] << 8) | d[at + 6]) * 0x100000000 + (((d[at + 7] << 24) | (d[at + 8] << 16) | (d[at + 9] << 8) | d[at + 10]) >>> 0);
}

/**
 * Splits a datagram into records. A record with an impossible header ends the parse: the rest of
 * the datagram is dropped (RFC 6347 4.1.2.7: invalid records are discarded, not fatal). At most
 * `limit` records are returned; the rest of the datagram is not read.
 */
export function parseDatagram(datagram: Buffer, limit = Infinity): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  // Read in place (this runs for every datagram of an established session): every read below is
  // inside `datagram`, since the loop only enters with a whole header left and a body is taken
  // only when it fits.
  const d = datagram;
  const end = d.length;
  let pos = 0;
  while (end - pos >= RECORD_HEADER_LENGTH && out.length < limit) {
    const type = d[pos];
    const version = (d[pos + 1] << 8) | d[pos + 2];
    const epoch = (d[pos + 3] << 8) | d[pos + 4];
    const sequence = readSequence(d, pos);
    const length = (d[pos + 11] << 8) | d[pos + 12];
    pos += RECORD_HEADER_LENGTH;
    if (length > end - pos || length > MAX_RECORD_BODY) break;
    const at = pos;
    pos += length;
    if (type < 20 || type > 23) continue;
    if (version !== DTLS_1_2 && version !== DTLS_1_0) continue;
    out.push({ type, version, epoch, sequence, body: d.subarray(at, pos) });
  }
  return out;
}
