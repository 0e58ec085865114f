// The checks on the server's certificate that belong to the DTLS handshake, not to the chain:
// each Certificate entry is one DER certificate; the leaf's key fits the negotiated suite, lies on
// a curve we offered (RFC 8422 5.1: the server must not use another; OpenSSL's client refuses it
// too) and may sign (keyUsage digitalSignature, RFC 5246 7.4.2), since it signs the ECDHE
// ServerKeyExchange. Whether the chain is trusted, and for which host, is decided by OpenSSL
// through node:tls in src/dtls/trust/.
import { X509Certificate, KeyObject } from 'node:crypto';
import { DtlsError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { NamedGroup, SUPPORTED_GROUPS } from './key-exchange';
import { DerError, keyUsageFirstByte, readTlv } from './der';

function badCertificate(message: string, alert = AlertDescription.bad_certificate): DtlsError {
  return new DtlsError('BAD_CERTIFICATE', message, { sendAlert: alert });
}

/**
 * Certificates parsed lately, by their DER bytes: a server sends the same chain on every
 * handshake, and parsing one costs more than the rest of its flight (an X509Certificate and its
 * KeyObject are immutable, so sessions can share them).
 */
const parsed = new Map<string, X509Certificate>();
const PARSED_MAX = 32;
const publicKeys = new WeakMap<X509Certificate, KeyObject>();

function parseOnce(der: Buffer): X509Certificate {
  const key = der.toString('base64');
  let cert = parsed.get(key);
  if (!cert) {
    cert = new X509Certificate(der);
    if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value as string);
    parsed.set(key, cert);
  }
  return cert;
}

/** Parses the server's chain (leaf first). An entry that is not exactly one DER certificate is BAD_CERTIFICATE. */
export function parseServerChain(chain: Buffer[]): X509Certificate[] {
  if (chain.length === 0) throw badCertificate('the server sent no certificate');
  return chain.map((der, i) => {
    const which = `certificate ${i + 1} of the server's chain`;
    let end = -1;
    try { end = readTlv(der, 0).end; } catch (err) { throw badCertificate(`${which} is not DER: ${(err as Error).message}`, AlertDescription.decode_error); }
    if (end !== der.length) throw badCertificate(`${which} has ${der.length - end} byte(s) after its DER encoding`, AlertDescription.decode_error);
    try { return parseOnce(der); } catch {
      throw badCertificate(`${which} cannot be parsed`, AlertDescription.decode_error);
    }
  });
}

/** The certificate's public key, decoded once per (shared) certificate. */
function publicKeyOf(cert: X509Certificate): KeyObject {
  let key = publicKeys.get(cert);
  if (!key) {
    key = cert.publicKey;
    publicKeys.set(cert, key);
  }
  return key;
}

/** Curves of certificate keys we accept: those of the groups we offer in supported_groups. */
const OFFERED_CURVES: Record<string, NamedGroup> = { prime256v1: NamedGroup.secp256r1, secp384r1: NamedGroup.secp384r1 };

/** The leaf's public key, checked against what the cipher suite and our ClientHello allow. */
export function serverPublicKey(leaf: X509Certificate, auth: 'ecdsa' | 'rsa'): KeyObject {
  let key: KeyObject;
  try { key = publicKeyOf(leaf); } catch {
    throw badCertificate("the public key of the server's certificate cannot be decoded (unsupported algorithm or curve)", AlertDescription.unsupported_certificate);
  }
  const want = auth === 'ecdsa' ? 'ec' : 'rsa';
  if (key.asymmetricKeyType !== want) {
    throw new DtlsError('BAD_CERTIFICATE', `the server's certificate has a ${key.asymmetricKeyType} key but the negotiated cipher suite needs ${want.toUpperCase()}`, { sendAlert: AlertDescription.unsupported_certificate });
  }
  if (want === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const group = curve ? OFFERED_CURVES[curve] : undefined;
    if (group === undefined || !SUPPORTED_GROUPS.includes(group)) {
      throw badCertificate(`the server's certificate has a key on ${curve ?? 'an unnamed (explicit) curve'}, which we did not offer (we offer P-256 and P-384): reissue it on P-256 or P-384`, AlertDescription.unsupported_certificate);
    }
  }
  let ku: number | null;
  try { ku = keyUsageFirstByte(leaf.raw); } catch (err) {
    throw badCertificate(`the server's certificate has a malformed extension: ${err instanceof DerError ? err.message : 'unexpected content'}`);
  }
  if (ku !== null && !(ku & 0x80)) {
    throw badCertificate("the server's certificate may not be used for signatures (its keyUsage lacks digitalSignature), so it cannot sign the DTLS key exchange: reissue it with digitalSignature", AlertDescription.unsupported_certificate);
  }
  return key;
}
