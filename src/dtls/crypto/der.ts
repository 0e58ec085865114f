// Just enough DER for what the handshake itself checks on the server's certificate: that each
// entry of the Certificate message is exactly one DER element, and the leaf's keyUsage bits
// (node:crypto does not expose them). Trust in the chain is decided by OpenSSL (src/dtls/trust/).
export class DerError extends Error {}

export interface Tlv { tag: number; start: number; end: number; der: Buffer }

/** One TLV at `pos`, its contents within `limit`. Definite, minimal lengths only (X.690 10.1). */
export function readTlv(der: Buffer, pos: number, limit = der.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated DER');
  const tag = der[pos];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte DER tags are not used in X.509');
  let len = der[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4 || start + n > limit) throw new DerError('bad DER length');
    len = der.readUIntBE(start, n);
    if (len < 0x80 || (n > 1 && der[start] === 0)) throw new DerError('non-minimal DER length');
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new DerError('truncated DER');
  return { tag, start, end, der };
}

/** The elements inside a constructed element. */
export function children(parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.start; p < parent.end;) {
    const t = readTlv(parent.der, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

const KEY_USAGE_OID = Buffer.from([0x55, 0x1d, 0x0f]); // 2.5.29.15

/**
 * The first byte of the certificate's keyUsage bits (digitalSignature is 0x80), or null when it
 * has no keyUsage extension. Read as OpenSSL reads it (bits past the BIT STRING's length are 0).
 */
export function keyUsageFirstByte(certDer: Buffer): number | null {
  const tbs = children(readTlv(certDer, 0))[0];
  const exts = children(tbs).find((t) => t.tag === 0xa3);
  if (!exts) return null;
  for (const ext of children(children(exts)[0])) {
    const [oid, ...rest] = children(ext);
    if (!oid || oid.tag !== 0x06 || !certDer.subarray(oid.start, oid.end).equals(KEY_USAGE_OID)) continue;
    const value = rest[rest.length - 1];
    const bits = readTlv(certDer, value.start, value.end);
    if (bits.tag !== 0x03 || bits.end - bits.start < 1) throw new DerError('keyUsage is not a BIT STRING');
    if (bits.end - bits.start === 1) return 0;
    const unused = certDer[bits.start] & 7;
    const first = certDer[bits.start + 1];
    return bits.end - bits.start === 2 ? first & (0xff << unused) : first;
  }
  return null;
}
