// Just enough DER to read the X.509 keyUsage extension, which node's X509Certificate does not
// expose (its `keyUsage` property is the *extended* key usage). Throws on anything malformed.
interface Tlv { tag: number; start: number; end: number; next: number }

function readTlv(der: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Error('DER truncated');
  const tag = der[pos];
  let len = der[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error('DER bad length');
    len = der.readUIntBE(start, n);
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error('DER truncated');
  return { tag, start, end, next: end };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = parent.start; p < parent.end;) { const t = readTlv(der, p, parent.end); out.push(t); p = t.next; }
  return out;
}

const KEY_USAGE_OID = Buffer.from([0x55, 0x1d, 0x0f]); // 2.5.29.15

/** The keyUsage bits (bit 0 = digitalSignature, ...) or null when the extension is absent. */
export function keyUsageBits(certDer: Buffer): number | null {
  const cert = readTlv(certDer, 0, certDer.length);
  const tbs = children(certDer, cert)[0];
  const extsWrapper = children(certDer, tbs).find((t) => t.tag === 0xa3);
  if (!extsWrapper) return null;
  const exts = children(certDer, extsWrapper)[0];
  for (const ext of children(certDer, exts)) {
    const parts = children(certDer, ext);
    if (parts[0]?.tag !== 0x06 || !certDer.subarray(parts[0].start, parts[0].end).equals(KEY_USAGE_OID)) continue;
    const octets = parts[parts.length - 1];
    const bitString = readTlv(certDer, octets.start, octets.end);
    if (bitString.tag !== 0x03 || bitString.end - bitString.start < 1) throw new Error('keyUsage is not a BIT STRING');
    let bits = 0;
    const bytes = certDer.subarray(bitString.start + 1, bitString.end);
    for (let i = 0; i < Math.min(bytes.length, 2); i++) {
      for (let b = 0; b < 8; b++) if (bytes[i] & (0x80 >> b)) bits |= 1 << (i * 8 + b);
    }
    return bits;
  }
  return null;
}

export const KeyUsage = { digitalSignature: 1 << 0, keyEncipherment: 1 << 2, keyAgreement: 1 << 4, keyCertSign: 1 << 5 };
