// The cipher suites we offer (all AEAD, all ECDHE) and their record protection
// (RFC 5288 GCM, RFC 6655 / 7251 CCM and CCM_8): nonce = 4-byte salt + 8-byte explicit part,
// additional data = epoch|seq (8) + type + version + plaintext length.
import { createCipheriv, createDecipheriv, CipherGCMTypes, CipherCCMTypes } from 'node:crypto';
import { PrfHash } from './prf';

export type AuthType = 'ecdsa' | 'rsa';

export interface CipherSuite {
  id: number;
  name: string;
  auth: AuthType;
  mode: 'gcm' | 'ccm';
  keyLength: number;
  tagLength: number;
  prfHash: PrfHash;
}

/** In our order of preference (servers such as Californium follow the client's order). */
export const CIPHER_SUITES: CipherSuite[] = [
  { id: 0xc02b, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', auth: 'ecdsa', mode: 'gcm', keyLength: 16, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc02c, name: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', auth: 'ecdsa', mode: 'gcm', keyLength: 32, tagLength: 16, prfHash: 'sha384' },
  { id: 0xc0ac, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', auth: 'ecdsa', mode: 'ccm', keyLength: 16, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc0ae, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', auth: 'ecdsa', mode: 'ccm', keyLength: 16, tagLength: 8, prfHash: 'sha256' },
  { id: 0xc0ad, name: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM', auth: 'ecdsa', mode: 'ccm', keyLength: 32, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc0af, name: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8', auth: 'ecdsa', mode: 'ccm', keyLength: 32, tagLength: 8, prfHash: 'sha256' },
  { id: 0xc02f, name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', auth: 'rsa', mode: 'gcm', keyLength: 16, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc030, name: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', auth: 'rsa', mode: 'gcm', keyLength: 32, tagLength: 16, prfHash: 'sha384' },
];

export function suiteById(id: number): CipherSuite | undefined {
  return CIPHER_SUITES.find((s) => s.id === id);
}

export const IMPLICIT_IV_LENGTH = 4;
export const EXPLICIT_NONCE_LENGTH = 8;

function algorithm(suite: CipherSuite): string {
  return `aes-${suite.keyLength * 8}-${suite.mode}`;
}

/** Additional data for AEAD: seq_num (epoch + sequence) + type + version + length. */
export function additionalData(epoch: number, sequence: number, type: number, version: number, length: number): Buffer {
  const ad = Buffer.alloc(13);
  ad.writeUInt16BE(epoch, 0);
  ad.writeUIntBE(sequence, 2, 6);
  ad.writeUInt8(type, 8);
  ad.writeUInt16BE(version, 9);
  ad.writeUInt16BE(length, 11);
  return ad;
}

/** Protects one record body: returns explicit_nonce + ciphertext + tag. */
export function aeadSeal(suite: CipherSuite, key: Buffer, salt: Buffer, explicitNonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const nonce = Buffer.concat([salt, explicitNonce]);
  if (suite.mode === 'gcm') {
    const c = createCipheriv(algorithm(suite) as CipherGCMTypes, key, nonce);
    c.setAAD(aad);
    const body = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([explicitNonce, body, c.getAuthTag()]);
  }
  const c = createCipheriv(algorithm(suite) as CipherCCMTypes, key, nonce, { authTagLength: suite.tagLength });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([explicitNonce, body, c.getAuthTag()]);
}

/**
 * Opens one record body (explicit_nonce + ciphertext + tag). Returns null when it does not
 * authenticate. `aadFor(plaintextLength)` builds the additional data.
 */
export function aeadOpen(suite: CipherSuite, key: Buffer, salt: Buffer, body: Buffer, aadFor: (plaintextLength: number) => Buffer): Buffer | null {
  if (body.length < EXPLICIT_NONCE_LENGTH + suite.tagLength) return null;
  const nonce = Buffer.concat([salt, body.subarray(0, EXPLICIT_NONCE_LENGTH)]);
  const ciphertext = body.subarray(EXPLICIT_NONCE_LENGTH, body.length - suite.tagLength);
  const tag = body.subarray(body.length - suite.tagLength);
  const aad = aadFor(ciphertext.length);
  try {
    if (suite.mode === 'gcm') {
      const d = createDecipheriv(algorithm(suite) as CipherGCMTypes, key, nonce);
      d.setAuthTag(tag);
      d.setAAD(aad);
      return Buffer.concat([d.update(ciphertext), d.final()]);
    }
    const d = createDecipheriv(algorithm(suite) as CipherCCMTypes, key, nonce, { authTagLength: suite.tagLength });
    d.setAuthTag(tag);
    d.setAAD(aad, { plaintextLength: ciphertext.length });
    const out = d.update(ciphertext);
    d.final();
    return out;
  } catch {
    return null;
  }
}
