// Certification path building and validation (RFC 5280 §6) with the semantics of OpenSSL's
// X509_verify_cert as Node's `tls` runs it for a client (purpose "ssl_server", security level 1,
// trusted-first, no partial chains unless asked): paths are built from the server's certificates
// (any order; the root may or may not be included) and the user's bundle, and end at a
// SELF-SIGNED certificate of the bundle, or — only with allowPartialChain — at the first bundle
// certificate reached. Every rule that fails throws a DtlsError naming the certificate and the rule.
//
// Why not pkijs (PeculiarVentures, maintained): its CertificateChainValidationEngine is async
// (WebCrypto) while the handshake verifies synchronously; it does not check extendedKeyUsage, key
// sizes or digests; it trusts a path whose self-signed top is untrusted when any certificate in it
// is in the bundle; it refuses a self-signed server certificate (not a CA) as its own anchor; its
// errors do not name the certificate. What we would keep from it (DER reading) is small, and
// node:crypto (OpenSSL) does signatures, keys and host names.
import { DtlsError, DtlsErrorCode } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { Certificate, KU, publicKeyOf } from './certificate';
import { checkCertificateNames } from './names';
import { MIN_BITS, keyStrength, signatureStrength } from './policy';

/** Longest path we build, leaf and anchor included. OpenSSL allows 100; no real chain has more than 5. */
export const MAX_PATH_LENGTH = 10;
/** Bound on the work a hostile chain can cause (candidate links tried, complete paths validated). */
const MAX_STEPS = 400;
const MAX_PATHS = 16;

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const NS_SGC = '2.16.840.1.113730.4.1';
const MS_SGC = '1.3.6.1.4.1.311.10.3.3';

export interface PathOptions {
  /** The user's CA bundle. */
  anchors: Certificate[];
  /** Every other certificate the server sent. */
  untrusted: Certificate[];
  now: number;
  /** Like X509_V_FLAG_PARTIAL_CHAIN: any bundle certificate may end the path. */
  allowPartialChain?: boolean;
}

function fail(code: DtlsErrorCode, message: string, alert: AlertDescription): never {
  throw new DtlsError(code, message, { sendAlert: alert });
}

const q = (c: Certificate): string => `"${c.label}"`;

export function selfIssued(c: Certificate): boolean {
  return c.subject === c.issuer;
}

/** OpenSSL's ossl_x509_likely_issued: names chain and the key identifiers, when both present, agree. */
function mayHaveIssued(issuer: Certificate, child: Certificate): boolean {
  if (child.issuer !== issuer.subject) return false;
  if (child.authorityKeyId && issuer.subjectKeyId && !child.authorityKeyId.equals(issuer.subjectKeyId)) return false;
  return true;
}

/** EXFLAG_SS: self-issued and its own key identifiers agree. */
export function selfSigned(c: Certificate): boolean {
  return mayHaveIssued(c, c);
}

const same = (a: Certificate, b: Certificate): boolean => a.der.equals(b.der);

/** Builds candidate paths leaf → … → trusted certificate and returns the first that validates. */
export function buildAndValidate(leaf: Certificate, opts: PathOptions): Certificate[] {
  const trusted = (c: Certificate): boolean => opts.anchors.some((a) => same(a, c));
  const timeValid = (c: Certificate): boolean => c.notBefore <= opts.now && opts.now <= c.notAfter;
  let steps = 0;
  let paths = 0;
  let firstError: unknown = null;
  let tooLong = false;
  let loop: { at: Certificate; back: Certificate } | null = null; // an issuer that is already in the path
  let untrustedTop: Certificate | null = null; // the highest certificate of the longest untrusted path
  let untrustedDepth = -1;
  let trustedDeadEnd: Certificate | null = null; // a bundle certificate that is not self-signed and has no issuer

  const issuersOf = (c: Certificate, path: Certificate[]): Certificate[] => {
    // Trusted first (as OpenSSL), time-valid before expired, never a certificate already in the path.
    const pick = (list: Certificate[]): Certificate[] => list.filter((i) => {
      if (!mayHaveIssued(i, c)) return false;
      if (!path.some((p) => same(p, i))) return true;
      if (!same(i, c)) loop ??= { at: c, back: i };
      return false;
    });
    const all = [...pick(opts.anchors), ...pick(opts.untrusted).filter((u) => !trusted(u))];
    return all.filter(timeValid).concat(all.filter((x) => !timeValid(x)));
  };

  const tryPath = (path: Certificate[]): Certificate[] | null => {
    paths++;
    try { validatePath(path, opts.now); return path; } catch (err) { firstError ??= err; return null; }
  };

  const walk = (path: Certificate[]): Certificate[] | null => {
    if (++steps > MAX_STEPS || paths >= MAX_PATHS) return null;
    const top = path[path.length - 1];
    // With partial chains, OpenSSL stops at the first bundle certificate it reaches: nothing above
    // it (not even an expired root that is also in the bundle) is looked at.
    if (trusted(top) && (selfSigned(top) || opts.allowPartialChain)) return tryPath(path);
    if (path.length >= MAX_PATH_LENGTH) { tooLong = true; return null; }
    for (const issuer of issuersOf(top, path)) {
      const found = walk([...path, issuer]);
      if (found) return found;
    }
    if (trusted(top)) trustedDeadEnd ??= top;
    else if (path.length > untrustedDepth) { untrustedDepth = path.length; untrustedTop = top; }
    return null;
  };

  const found = walk([leaf]);
  if (found) return found;
  if (firstError) throw firstError;
  if (tooLong || steps > MAX_STEPS) {
    fail('UNKNOWN_CA', `untrusted certificate: no path from the server's certificate ${q(leaf)} to a CA of the bundle within ${MAX_PATH_LENGTH} certificates (the chain is too long or loops)`, AlertDescription.unknown_ca);
  }
  const top = untrustedTop ?? leaf;
  if (top === leaf && selfSigned(leaf)) {
    fail('UNKNOWN_CA', `untrusted certificate: the server's certificate ${q(leaf)} is self-signed and is not in the CA bundle (paste this certificate itself as the CA to pin it)`, AlertDescription.unknown_ca);
  }
  const looped = loop as { at: Certificate; back: Certificate } | null;
  if (looped && !trustedDeadEnd) {
    fail('UNKNOWN_CA', `untrusted certificate: the server's chain loops (${q(looped.at)} is issued by ${q(looped.back)}, which is already in the path) and reaches no CA of the bundle`, AlertDescription.unknown_ca);
  }
  const dead = trustedDeadEnd as Certificate | null;
  if (dead) {
    fail('UNKNOWN_CA', `untrusted certificate: the CA bundle holds ${q(dead)}, which is not self-signed, but not the root CA above it (issuer "${issuerLabel(dead, opts)}"); add that root to the bundle, or turn on "allow partial chain" to trust a certificate that is not a root`, AlertDescription.unknown_ca);
  }
  if (selfSigned(top)) {
    fail('UNKNOWN_CA', `untrusted certificate: the server's chain ends at the root ${q(top)}, which is not in the CA bundle`, AlertDescription.unknown_ca);
  }
  const sameName = opts.anchors.find((a) => a.subject === top.issuer);
  const why = sameName
    ? `its issuer "${sameName.label}" is in the CA bundle, but with another key (authority key identifier mismatch)`
    : `the issuer "${issuerLabel(top, opts)}" of ${top === leaf ? 'it' : q(top)} is not in the CA bundle`;
  fail('UNKNOWN_CA', `untrusted certificate: the server's certificate ${q(leaf)} is not issued by a CA in the CA bundle: ${why}`, AlertDescription.unknown_ca);
}

function issuerLabel(c: Certificate, opts: PathOptions): string {
  return [...opts.anchors, ...opts.untrusted].find((x) => x.subject === c.issuer)?.label ?? c.x509.issuer.split('\n').reverse().join(', ');
}

/** OpenSSL's check_ca: 0 not a CA, 1 a CA by basicConstraints, 3 a v1 self-signed root, 4 keyUsage keyCertSign only. */
function caKind(c: Certificate): number {
  if (c.keyUsage !== null && !(c.keyUsage & KU.keyCertSign)) return 0;
  if (c.basicConstraints) return c.basicConstraints.ca ? 1 : 0;
  if (c.version === 1 && selfSigned(c)) return 3;
  if (c.keyUsage !== null) return 4;
  return 0;
}

const allowsServerAuth = (eku: string[] | null): boolean => eku === null || eku.includes(SERVER_AUTH) || eku.includes(NS_SGC) || eku.includes(MS_SGC);

/** Validates one complete path: path[0] the server's certificate, path[n] the trusted certificate ending it. */
export function validatePath(path: Certificate[], now: number): void {
  const n = path.length - 1;
  const role = (i: number): string => (i === 0 ? `the server's certificate ${q(path[i])}` : i === n ? `the CA ${q(path[i])}` : `the intermediate ${q(path[i])}`);

  checkKey(path[0], role(0), 'the server');

  let plen = 0;
  for (let i = 0; i <= n; i++) {
    const c = path[i];
    if (c.unknownCritical.length) {
      fail('BAD_CERTIFICATE', `${role(i)} has a critical extension that is not understood (${c.unknownCritical.join(', ')}), so it must be refused`, AlertDescription.unsupported_certificate);
    }
    if (i === 0) {
      if (!allowsServerAuth(c.extKeyUsage)) fail('BAD_CERTIFICATE', `${role(0)} is not for TLS servers: its extendedKeyUsage lacks serverAuth`, AlertDescription.unsupported_certificate);
      if (c.nsCertType !== null && !(c.nsCertType & (1 << 1))) fail('BAD_CERTIFICATE', `${role(0)} is not for TLS servers: its Netscape cert type lacks SSL server`, AlertDescription.unsupported_certificate);
      if (c.keyUsage !== null && !(c.keyUsage & KU.digitalSignature)) {
        fail('BAD_CERTIFICATE', `${role(0)} may not be used for signatures (its keyUsage lacks digitalSignature), so it cannot sign the DTLS key exchange`, AlertDescription.unsupported_certificate);
      }
    } else {
      const kind = caKind(c);
      if (kind === 0 || (i < n && kind !== 1)) {
        const why = c.keyUsage !== null && !(c.keyUsage & KU.keyCertSign) ? 'its keyUsage lacks keyCertSign'
          : c.basicConstraints ? 'its basicConstraints say it is not a CA'
            : c.version === 1 ? 'it is a version 1 certificate without basicConstraints (only a self-signed v1 root may act as CA)' : 'it has no basicConstraints CA:TRUE';
        fail('BAD_CERTIFICATE', `${role(i)} may not issue certificates: ${why}`, AlertDescription.unknown_ca);
      }
      if (!allowsServerAuth(c.extKeyUsage)) fail('BAD_CERTIFICATE', `${role(i)} may not issue TLS server certificates: its extendedKeyUsage lacks serverAuth`, AlertDescription.unsupported_certificate);
      const pathLen = c.basicConstraints?.pathLen ?? null;
      if (i > 1 && pathLen !== null && plen > pathLen) {
        fail('BAD_CERTIFICATE', `${role(i)} allows at most ${pathLen} intermediate CA(s) below it (pathLenConstraint), but this chain has ${plen}`, AlertDescription.bad_certificate);
      }
      if (!selfIssued(c)) plen++;
    }
  }

  // Name constraints of every CA above a certificate apply to it (OpenSSL: the trust anchor's too).
  for (let i = n; i >= 0; i--) {
    if (i !== 0 && selfIssued(path[i])) continue;
    for (let j = n; j > i; j--) {
      const nc = path[j].nameConstraints;
      if (!nc) continue;
      const r = checkCertificateNames(path[i], nc, i === 0);
      if (!r.ok) {
        const whom = i === 0 ? `for ${r.name}` : `${role(i)} (its ${r.name})`;
        fail('BAD_CERTIFICATE', `${role(j)} may not issue ${whom}: ${r.rule}`, AlertDescription.bad_certificate);
      }
    }
  }

  for (let i = n; i >= 0; i--) {
    const c = path[i];
    if (i < n) {
      const issuer = path[i + 1];
      if (issuer.keyUsage !== null && !(issuer.keyUsage & KU.keyCertSign)) {
        fail('BAD_CERTIFICATE', `${role(i + 1)} may not sign certificates (its keyUsage lacks keyCertSign)`, AlertDescription.bad_certificate);
      }
      const key = publicKeyOf(issuer);
      if (!key) fail('BAD_CERTIFICATE', `the public key of ${role(i + 1)} cannot be decoded (unsupported algorithm or curve)`, AlertDescription.bad_certificate);
      let ok = false;
      try { ok = c.x509.verify(key); } catch { ok = false; }
      if (!ok) fail('BAD_CERTIFICATE', `the signature on ${role(i)} does not verify with the key of ${role(i + 1)}: the certificate was altered or not issued by that CA`, AlertDescription.decrypt_error);
    }
    if (now < c.notBefore) fail('CERT_EXPIRED', `${role(i)} is not valid before ${new Date(c.notBefore).toISOString()}`, AlertDescription.certificate_expired);
    if (now > c.notAfter) fail('CERT_EXPIRED', `${role(i)} expired on ${new Date(c.notAfter).toISOString()}`, AlertDescription.certificate_expired);
  }

  // Security level: issuer keys, and every signature except the trust anchor's self-signature.
  for (let i = 0; i <= n; i++) {
    if (i > 0) checkKey(path[i], role(i), 'a CA');
    if (i < n) {
      const sig = signatureStrength(path[i]);
      if (sig.bits < MIN_BITS) {
        fail('BAD_CERTIFICATE', `${role(i)} is signed with ${sig.name}, which is too weak (${sig.bits} bits of security; at least ${MIN_BITS} are required, so MD5 and SHA-1 are refused): reissue it with SHA-256`, AlertDescription.bad_certificate);
      }
    }
  }
}

/** The key of `cert` meets the security level (OpenSSL EE_KEY_TOO_SMALL / CA_KEY_TOO_SMALL). */
export function checkKey(cert: Certificate, role: string, whose: string): void {
  const key = publicKeyOf(cert);
  if (!key) fail('BAD_CERTIFICATE', `the public key of ${role} cannot be decoded (unsupported algorithm or curve)`, AlertDescription.unsupported_certificate);
  const s = keyStrength(key);
  if (s.bits < MIN_BITS) {
    fail('BAD_CERTIFICATE', `${role} has a key too weak for ${whose} (${s.name}, ${s.bits} bits of security): at least ${MIN_BITS} bits are required, i.e. RSA keys of 1024 bits or more, EC curves of 160 bits or more`, AlertDescription.insufficient_security);
  }
}
