// One X.509 certificate read from its DER (RFC 5280 §4.1, §4.2): the fields path validation needs,
// parsed strictly. node:crypto's X509Certificate (OpenSSL) is kept alongside for signature checks,
// the public key and host-name matching; everything policy-relevant is read here from the DER so
// nothing depends on printed text.
import { X509Certificate, KeyObject } from 'node:crypto';
import { Asn1Error, Tag, Tlv, children, contents, expect, parseDer, readBitFlags, readBoolean, readOid, readSmallInteger, readTime, readTlv, whole } from './asn1';

export const OID = {
  basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', extKeyUsage: '2.5.29.37', subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30', subjectKeyId: '2.5.29.14', authorityKeyId: '2.5.29.35', nsCertType: '2.16.840.1.113730.1.1',
  commonName: '2.5.4.3', emailAddress: '1.2.840.113549.1.9.1',
} as const;

/** Extensions OpenSSL understands and therefore accepts when marked critical (v3_purp.c supported_nids). */
const CRITICAL_OK = new Set([
  OID.nsCertType, OID.keyUsage, OID.subjectAltName, OID.basicConstraints, '2.5.29.32' /* certificatePolicies */,
  '2.5.29.31' /* cRLDistributionPoints */, OID.extKeyUsage, '1.3.6.1.5.5.7.1.7', '1.3.6.1.5.5.7.1.8' /* RFC 3779 */,
  '1.3.6.1.5.5.7.48.1.5' /* OCSP noCheck */, '2.5.29.36' /* policyConstraints */, '1.3.6.1.5.5.7.1.14' /* proxyCertInfo */,
  OID.nameConstraints, '2.5.29.33' /* policyMappings */, '2.5.29.54' /* inhibitAnyPolicy */,
]);

export type GeneralName =
  | { type: 'dns' | 'email' | 'uri'; value: string }
  | { type: 'ip'; value: Buffer }
  /** rdns: each RDN in canonical form (OpenSSL compares names case-folded, spaces collapsed); label for messages. */
  | { type: 'dir'; rdns: string[]; label: string }
  | { type: 'other'; tag: number };

export interface Subtree { base: GeneralName; minMax: boolean }
export interface NameConstraints { permitted: Subtree[]; excluded: Subtree[] }

export interface Certificate {
  der: Buffer;
  x509: X509Certificate;
  /** 1, 2 or 3. */
  version: number;
  tbs: Buffer;
  sigAlg: { oid: string; params: Buffer | null };
  issuer: string; subject: string; // canonical forms, for comparison only
  subjectRdns: string[];
  /** emailAddress attributes of the subject (name constraints treat them as rfc822 names). */
  subjectEmails: string[];
  /** Printable subject, e.g. CN=tb.example.com, O=Example. */
  label: string;
  commonNames: string[];
  notBefore: number; notAfter: number;
  basicConstraints: { ca: boolean; pathLen: number | null } | null;
  keyUsage: number | null;
  extKeyUsage: string[] | null;
  nsCertType: number | null;
  subjectAltNames: GeneralName[] | null;
  nameConstraints: NameConstraints | null;
  subjectKeyId: Buffer | null;
  authorityKeyId: Buffer | null;
  /** OIDs of critical extensions OpenSSL does not handle: such a certificate is refused. */
  unknownCritical: string[];
}

/** keyUsage bits as numbered in RFC 5280 §4.2.1.3 (bit 0 = digitalSignature). */
export const KU = { digitalSignature: 1 << 0, keyEncipherment: 1 << 2, keyAgreement: 1 << 4, keyCertSign: 1 << 5 };

/** Reads a certificate; throws Asn1Error (with what is wrong) on anything malformed. */
export function parseCertificate(der: Buffer): Certificate {
  const top = children(expect(parseDer(der), Tag.SEQUENCE, 'Certificate'));
  if (top.length !== 3) throw new Asn1Error('Certificate is not tbsCertificate, signatureAlgorithm, signature');
  const tbsTlv = expect(top[0], Tag.SEQUENCE, 'tbsCertificate');
  const sigAlg = readAlgorithm(top[1]);
  expect(top[2], Tag.BIT_STRING, 'signature');
  const f = children(tbsTlv);
  let i = 0;
  let version = 1;
  if (f[i]?.tag === 0xa0) {
    version = readSmallInteger(children(f[i])[0]) + 1;
    if (version > 3) throw new Asn1Error(`unknown certificate version ${version}`);
    i++;
  }
  expect(f[i++], Tag.INTEGER, 'serialNumber');
  const innerAlg = readAlgorithm(f[i++]);
  if (innerAlg.oid !== sigAlg.oid || !sameBytes(innerAlg.params, sigAlg.params)) throw new Asn1Error('the signature algorithm inside and outside the signed part differ');
  const issuerTlv = expect(f[i++], Tag.SEQUENCE, 'issuer');
  const validity = children(expect(f[i++], Tag.SEQUENCE, 'validity'));
  if (validity.length !== 2) throw new Asn1Error('validity is not notBefore, notAfter');
  const subjectTlv = expect(f[i++], Tag.SEQUENCE, 'subject');
  expect(f[i++], Tag.SEQUENCE, 'subjectPublicKeyInfo');
  while (f[i] && (f[i].tag === 0x81 || f[i].tag === 0xa1 || f[i].tag === 0x82 || f[i].tag === 0xa2)) i++; // unique IDs
  let extensions: Tlv | null = null;
  if (f[i]?.tag === 0xa3) {
    if (version !== 3) throw new Asn1Error('extensions in a certificate that is not version 3');
    extensions = expect(children(f[i++])[0], Tag.SEQUENCE, 'extensions');
  }
  if (i !== f.length) throw new Asn1Error('unexpected fields at the end of tbsCertificate');

  let x509: X509Certificate;
  try { x509 = new X509Certificate(der); } catch (err) { throw new Asn1Error(`OpenSSL cannot read it (${(err as Error).message})`); }
  const subject = readName(subjectTlv);
  const cert: Certificate = {
    der, x509, version, tbs: whole(tbsTlv), sigAlg,
    issuer: readName(issuerTlv).canonical, subject: subject.canonical, subjectRdns: subject.rdns, subjectEmails: subject.emails,
    label: subject.label || '(empty subject)', commonNames: subject.commonNames,
    notBefore: readTime(validity[0]), notAfter: readTime(validity[1]),
    basicConstraints: null, keyUsage: null, extKeyUsage: null, nsCertType: null, subjectAltNames: null,
    nameConstraints: null, subjectKeyId: null, authorityKeyId: null, unknownCritical: [],
  };
  if (extensions) readExtensions(cert, children(extensions));
  return cert;
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

function readAlgorithm(t: Tlv | undefined): { oid: string; params: Buffer | null } {
  const parts = children(expect(t, Tag.SEQUENCE, 'AlgorithmIdentifier'));
  if (parts.length < 1 || parts.length > 2) throw new Asn1Error('bad AlgorithmIdentifier');
  return { oid: readOid(parts[0]), params: parts[1] ? whole(parts[1]) : null };
}

const STRING_TAGS = new Set<number>([Tag.UTF8String, Tag.PrintableString, Tag.T61String, Tag.IA5String, Tag.BMPString, Tag.UniversalString]);
const SHORT_NAMES: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU', [OID.emailAddress]: 'emailAddress' };

function decodeString(t: Tlv): string {
  const b = contents(t);
  if (t.tag === Tag.BMPString) { const s: string[] = []; for (let k = 0; k + 1 < b.length; k += 2) s.push(String.fromCharCode(b.readUInt16BE(k))); return s.join(''); }
  if (t.tag === Tag.UniversalString) { const s: string[] = []; for (let k = 0; k + 3 < b.length; k += 4) s.push(String.fromCodePoint(b.readUInt32BE(k))); return s.join(''); }
  return t.tag === Tag.UTF8String ? b.toString('utf8') : b.toString('latin1');
}

/** A Name's canonical form (OpenSSL compares names case-folded with spaces collapsed) and a label for messages. */
function readName(t: Tlv): { canonical: string; rdns: string[]; label: string; commonNames: string[]; emails: string[] } {
  const canon: string[] = []; const label: string[] = []; const commonNames: string[] = []; const emails: string[] = [];
  for (const rdn of children(t)) {
    expect(rdn, Tag.SET, 'RelativeDistinguishedName');
    const parts: string[] = [];
    for (const atv of children(rdn)) {
      const [typeTlv, value] = children(expect(atv, Tag.SEQUENCE, 'AttributeTypeAndValue'));
      if (!value) throw new Asn1Error('attribute without a value');
      const type = readOid(typeTlv);
      const text = STRING_TAGS.has(value.tag) ? decodeString(value) : contents(value).toString('hex');
      parts.push(`${type}=${STRING_TAGS.has(value.tag) ? text.trim().replace(/\s+/g, ' ').toLowerCase() : '#' + text}`);
      label.push(`${SHORT_NAMES[type] ?? type}=${text}`);
      if (type === OID.commonName) commonNames.push(text);
      if (type === OID.emailAddress) emails.push(text);
    }
    canon.push(parts.sort().join('+'));
  }
  return { canonical: canon.join('/'), rdns: canon, label: label.reverse().join(', '), commonNames, emails };
}

function readExtensions(cert: Certificate, list: Tlv[]): void {
  const seen = new Set<string>();
  for (const ext of list) {
    const parts = children(expect(ext, Tag.SEQUENCE, 'Extension'));
    const oid = readOid(parts[0]);
    let critical = false;
    let k = 1;
    if (parts[k]?.tag === Tag.BOOLEAN) { critical = readBoolean(parts[k]); k++; }
    const octets = expect(parts[k], Tag.OCTET_STRING, `extension ${oid}`);
    if (k + 1 !== parts.length) throw new Asn1Error(`extension ${oid} has extra fields`);
    if (seen.has(oid)) throw new Asn1Error(`extension ${oid} appears twice`);
    seen.add(oid);
    if (critical && !CRITICAL_OK.has(oid)) cert.unknownCritical.push(oid);
    const body = contents(octets);
    const value = (): Tlv => { const v = readTlv(body, 0); if (v.end !== body.length) throw new Asn1Error(`extension ${oid} has trailing bytes`); return v; };
    try {
      switch (oid) {
        case OID.basicConstraints: {
          const bc = children(expect(value(), Tag.SEQUENCE, 'basicConstraints'));
          let j = 0; let ca = false; let pathLen: number | null = null;
          if (bc[j]?.tag === Tag.BOOLEAN) ca = readBoolean(bc[j++]);
          if (bc[j]) pathLen = readSmallInteger(bc[j++]);
          if (j !== bc.length || (pathLen !== null && !ca)) throw new Asn1Error('pathLenConstraint without cA, or extra fields');
          cert.basicConstraints = { ca, pathLen };
          break;
        }
        case OID.keyUsage: cert.keyUsage = readBitFlags(value()); break;
        case OID.nsCertType: cert.nsCertType = readBitFlags(value()); break;
        case OID.extKeyUsage: cert.extKeyUsage = children(expect(value(), Tag.SEQUENCE, 'extKeyUsage')).map(readOid); break;
        case OID.subjectAltName: cert.subjectAltNames = children(expect(value(), Tag.SEQUENCE, 'subjectAltName')).map(readGeneralName); break;
        case OID.nameConstraints: cert.nameConstraints = readNameConstraints(value()); break;
        case OID.subjectKeyId: cert.subjectKeyId = contents(expect(value(), Tag.OCTET_STRING, 'subjectKeyIdentifier')); break;
        case OID.authorityKeyId: {
          const keyId = children(expect(value(), Tag.SEQUENCE, 'authorityKeyIdentifier')).find((c) => c.tag === 0x80);
          cert.authorityKeyId = keyId ? contents(keyId) : null;
          break;
        }
        default: break;
      }
    } catch (err) {
      throw new Asn1Error(`its ${EXTENSION_NAMES[oid] ?? oid} extension is malformed (${(err as Error).message})`);
    }
  }
}

const EXTENSION_NAMES: Record<string, string> = {
  [OID.basicConstraints]: 'basicConstraints', [OID.keyUsage]: 'keyUsage', [OID.extKeyUsage]: 'extendedKeyUsage',
  [OID.subjectAltName]: 'subjectAltName', [OID.nameConstraints]: 'nameConstraints', [OID.nsCertType]: 'nsCertType',
  [OID.subjectKeyId]: 'subjectKeyIdentifier', [OID.authorityKeyId]: 'authorityKeyIdentifier',
};

export function readGeneralName(t: Tlv): GeneralName {
  switch (t.tag) {
    case 0x81: return { type: 'email', value: contents(t).toString('latin1') };
    case 0x82: return { type: 'dns', value: contents(t).toString('latin1') };
    case 0x86: return { type: 'uri', value: contents(t).toString('latin1') };
    case 0x87: return { type: 'ip', value: Buffer.from(contents(t)) };
    case 0xa4: {
      const name = children(t);
      if (name.length !== 1) throw new Asn1Error('bad directoryName');
      const n = readName(name[0]);
      return { type: 'dir', rdns: n.rdns, label: n.label };
    }
    default: return { type: 'other', tag: t.tag };
  }
}

function readNameConstraints(t: Tlv): NameConstraints {
  const nc: NameConstraints = { permitted: [], excluded: [] };
  for (const part of children(expect(t, Tag.SEQUENCE, 'nameConstraints'))) {
    if (part.tag !== 0xa0 && part.tag !== 0xa1) throw new Asn1Error('unknown field');
    const list = children(part).map((sub) => {
      const [base, ...minMax] = children(expect(sub, Tag.SEQUENCE, 'GeneralSubtree'));
      if (!base) throw new Asn1Error('empty GeneralSubtree');
      // DER omits minimum 0; OpenSSL refuses any explicit minimum or maximum.
      return { base: readGeneralName(base), minMax: minMax.length > 0 };
    });
    (part.tag === 0xa0 ? nc.permitted : nc.excluded).push(...list);
  }
  return nc;
}

/** The public key, or null when OpenSSL cannot use it (unknown algorithm or curve). */
export function publicKeyOf(cert: Certificate): KeyObject | null {
  try { return cert.x509.publicKey; } catch { return null; }
}
