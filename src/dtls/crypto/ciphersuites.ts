// The cipher suites we offer (all AEAD, all ECDHE) and their record protection
// (RFC 5288 GCM, RFC 6655 / 7251 CCM and CCM_8): nonce = 4-byte salt + 8-byte explicit part,
// additional data = epoch|seq (8) + type + version + plaintext length.
import { createCipheriv, createDecipheriv, KeyObject, CipherGCMTypes } from 'node:crypto';
import { PrfHash } from './prf';
import { AesCcm } from './aes-ccm';

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

/**
 * In our order of preference (servers such as Californium follow the client's order).
 * AES_128_CCM (16-byte tag) comes first: its records are protected by two AES objects made once
 * per epoch (./aes-ccm.ts), while GCM needs a new node:crypto cipher object per record, which
 * costs ~25-35 µs per record on an established session (BENCHMARKS.md, "CoAPS: where the extra
 * CPU goes"). GCM stays offered: servers with an RSA certificate (and OpenSSL's DEFAULT list,
 * which has no CCM) only have GCM. CCM_8 has a 64-bit tag, so it comes after the 128-bit ones.
 */
export const CIPHER_SUITES: CipherSuite[] = [
  { id: 0xc0ac, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', auth: 'ecdsa', mode: 'ccm', keyLength: 16, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc02b, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', auth: 'ecdsa', mode: 'gcm', keyLength: 16, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc02c, name: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', auth: 'ecdsa', mode: 'gcm', keyLength: 32, tagLength: 16, prfHash: 'sha384' },
  { id: 0xc0ad, name: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM', auth: 'ecdsa', mode: 'ccm', keyLength: 32, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc0ae, name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', auth: 'ecdsa', mode: 'ccm', keyLength: 16, tagLength: 8, prfHash: 'sha256' },
  { id: 0xc0af, name: 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8', auth: 'ecdsa', mode: 'ccm', keyLength: 32, tagLength: 8, prfHash: 'sha256' },
  { id: 0xc02f, name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', auth: 'rsa', mode: 'gcm', keyLength: 16, tagLength: 16, prfHash: 'sha256' },
  { id: 0xc030, name: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', auth: 'rsa', mode: 'gcm', keyLength: 32, tagLength: 16, prfHash: 'sha384' },
];

export function suiteById(id: number): CipherSuite | undefined {
  return CIPHER_SUITES.find((s) => s.id === id);
}

export const IMPLICIT_IV_LENGTH = 4;
export const EXPLICIT_NONCE_LENGTH = 8;
export const ADDITIONAL_DATA_LENGTH = 13;

function algorithm(suite: CipherSuite): string {
  return `aes-${suite.keyLength * 8}-${suite.mode}`;
}

/** Writes the AEAD additional data at `out[offset..offset+13]`: seq_num (epoch + sequence) + type + version + length. */
export function writeAdditionalData(out: Buffer, offset: number, epoch: number, sequence: number, type: number, version: number, length: number): void {
  out.writeUInt16BE(epoch, offset);
  // 48-bit sequence as 16 + 32 bits: exact for any integer below 2^48 (ToUint32 is modulo 2^32).
  out.writeUInt16BE(Math.floor(sequence / 0x100000000), offset + 2);
  out.writeUInt32BE(sequence >>> 0, offset + 4);
  out[offset + 8] = type;
  out.writeUInt16BE(version, offset + 9);
  out.writeUInt16BE(length, offset + 11);
}

/** Additional data for AEAD: seq_num (epoch + sequence) + type + version + length. */
export function additionalData(epoch: number, sequence: number, type: number, version: number, length: number): Buffer {
  const ad = Buffer.alloc(ADDITIONAL_DATA_LENGTH);
  writeAdditionalData(ad, 0, epoch, sequence, type, version, length);
  return ad;
}

/**
 * One direction's record key of one epoch, prepared once for every record it protects, with one
 * nonce buffer whose 4-byte salt is written once (RFC 5288 3 / RFC 6655 3: salt || explicit).
 *
 * CCM suites: one AesCcm (./aes-ccm.ts), two AES objects reused for every record.
 * GCM suites: node:crypto cannot give a GCM cipher object a new nonce and has no GHASH of its own
 * (and a table-based GHASH in JS would leak through cache timing), so each record gets its own
 * cipher object; what can be shared is shared: the key bytes, the algorithm name and the nonce
 * buffer (createCipheriv/createDecipheriv copy the key and IV synchronously, so the next record
 * may overwrite its explicit part). The key is kept as raw bytes, not as a KeyObject: cold, a
 * cipher made from a KeyObject measured slower (BENCHMARKS.md, "CoAPS: where the extra CPU
 * goes"). The bytes are our own copy and never leave this object.
 */
export class RecordKey {
  readonly tagLength: number;
  private readonly algorithm: string;
  private readonly key: Buffer;
  private readonly ccm: AesCcm | null;
  private readonly nonce: Buffer;

  constructor(suite: CipherSuite, key: Buffer | KeyObject, salt: Buffer) {
    if (salt.length !== IMPLICIT_IV_LENGTH) throw new RangeError(`the implicit nonce (salt) is ${IMPLICIT_IV_LENGTH} bytes, not ${salt.length}`);
    this.tagLength = suite.tagLength;
    this.algorithm = algorithm(suite);
    this.key = key instanceof KeyObject ? key.export() : Buffer.from(key);
    this.ccm = suite.mode === 'ccm' ? new AesCcm(this.key, suite.tagLength) : null;
    this.nonce = Buffer.alloc(IMPLICIT_IV_LENGTH + EXPLICIT_NONCE_LENGTH);
    salt.copy(this.nonce, 0);
  }

  /**
   * Seals in place: `out[bodyOffset..+8]` already holds the explicit nonce; the ciphertext and
   * the tag are written right after it (plaintext.length + tagLength bytes).
   */
  sealInto(out: Buffer, bodyOffset: number, aad: Buffer, plaintext: Buffer): void {
    this.setExplicitNonce(out, bodyOffset);
    let at = bodyOffset + EXPLICIT_NONCE_LENGTH;
    if (this.ccm) {
      this.ccm.sealInto(this.nonce, aad, plaintext, out, at);
      return;
    }
    const c = createCipheriv(this.algorithm as CipherGCMTypes, this.key, this.nonce);
    c.setAAD(aad);
    at = put(out, at, c.update(plaintext));
    at = put(out, at, c.final());
    at = put(out, at, c.getAuthTag());
    // allocUnsafe'd records must be written in full: never send uninitialised memory.
    if (at !== bodyOffset + EXPLICIT_NONCE_LENGTH + plaintext.length + this.tagLength) throw new Error('AEAD output has an unexpected length');
  }

  /**
   * Opens one record body (explicit nonce + ciphertext + tag) whose additional data is `aad`
   * (built for `ciphertextLength(body)`). Returns null when it does not authenticate.
   */
  open(body: Buffer, aad: Buffer): Buffer | null {
    return this.openAt(body, 0, body.length, aad);
  }

  /**
   * open() of the `bodyLength` bytes at `data[bodyAt..]`, which must end `data` (a record that
   * fills its datagram): CCM reads nonce, ciphertext and tag where they are, no views made.
   */
  openAt(data: Buffer, bodyAt: number, bodyLength: number, aad: Buffer): Buffer | null {
    const length = this.plaintextLength(bodyLength);
    if (length < 0 || bodyAt + bodyLength !== data.length) return null;
    this.setExplicitNonce(data, bodyAt);
    if (this.ccm) return this.ccm.openAt(this.nonce, aad, data, bodyAt + EXPLICIT_NONCE_LENGTH, length);
    const ciphertext = data.subarray(bodyAt + EXPLICIT_NONCE_LENGTH, bodyAt + EXPLICIT_NONCE_LENGTH + length);
    const tag = data.subarray(bodyAt + EXPLICIT_NONCE_LENGTH + length);
    try {
      const d = createDecipheriv(this.algorithm as CipherGCMTypes, this.key, this.nonce);
      d.setAuthTag(tag);
      d.setAAD(aad);
      const out = d.update(ciphertext);
      const rest = d.final(); // GCM authenticates here (throws when forged); empty for a stream mode
      return rest.length ? Buffer.concat([out, rest]) : out;
    } catch {
      return null;
    }
  }

  /** Copies the 8-byte explicit nonce at `from[offset..]` after the salt (a loop: cheaper than Buffer#copy for 8 bytes). */
  private setExplicitNonce(from: Buffer, offset: number): void {
    const nonce = this.nonce;
    for (let i = 0; i < EXPLICIT_NONCE_LENGTH; i++) nonce[IMPLICIT_IV_LENGTH + i] = from[offset + i];
  }

  /** Plaintext length of a record body, or -1 when it is too short to be one. */
  ciphertextLength(body: Buffer): number {
    return this.plaintextLength(body.length);
  }

  /** Plaintext length of a record body of `bodyLength` bytes, or -1 when that is too short for one. */
  plaintextLength(bodyLength: number): number {
    const length = bodyLength - EXPLICIT_NONCE_LENGTH - this.tagLength;
    return length < 0 ? -1 : length;
  }
}

/** Copies `part` into `out` at `at`; returns the offset after it. */
function put(out: Buffer, at: number, part: Buffer): number {
  if (part.length) out.set(part, at);
  return at + part.length;
}

/** Protects one record body: returns explicit_nonce + ciphertext + tag. */
export function aeadSeal(suite: CipherSuite, key: Buffer | KeyObject, salt: Buffer, explicitNonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const recordKey = new RecordKey(suite, key, salt);
  const out = Buffer.alloc(EXPLICIT_NONCE_LENGTH + plaintext.length + suite.tagLength);
  explicitNonce.copy(out, 0, 0, EXPLICIT_NONCE_LENGTH);
  recordKey.sealInto(out, 0, aad, plaintext);
  return out;
}

/**
 * Opens one record body (explicit_nonce + ciphertext + tag). Returns null when it does not
 * authenticate. `aadFor(plaintextLength)` builds the additional data.
 */
export function aeadOpen(suite: CipherSuite, key: Buffer | KeyObject, salt: Buffer, body: Buffer, aadFor: (plaintextLength: number) => Buffer): Buffer | null {
  const recordKey = new RecordKey(suite, key, salt);
  const length = recordKey.ciphertextLength(body);
  if (length < 0) return null;
  return recordKey.open(body, aadFor(length));
}
