// signature_algorithms (RFC 5246 7.4.1.4.1, RFC 8446 4.2.3 code points) and verification of the
// ServerKeyExchange signature with node:crypto.
import { KeyObject, constants, verify } from 'node:crypto';

export interface SignatureScheme { id: number; name: string; key: 'ec' | 'rsa'; padding: 'pkcs1' | 'pss' | 'ecdsa'; hash: 'sha256' | 'sha384' | 'sha512' }

/** What we offer, in order. Any offered hash is accepted with any curve (servers mix them). */
export const SIGNATURE_SCHEMES: SignatureScheme[] = [
  { id: 0x0403, name: 'ecdsa_secp256r1_sha256', key: 'ec', padding: 'ecdsa', hash: 'sha256' },
  { id: 0x0503, name: 'ecdsa_secp384r1_sha384', key: 'ec', padding: 'ecdsa', hash: 'sha384' },
  { id: 0x0603, name: 'ecdsa_secp521r1_sha512', key: 'ec', padding: 'ecdsa', hash: 'sha512' },
  { id: 0x0804, name: 'rsa_pss_rsae_sha256', key: 'rsa', padding: 'pss', hash: 'sha256' },
  { id: 0x0805, name: 'rsa_pss_rsae_sha384', key: 'rsa', padding: 'pss', hash: 'sha384' },
  { id: 0x0806, name: 'rsa_pss_rsae_sha512', key: 'rsa', padding: 'pss', hash: 'sha512' },
  { id: 0x0401, name: 'rsa_pkcs1_sha256', key: 'rsa', padding: 'pkcs1', hash: 'sha256' },
  { id: 0x0501, name: 'rsa_pkcs1_sha384', key: 'rsa', padding: 'pkcs1', hash: 'sha384' },
  { id: 0x0601, name: 'rsa_pkcs1_sha512', key: 'rsa', padding: 'pkcs1', hash: 'sha512' },
];

export function schemeById(id: number): SignatureScheme | undefined {
  return SIGNATURE_SCHEMES.find((s) => s.id === id);
}

/** Returns true when `signature` is a valid signature of `data` by `publicKey` under `scheme`. */
export function verifySignature(scheme: SignatureScheme, publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  const keyType = publicKey.asymmetricKeyType;
  if (scheme.key === 'ec' && keyType !== 'ec') return false;
  if (scheme.key === 'rsa' && keyType !== 'rsa') return false;
  try {
    if (scheme.padding === 'ecdsa') return verify(scheme.hash, data, { key: publicKey, dsaEncoding: 'der' }, signature);
    if (scheme.padding === 'pss') {
      return verify(scheme.hash, data, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    }
    return verify(scheme.hash, data, { key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return false;
  }
}
