// A strict DER reader: just enough ASN.1 for X.509 path validation (RFC 5280 §4, X.690 §10).
// Every malformed input throws Asn1Error; callers turn it into a DtlsError naming the certificate.
export class Asn1Error extends Error {}

export interface Tlv {
  tag: number;
  /** Offset of the tag byte, of the contents, and one past the contents. */
  offset: number; start: number; end: number;
  der: Buffer;
}

export const Tag = {
  BOOLEAN: 0x01, INTEGER: 0x02, BIT_STRING: 0x03, OCTET_STRING: 0x04, NULL: 0x05, OID: 0x06,
  UTF8String: 0x0c, PrintableString: 0x13, T61String: 0x14, IA5String: 0x16, UTCTime: 0x17,
  GeneralizedTime: 0x18, UniversalString: 0x1c, BMPString: 0x1e, SEQUENCE: 0x30, SET: 0x31,
} as const;

/** Reads one TLV at `pos`; its contents must end at or before `limit`. DER lengths only (no indefinite form). */
export function readTlv(der: Buffer, pos: number, limit = der.length): Tlv {
  if (pos + 2 > limit) throw new Asn1Error('truncated DER');
  const tag = der[pos];
  if ((tag & 0x1f) === 0x1f) throw new Asn1Error('multi-byte DER tags are not used in X.509');
  let len = der[pos + 1];
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new Asn1Error('indefinite length is not DER');
    if (n > 4 || start + n > limit) throw new Asn1Error('bad DER length');
    len = der.readUIntBE(start, n);
    if (len < 0x80 || (n > 1 && der[start] === 0)) throw new Asn1Error('non-minimal DER length');
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Asn1Error('truncated DER');
  return { tag, offset: pos, start, end, der };
}

/** The TLVs inside a constructed TLV, which must fill it exactly. */
export function children(parent: Tlv): Tlv[] {
  if (!(parent.tag & 0x20)) throw new Asn1Error(`tag 0x${parent.tag.toString(16)} is not constructed`);
  const out: Tlv[] = [];
  for (let p = parent.start; p < parent.end;) {
    const t = readTlv(parent.der, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

/** Parses a whole buffer as exactly one TLV: trailing bytes are an error. */
export function parseDer(der: Buffer): Tlv {
  const t = readTlv(der, 0, der.length);
  if (t.end !== der.length) throw new Asn1Error(`${der.length - t.end} trailing byte(s) after the DER`);
  return t;
}

export function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new Asn1Error(`${what}: expected tag 0x${tag.toString(16)}, found ${t ? '0x' + t.tag.toString(16) : 'nothing'}`);
  return t;
}

export function contents(t: Tlv): Buffer { return t.der.subarray(t.start, t.end); }
export function whole(t: Tlv): Buffer { return t.der.subarray(t.offset, t.end); }

export function readOid(t: Tlv): string {
  expect(t, Tag.OID, 'OBJECT IDENTIFIER');
  const b = contents(t);
  if (b.length === 0 || b[b.length - 1] & 0x80) throw new Asn1Error('bad OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    if (v === 0 && b[i] === 0x80) throw new Asn1Error('non-minimal OBJECT IDENTIFIER arc');
    v = v * 128 + (b[i] & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new Asn1Error('OBJECT IDENTIFIER arc too large');
    if (!(b[i] & 0x80)) { arcs.push(v); v = 0; }
  }
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

export function readBoolean(t: Tlv): boolean {
  expect(t, Tag.BOOLEAN, 'BOOLEAN');
  const b = contents(t);
  if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw new Asn1Error('BOOLEAN is not DER');
  return b[0] === 0xff;
}

/** A non-negative INTEGER small enough for a JS number (pathLenConstraint, version). */
export function readSmallInteger(t: Tlv): number {
  expect(t, Tag.INTEGER, 'INTEGER');
  const b = contents(t);
  if (b.length === 0 || b[0] & 0x80) throw new Asn1Error('INTEGER is empty or negative');
  if (b.length > 1 && b[0] === 0 && !(b[1] & 0x80)) throw new Asn1Error('INTEGER is not minimal');
  if (b.length > 6) throw new Asn1Error('INTEGER too large');
  return b.readUIntBE(0, b.length);
}

/** A BIT STRING's bits as a number: bit 0 is the first (most significant) bit. Reads up to 16 bits. */
export function readBitFlags(t: Tlv): number {
  expect(t, Tag.BIT_STRING, 'BIT STRING');
  const b = contents(t);
  if (b.length === 0 || b[0] > 7 || (b.length === 1 && b[0] !== 0)) throw new Asn1Error('bad BIT STRING');
  let bits = 0;
  for (let i = 1; i < Math.min(b.length, 3); i++) {
    for (let k = 0; k < 8; k++) if (b[i] & (0x80 >> k)) bits |= 1 << ((i - 1) * 8 + k);
  }
  return bits;
}

const DIGITS = /^[0-9]+$/;

/**
 * UTCTime or GeneralizedTime as RFC 5280 §4.1.2.5 requires them: UTC ("Z"), seconds present, no
 * fractions. UTCTime's two-digit year YY means 19YY when YY >= 50, else 20YY. Returns ms since epoch.
 */
export function readTime(t: Tlv): number {
  const text = contents(t).toString('latin1');
  let year: number; let rest: string;
  if (t.tag === Tag.UTCTime) {
    if (text.length !== 13) throw new Asn1Error(`UTCTime "${text}" is not YYMMDDHHMMSSZ`);
    const yy = Number(text.slice(0, 2));
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = text.slice(2);
  } else if (t.tag === Tag.GeneralizedTime) {
    if (text.length !== 15) throw new Asn1Error(`GeneralizedTime "${text}" is not YYYYMMDDHHMMSSZ`);
    year = Number(text.slice(0, 4));
    rest = text.slice(4);
  } else {
    throw new Asn1Error(`tag 0x${t.tag.toString(16)} is not a time`);
  }
  if (rest[10] !== 'Z' || !DIGITS.test(rest.slice(0, 10)) || !DIGITS.test(t.tag === Tag.UTCTime ? text.slice(0, 2) : text.slice(0, 4))) {
    throw new Asn1Error(`time "${text}" is malformed`);
  }
  const [mo, d, h, mi, s] = [0, 2, 4, 6, 8].map((i) => Number(rest.slice(i, i + 2)));
  const days = new Date(Date.UTC(year, mo, 0)).getUTCDate(); // days in month `mo` (1-based)
  if (mo < 1 || mo > 12 || d < 1 || d > days || h > 23 || mi > 59 || s > 59) throw new Asn1Error(`time "${text}" is not a valid date`);
  const ms = Date.UTC(year, mo - 1, d, h, mi, s);
  // Date.UTC maps years 0..99 to 1900..1999; GeneralizedTime years that small need setUTCFullYear.
  if (year < 100) { const date = new Date(ms); date.setUTCFullYear(year); return date.getTime(); }
  return ms;
}
