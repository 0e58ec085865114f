// Server certificate verification for the DTLS client: the user's CA bundle and the server's chain
// are read here, and the path is validated by src/dtls/pki (RFC 5280 §6 with OpenSSL's semantics,
// as Node's `tls` applies them), then the identity is checked (RFC 6125) the way Node's
// tls.checkServerIdentity does: DNS names and IP addresses of subjectAltName, the CN only when the
// certificate has no DNS name. Every failure is a DtlsError whose code the transports map to a
// 'certificate' failure and whose message names the certificate and the rule.
import { X509Certificate, KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { DtlsError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { Asn1Error, readTlv } from '../pki/asn1';
import { Certificate, parseCertificate } from '../pki/certificate';
import { buildAndValidate, checkKey } from '../pki/path';
import { formatIp } from '../pki/names';

const parsed = new WeakMap<X509Certificate, Certificate>();
/** Bundle certificates OpenSSL reads but the strict reading refuses: never anchors, named on failure. */
const unusable = new WeakMap<X509Certificate, string>();

/**
 * Parses every CERTIFICATE block of a PEM bundle. One OpenSSL cannot read is a configuration
 * error; one that breaks a stricter rule (e.g. a malformed time) is kept out of the anchors, so a
 * large bundle with one odd old root still works, and is named if no path is found.
 */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = String(pem ?? '').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block, i) => {
    let x509: X509Certificate;
    try { x509 = new X509Certificate(block); } catch (err) {
      throw new DtlsError('UNKNOWN_CA', `certificate ${i + 1} of the CA bundle cannot be read: ${(err as Error).message}`);
    }
    try { parsed.set(x509, parseCertificate(x509.raw)); } catch (err) {
      unusable.set(x509, `certificate ${i + 1} of the CA bundle ("${x509.subject.split('\n').reverse().join(', ')}") is not used: it is malformed (${(err as Error).message})`);
    }
    return x509;
  });
}

function badCertificate(message: string, alert = AlertDescription.bad_certificate): DtlsError {
  return new DtlsError('BAD_CERTIFICATE', message, { sendAlert: alert });
}

/** Parses the server's chain (leaf first). An entry that is not exactly one DER certificate is BAD_CERTIFICATE. */
export function parseServerChain(chain: Buffer[]): X509Certificate[] {
  if (chain.length === 0) throw badCertificate('the server sent no certificate');
  return chain.map((der, i) => {
    const which = `certificate ${i + 1} of the server's chain`;
    let end = -1;
    try { end = readTlv(der, 0).end; } catch (err) { throw badCertificate(`${which} is not DER: ${(err as Error).message}`, AlertDescription.decode_error); }
    if (end !== der.length) throw badCertificate(`${which} has ${der.length - end} byte(s) after its DER encoding`, AlertDescription.decode_error);
    try { return new X509Certificate(der); } catch {
      throw badCertificate(`${which} cannot be parsed`, AlertDescription.decode_error);
    }
  });
}

/** The strict reading of a certificate, or a BAD_CERTIFICATE naming what is malformed. */
export function strictCertificate(x509: X509Certificate, which: string): Certificate {
  const known = parsed.get(x509);
  if (known) return known;
  try {
    const c = parseCertificate(x509.raw);
    parsed.set(x509, c);
    return c;
  } catch (err) {
    const detail = err instanceof Asn1Error ? err.message : 'unexpected content';
    throw badCertificate(`${which} is malformed: ${detail}`);
  }
}

export interface VerifyOptions {
  anchors: X509Certificate[];
  /** Host name or IP address the certificate must name. */
  identity: string;
  now?: Date;
  /** Accept a path that ends at a bundle certificate that is not self-signed (OpenSSL's X509_V_FLAG_PARTIAL_CHAIN). */
  allowPartialChain?: boolean;
}

/** Throws a DtlsError naming the reason unless `chain` is a valid server chain for `identity`. */
export function verifyServerChain(chain: X509Certificate[], opts: VerifyOptions): Certificate[] {
  const certs = chain.map((c, i) => strictCertificate(c, i === 0 ? "the server's certificate" : `certificate ${i + 1} of the server's chain`));
  const anchors: Certificate[] = [];
  const skipped: string[] = [];
  opts.anchors.forEach((a, i) => {
    const why = unusable.get(a);
    if (why) skipped.push(why);
    else {
      try { anchors.push(strictCertificate(a, `certificate ${i + 1} of the CA bundle`)); } catch (err) { skipped.push((err as Error).message); }
    }
  });
  let path: Certificate[];
  try {
    path = buildAndValidate(certs[0], {
      anchors, untrusted: certs.slice(1), now: (opts.now ?? new Date()).getTime(), allowPartialChain: opts.allowPartialChain === true,
    });
  } catch (err) {
    if (err instanceof DtlsError && err.code === 'UNKNOWN_CA' && skipped.length) {
      throw new DtlsError('UNKNOWN_CA', `${err.message}; ${skipped.join('; ')}`, { sendAlert: err.sendAlert });
    }
    // A field read lazily (e.g. RSASSA-PSS parameters, an odd key) can still be malformed: a
    // certificate error, never an internal one.
    if (err instanceof DtlsError) throw err;
    throw badCertificate(`the server's certificate chain cannot be checked: ${(err as Error).message}`);
  }
  checkIdentity(chain[0], certs[0], opts.identity);
  return path;
}

function checkIdentity(leaf: X509Certificate, cert: Certificate, identity: string): void {
  let ok = false;
  try {
    ok = isIP(identity) ? leaf.checkIP(identity) !== undefined : leaf.checkHost(identity, { subject: 'default', wildcards: true, partialWildcards: false }) !== undefined;
  } catch { ok = false; }
  if (!ok) {
    const names: string[] = [];
    for (const n of cert.subjectAltNames ?? []) {
      if (n.type === 'ip') names.push(`IP ${formatIp(n.value)}`);
      else if (n.type === 'dns') names.push(`DNS ${n.value}`);
    }
    const what = names.length ? names.join(', ') : `no DNS name or IP address in subjectAltName, subject "${cert.label}"`;
    throw new DtlsError('HOST_MISMATCH', `the server's certificate is not valid for "${identity}" (it names ${what})`, { sendAlert: AlertDescription.bad_certificate });
  }
}

/** Throws unless the leaf's key (the key that signs ServerKeyExchange) meets the security level. */
export function checkServerKey(leaf: X509Certificate): void {
  checkKey(strictCertificate(leaf, "the server's certificate"), `the server's certificate "${strictCertificate(leaf, "the server's certificate").label}"`, 'the server');
}

/** The leaf's public key, checked against what the cipher suite needs. */
export function serverPublicKey(leaf: X509Certificate, auth: 'ecdsa' | 'rsa'): KeyObject {
  let key: KeyObject;
  try { key = leaf.publicKey; } catch {
    throw badCertificate("the public key of the server's certificate cannot be decoded (unsupported algorithm or curve)", AlertDescription.unsupported_certificate);
  }
  const want = auth === 'ecdsa' ? 'ec' : 'rsa';
  if (key.asymmetricKeyType !== want) {
    throw new DtlsError('BAD_CERTIFICATE', `the server's certificate has a ${key.asymmetricKeyType} key but the negotiated cipher suite needs ${want.toUpperCase()}`, { sendAlert: AlertDescription.unsupported_certificate });
  }
  return key;
}
