// Server certificate verification (RFC 5280 path validation, reduced to what a DTLS client needs;
// RFC 6125 identity check): chain to a CA in the user's PEM bundle, validity dates, key usage and
// extended key usage for a TLS server, and the host name or IP address against subjectAltName.
import { X509Certificate, KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { DtlsError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { KeyUsage, keyUsageBits } from './der';

const MAX_CHAIN_DEPTH = 10;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const ANY_EKU = '2.5.29.37.0';

/** Parses every CERTIFICATE block of a PEM bundle. */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = String(pem ?? '').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block, i) => {
    try { return new X509Certificate(block); } catch (err) {
      throw new DtlsError('UNKNOWN_CA', `certificate ${i + 1} of the CA bundle cannot be read: ${(err as Error).message}`);
    }
  });
}

function describe(cert: X509Certificate): string {
  return `"${cert.subject.replace(/\n/g, ', ')}"`;
}

function badCertificate(message: string): DtlsError {
  return new DtlsError('BAD_CERTIFICATE', message, { sendAlert: AlertDescription.bad_certificate });
}

/** Parses the server's chain (leaf first). Any unreadable certificate is BAD_CERTIFICATE. */
export function parseServerChain(chain: Buffer[]): X509Certificate[] {
  if (chain.length === 0) throw badCertificate('the server sent no certificate');
  return chain.map((der, i) => {
    try { return new X509Certificate(der); } catch {
      throw badCertificate(`certificate ${i + 1} of the server's chain cannot be parsed`);
    }
  });
}

export interface VerifyOptions {
  anchors: X509Certificate[];
  /** Host name or IP address the certificate must name. */
  identity: string;
  now?: Date;
}

/** Throws a DtlsError naming the reason unless `chain` is a valid server chain for `identity`. */
export function verifyServerChain(chain: X509Certificate[], opts: VerifyOptions): void {
  const now = opts.now ?? new Date();
  const leaf = chain[0];
  const path = buildPath(chain, opts.anchors);

  for (const cert of path) {
    if (now.getTime() > Date.parse(cert.validTo)) {
      throw new DtlsError('CERT_EXPIRED', `certificate ${describe(cert)} expired on ${new Date(cert.validTo).toISOString()}`, { sendAlert: AlertDescription.certificate_expired });
    }
    if (now.getTime() < Date.parse(cert.validFrom)) {
      throw new DtlsError('CERT_EXPIRED', `certificate ${describe(cert)} is not valid before ${new Date(cert.validFrom).toISOString()}`, { sendAlert: AlertDescription.certificate_expired });
    }
  }

  let usage: number | null;
  try { usage = keyUsageBits(leaf.raw); } catch { throw badCertificate(`the key usage of certificate ${describe(leaf)} cannot be parsed`); }
  if (usage !== null && !(usage & KeyUsage.digitalSignature)) {
    throw badCertificate(`certificate ${describe(leaf)} may not be used for signatures (keyUsage lacks digitalSignature), so it cannot authenticate a DTLS server`);
  }
  const eku = leaf.keyUsage; // node: the extendedKeyUsage OIDs, undefined when absent
  if (Array.isArray(eku) && !eku.includes(SERVER_AUTH) && !eku.includes(ANY_EKU)) {
    throw badCertificate(`certificate ${describe(leaf)} is not for TLS servers (extendedKeyUsage lacks serverAuth)`);
  }
  checkIdentity(leaf, opts.identity);
}

function isAnchor(cert: X509Certificate, anchors: X509Certificate[]): boolean {
  return anchors.some((a) => a.fingerprint256 === cert.fingerprint256);
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try { return cert.checkIssued(issuer) && cert.verify(issuer.publicKey); } catch { return false; }
}

/** Leaf → ... → trust anchor, using the certificates the server sent as intermediates. */
function buildPath(chain: X509Certificate[], anchors: X509Certificate[]): X509Certificate[] {
  const leaf = chain[0];
  const path = [leaf];
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    if (isAnchor(current, anchors)) return path;
    const anchor = anchors.find((a) => issuedBy(current, a));
    if (anchor) {
      if (!anchor.ca && anchor.fingerprint256 !== current.fingerprint256) break;
      path.push(anchor);
      return path;
    }
    const next = chain.find((c) => !path.includes(c) && c.ca && issuedBy(current, c));
    if (!next) break;
    path.push(next);
    current = next;
  }
  const selfSigned = current.subject === current.issuer;
  const why = selfSigned && current === leaf
    ? `the server's certificate ${describe(leaf)} is self-signed and is not in the CA bundle`
    : `the server's certificate ${describe(leaf)} is not issued by a CA in the CA bundle (chain ends at ${describe(current)}, issuer ${JSON.stringify(current.issuer.replace(/\n/g, ', '))})`;
  throw new DtlsError('UNKNOWN_CA', `untrusted certificate: ${why}`, { sendAlert: AlertDescription.unknown_ca });
}

function checkIdentity(leaf: X509Certificate, identity: string): void {
  const ok = isIP(identity) ? leaf.checkIP(identity) !== undefined : leaf.checkHost(identity, { subject: 'default', wildcards: true, partialWildcards: false }) !== undefined;
  if (!ok) {
    const names = leaf.subjectAltName ?? `no subjectAltName, subject ${leaf.subject.replace(/\n/g, ', ')}`;
    throw new DtlsError('HOST_MISMATCH', `the server's certificate is not valid for "${identity}" (it names ${names})`, { sendAlert: AlertDescription.bad_certificate });
  }
}

/** The leaf's public key, checked against what the cipher suite needs. */
export function serverPublicKey(leaf: X509Certificate, auth: 'ecdsa' | 'rsa'): KeyObject {
  const key = leaf.publicKey;
  const want = auth === 'ecdsa' ? 'ec' : 'rsa';
  if (key.asymmetricKeyType !== want) {
    throw new DtlsError('BAD_CERTIFICATE', `the server's certificate has a ${key.asymmetricKeyType} key but the negotiated cipher suite needs ${want.toUpperCase()}`, { sendAlert: AlertDescription.unsupported_certificate });
  }
  return key;
}
