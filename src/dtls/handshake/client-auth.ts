// Client authentication with a certificate (RFC 5246 7.4.6 and 7.4.8, DTLS 1.2): the answer to a
// CertificateRequest. With no client certificate configured we send an empty Certificate and no
// CertificateVerify (ThingsBoard's access-token mode: its server only "wants" one). With one, we
// send the chain (device certificate first) and, after our ClientKeyExchange, a CertificateVerify:
// a signature over every handshake message so far, with a scheme the server listed and our
// key can make (ECDSA for an EC key, RSA PKCS#1 v1.5 or PSS for an RSA key).
import { createPrivateKey, sign, constants, X509Certificate, type KeyObject } from 'node:crypto';
import { DtlsError } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { u16, vec16, vec24 } from '../protocol/bytes';
import type { CertificateRequest } from '../protocol/messages';
import { SIGNATURE_SCHEMES, type SignatureScheme } from '../crypto/signature';

/** A client certificate chain (DER, device certificate first) and the device's private key. */
export interface ClientCredentials {
  chain: Buffer[];
  key: KeyObject;
}

/** ClientCertificateType (RFC 5246 7.4.4, RFC 8422 5.5). */
const RSA_SIGN = 1;
const ECDSA_SIGN = 64;

/** Reads a PEM chain and key (maybe encrypted); throws a DtlsError that quotes neither. */
export function clientCredentials(certPem: string, keyPem: string, passphrase = ''): ClientCredentials {
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new DtlsError('CLIENT_CERTIFICATE', 'the client certificate is not PEM: give the device certificate first, a chain may follow');
  let key: KeyObject;
  let chain: X509Certificate[];
  try {
    chain = blocks.map((b) => new X509Certificate(b));
  } catch {
    throw new DtlsError('CLIENT_CERTIFICATE', 'the client certificate cannot be read');
  }
  try {
    key = createPrivateKey(passphrase ? { key: keyPem, format: 'pem', passphrase } : { key: keyPem, format: 'pem' });
  } catch {
    throw new DtlsError('CLIENT_CERTIFICATE', 'the client private key cannot be read (not PEM, or a wrong passphrase)');
  }
  if (!chain[0].checkPrivateKey(key)) throw new DtlsError('CLIENT_CERTIFICATE', 'the client private key does not belong to the client certificate');
  return { chain: chain.map((c) => c.raw), key };
}

/** The schemes this key can sign with, best first (the hash that fits an EC key's curve first). */
function schemesFor(key: KeyObject): SignatureScheme[] {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const preferred = curve === 'secp384r1' ? 0x0503 : curve === 'secp521r1' ? 0x0603 : 0x0403;
    const ec = SIGNATURE_SCHEMES.filter((s) => s.key === 'ec');
    return [...ec.filter((s) => s.id === preferred), ...ec.filter((s) => s.id !== preferred)];
  }
  if (key.asymmetricKeyType === 'rsa') {
    // PKCS#1 v1.5 first: what Californium (ThingsBoard) asks for; PSS when only that is offered.
    const rsa = SIGNATURE_SCHEMES.filter((s) => s.key === 'rsa');
    return [...rsa.filter((s) => s.padding === 'pkcs1'), ...rsa.filter((s) => s.padding === 'pss')];
  }
  return [];
}

export interface ClientAuthAnswer {
  /** The Certificate message body: our chain, or an empty list. */
  certificateBody: Buffer;
  /** Set when a CertificateVerify must follow the ClientKeyExchange. */
  scheme?: SignatureScheme;
}

/**
 * What to answer `request` with. A configured certificate the server cannot accept (a key type it
 * did not list, no common signature scheme) fails the handshake with words that say so, rather
 * than sending an empty chain the server would take for "no certificate".
 */
export function answerCertificateRequest(request: CertificateRequest, credentials: ClientCredentials | undefined): ClientAuthAnswer {
  if (!credentials) return { certificateBody: vec24(Buffer.alloc(0)) };
  const keyType = credentials.key.asymmetricKeyType;
  const wantedType = keyType === 'ec' ? ECDSA_SIGN : RSA_SIGN;
  if (request.certificateTypes.length > 0 && !request.certificateTypes.includes(wantedType)) {
    throw new DtlsError('CLIENT_CERTIFICATE', `the server does not accept ${keyType === 'ec' ? 'ECDSA' : 'RSA'} client certificates (it asked for certificate types ${request.certificateTypes.join(', ')}): use a certificate with the other key type`, { sendAlert: AlertDescription.handshake_failure });
  }
  const scheme = schemesFor(credentials.key).find((s) => request.signatureSchemes.includes(s.id));
  if (!scheme) {
    throw new DtlsError('CLIENT_CERTIFICATE', `the server accepts none of the signature algorithms this ${keyType} client key can make (it listed 0x${request.signatureSchemes.map((n) => n.toString(16).padStart(4, '0')).join(', 0x')})`, { sendAlert: AlertDescription.handshake_failure });
  }
  const list = Buffer.concat(credentials.chain.map((der) => vec24(der)));
  return { certificateBody: vec24(list), scheme };
}

/** The CertificateVerify body: scheme, then the signature over `handshakeMessages` (RFC 5246 7.4.8). */
export function certificateVerifyBody(scheme: SignatureScheme, key: KeyObject, handshakeMessages: Buffer): Buffer {
  let signature: Buffer;
  if (scheme.padding === 'ecdsa') signature = sign(scheme.hash, handshakeMessages, { key, dsaEncoding: 'der' });
  else if (scheme.padding === 'pss') signature = sign(scheme.hash, handshakeMessages, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  else signature = sign(scheme.hash, handshakeMessages, { key, padding: constants.RSA_PKCS1_PADDING });
  return Buffer.concat([u16(scheme.id), vec16(signature)]);
}
