// AES-CCM (RFC 3610, NIST SP 800-38C) as DTLS 1.2 uses it (RFC 6655 / RFC 7251): a 12-byte
// nonce (4-byte salt + 8-byte explicit part), so the length field is L = 3 bytes, and a 16-byte
// (CCM) or 8-byte (CCM_8) tag.
//
// Why not node:crypto's 'aes-128-ccm': a CCM cipher object takes its nonce when it is created, so
// every record needs a new one, and on an established session a record is sealed or opened one
// at a time between idle waits, on a cold CPU, where making that object (OpenSSL 3 fetches the
// cipher from its provider and expands the key each time) costs ~25-35 µs per record
// (BENCHMARKS.md, "CoAPS: where the extra CPU goes"). CCM is built from the AES block function
// alone, so it can be computed from two AES cipher objects made once per key and reused for every
// record:
//  - the CTR part (RFC 3610 2.3): the keystream blocks S_i = E(K, A_i) come from one `update()` of
//    a persistent 'aes-*-ecb' encryptor over the counter blocks A_0..A_m;
//  - the CBC-MAC (RFC 3610 2.2): X_1 = E(K, B_0), X_{i+1} = E(K, X_i xor B_i), T = first M bytes
//    of X_{n+1}. A persistent 'aes-*-cbc' encryptor (IV 0, no padding) does exactly this chaining,
//    but it carries on from the last ciphertext block it returned (its chaining value) instead of
//    from zero. XOR-ing that block into B_0 first cancels it: E(K, (B_0 xor C) xor C) = E(K, B_0),
//    so the last 16 bytes of its output are the CBC-MAC of this message from IV 0. Encryption
//    with padding off returns every full block from `update()` (nothing is held back), so the
//    chaining value is always the last block we got.
// The keystream is computed ahead: a record's nonce is the salt, the epoch and the record's
// sequence number (RFC 6655 3), and sequence numbers go up by one record after record in each
// direction, so one ECB update() makes the counter blocks of the next few records at once
// (AHEAD_RECORDS), and each of them then needs one native call (its CBC-MAC) instead of two.
// A record outside that window (another nonce, a gap, a longer record) makes a new window
// starting at its own sequence number.
// Everything secret goes through native AES and XORs (no tables, no secret-dependent branches),
// and the tag is compared in constant time, like OpenSSL's own CCM (see open()).
// test/dtls/aes-ccm.test.js checks it against node:crypto's 'aes-*-ccm' on random records.
import { Buffer } from 'node:buffer'; // not the global: on Node 20 that is a getter, paid per record
import { Cipher, createCipheriv } from 'node:crypto';

export const CCM_NONCE_LENGTH = 12;
const BLOCK = 16;
/** L = 15 - nonce length (RFC 3610 2.1): 3 bytes of message length / block counter. */
const L = 15 - CCM_NONCE_LENGTH;
/** RFC 3610 2.2: additional data is length-prefixed with 2 bytes below 2^16 - 2^8. */
const MAX_AAD = 0xff00;
const MAX_MESSAGE = 2 ** (8 * L);
/** Records whose keystream one ECB update() computes (see the top). */
const AHEAD_RECORDS = 32;
/** Blocks of keystream per record computed ahead at most (S_0 and a 240-byte payload); longer records get an update() each. */
const MAX_AHEAD_BLOCKS = 16;
/** The nonce's fixed part (salt and epoch), then its 6-byte sequence number. */
const NONCE_PREFIX = 6;

export class AesCcm {
  readonly tagLength: number;
  private readonly ecb: Cipher;
  private readonly cbc: Cipher;
  /** The last ciphertext block the CBC encryptor returned: its chaining value for the next update(). */
  private readonly chain = Buffer.alloc(BLOCK);
  /** A_0..A_m (flags, nonce, counter), grown to the longest record seen; counters written once. */
  private counters: Buffer = Buffer.alloc(0);
  /**
   * Keystream of AHEAD_RECORDS records with consecutive sequence numbers from `aheadFirst`, each
   * `aheadBlocks` blocks (S_0..), for nonces starting with `aheadPrefix`; made from
   * `aheadCounters` (the counter blocks of such a window; the counter bytes written once per size).
   */
  private ahead: Buffer | null = null;
  private aheadCounters: Buffer = Buffer.alloc(0);
  private readonly aheadPrefix = Buffer.alloc(NONCE_PREFIX);
  private aheadFirst = -1;
  private aheadBlocks = 0;
  /** The most blocks a record has needed (within MAX_AHEAD_BLOCKS): the size of the next window's records. */
  private widest = 2;
  /** Where the current message's S_0 is in the buffer keystream() returned. */
  private streamAt = 0;
  /** B_0 || encoded additional data || payload, each zero-padded to a block, grown likewise. */
  private macInput: Buffer = Buffer.alloc(0);
  /** Views of `counters` / `macInput` by length in blocks, made once (update() is given the same view every time). */
  private counterViews: Buffer[] = [];
  private macViews: Buffer[] = [];
  /** Where the payload goes in `macInput`, and where its input ends, for the message being processed. */
  private payloadAt = 0;
  private macEnd = 0;
  /** B_0 flags (RFC 3610 2.2): Adata, M' = (M - 2) / 2, L' = L - 1. */
  private readonly flags: number;

  constructor(key: Buffer, tagLength: number) {
    if (key.length !== 16 && key.length !== 32) throw new RangeError(`an AES-CCM key is 16 or 32 bytes, not ${key.length}`);
    if (tagLength !== 8 && tagLength !== 16) throw new RangeError(`a DTLS AES-CCM tag is 8 or 16 bytes, not ${tagLength}`);
    this.tagLength = tagLength;
    this.flags = (((tagLength - 2) / 2) << 3) | (L - 1);
    const name = `aes-${key.length * 8}`;
    this.ecb = createCipheriv(`${name}-ecb`, key, null).setAutoPadding(false);
    this.cbc = createCipheriv(`${name}-cbc`, key, Buffer.alloc(BLOCK)).setAutoPadding(false);
  }

  /** Encrypts `plaintext` and writes ciphertext + tag at `out[at..at + plaintext.length + tagLength]`. */
  sealInto(nonce: Buffer, aad: Buffer, plaintext: Buffer, out: Buffer, at: number): void {
    const length = plaintext.length;
    const s = this.keystream(nonce, length);
    const s0 = this.streamAt;
    const s1 = s0 + BLOCK;
    const m = this.macInputFor(nonce, aad, length);
    const payloadAt = this.payloadAt;
    // One pass: the payload into the CBC-MAC input, its encryption into the record.
    for (let i = 0; i < length; i++) {
      const p = plaintext[i];
      m[payloadAt + i] = p;
      out[at + i] = p ^ s[s1 + i];
    }
    const x = this.cbcMac(length);
    const tagAt = x.length - BLOCK;
    // U = T xor first M bytes of S_0 (RFC 3610 2.3).
    for (let i = 0, o = at + length; i < this.tagLength; i++) out[o + i] = x[tagAt + i] ^ s[s0 + i];
  }

  /** Decrypts and authenticates; null when the tag does not match (nothing of the plaintext escapes then). */
  open(nonce: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer | null {
    if (tag.length !== this.tagLength) return null;
    return this.openParts(nonce, aad, ciphertext, 0, ciphertext.length, tag, 0);
  }

  /**
   * open() of a record body as it arrived: `length` bytes of ciphertext at `body[at..]`, followed
   * by the tag, which must end the body. No views are made of the body.
   */
  openAt(nonce: Buffer, aad: Buffer, body: Buffer, at: number, length: number): Buffer | null {
    if (at < 0 || length < 0 || body.length - at - length !== this.tagLength) return null;
    return this.openParts(nonce, aad, body, at, length, body, at + length);
  }

  private openParts(nonce: Buffer, aad: Buffer, c: Buffer, at: number, length: number, tag: Buffer, tagFrom: number): Buffer | null {
    const s = this.keystream(nonce, length);
    const s0 = this.streamAt;
    const s1 = s0 + BLOCK;
    const m = this.macInputFor(nonce, aad, length);
    const payloadAt = this.payloadAt;
    const plaintext = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) {
      const p = c[at + i] ^ s[s1 + i];
      plaintext[i] = p;
      m[payloadAt + i] = p;
    }
    const x = this.cbcMac(length);
    return tagMatches(x, x.length - BLOCK, s, s0, tag, tagFrom, this.tagLength) ? plaintext : null;
  }

  /**
   * S_0..S_m for a message of `length` bytes, starting at `this.streamAt` of the returned buffer:
   * from the window computed ahead when the nonce is in it, else a new window from this nonce
   * (records up to MAX_AHEAD_BLOCKS), else one ECB update() over A_0..A_m.
   */
  private keystream(nonce: Buffer, length: number): Buffer {
    if (nonce.length !== CCM_NONCE_LENGTH) throw new RangeError(`a DTLS AES-CCM nonce is ${CCM_NONCE_LENGTH} bytes, not ${nonce.length}`);
    if (length >= MAX_MESSAGE) throw new RangeError('message too long for AES-CCM with a 12-byte nonce');
    const blocks = 1 + ((length + BLOCK - 1) >>> 4);
    if (blocks <= MAX_AHEAD_BLOCKS) {
      const sequence = (nonce[6] * 0x10000 + nonce[7] * 0x100 + nonce[8]) * 0x1000000 + nonce[9] * 0x10000 + nonce[10] * 0x100 + nonce[11];
      const index = sequence - this.aheadFirst;
      if (this.ahead !== null && index >= 0 && index < AHEAD_RECORDS && blocks <= this.aheadBlocks && this.inWindowPrefix(nonce)) {
        this.streamAt = index * this.aheadBlocks * BLOCK;
        return this.ahead;
      }
      if (blocks > this.widest) this.widest = blocks;
      this.streamAt = 0;
      return this.window(nonce, sequence);
    }
    this.streamAt = 0;
    if (this.counters.length < blocks * BLOCK) {
      this.counters = counterBlocks(Math.max(blocks, 2 * (this.counters.length >>> 4)));
      this.counterViews = [];
    }
    const a = this.counters;
    for (let b = 0, o = 1; b < blocks; b++, o += BLOCK) {
      for (let i = 0; i < CCM_NONCE_LENGTH; i++) a[o + i] = nonce[i];
    }
    return this.ecb.update(this.counterViews[blocks] ??= a.subarray(0, blocks * BLOCK));
  }

  /** Whether `nonce` starts with the salt and epoch the window ahead was made for. */
  private inWindowPrefix(nonce: Buffer): boolean {
    const prefix = this.aheadPrefix;
    for (let i = 0; i < NONCE_PREFIX; i++) if (nonce[i] !== prefix[i]) return false;
    return true;
  }

  /**
   * A new window ahead from `nonce` (sequence number `sequence`): the counter blocks of
   * AHEAD_RECORDS records of `widest` blocks each, encrypted in one ECB update(). Sequence
   * numbers past 2^48 - 1 would wrap in the nonce; the window stops being used there by the
   * index check (DTLS ends the epoch long before).
   */
  private window(nonce: Buffer, sequence: number): Buffer {
    const perRecord = this.widest;
    if (perRecord !== this.aheadBlocks) {
      this.aheadCounters = counterBlocks(perRecord, AHEAD_RECORDS);
      this.aheadBlocks = perRecord;
      this.aheadPrefix.fill(0);
      this.aheadPrefix[0] = nonce[0] ^ 1; // no prefix is current: written below
    }
    const a = this.aheadCounters;
    const prefix = this.aheadPrefix;
    if (!this.inWindowPrefix(nonce)) {
      for (let i = 0; i < NONCE_PREFIX; i++) prefix[i] = nonce[i];
      for (let o = 1; o < a.length; o += BLOCK) {
        for (let i = 0; i < NONCE_PREFIX; i++) a[o + i] = prefix[i];
      }
    }
    const recordBytes = perRecord * BLOCK;
    for (let r = 0, o = 1 + NONCE_PREFIX; r < AHEAD_RECORDS; r++) {
      const n = sequence + r;
      const high = Math.floor(n / 0x1000000);
      const b0 = (high >>> 16) & 0xff, b1 = (high >>> 8) & 0xff, b2 = high & 0xff;
      const b3 = (n >>> 16) & 0xff, b4 = (n >>> 8) & 0xff, b5 = n & 0xff;
      for (let end = o + recordBytes; o < end; o += BLOCK) {
        a[o] = b0; a[o + 1] = b1; a[o + 2] = b2; a[o + 3] = b3; a[o + 4] = b4; a[o + 5] = b5;
      }
    }
    this.aheadFirst = sequence;
    const stream = this.ecb.update(a);
    this.ahead = stream;
    return stream;
  }

  /**
   * The CBC-MAC input for a message of `length` bytes up to its payload: B_0 (xor the CBC
   * encryptor's chaining value, see the top) and the encoded additional data, zero-padded. The
   * caller writes the payload at `this.payloadAt`, then calls cbcMac(length).
   */
  private macInputFor(nonce: Buffer, aad: Buffer, length: number): Buffer {
    if (aad.length >= MAX_AAD) throw new RangeError('additional data too long for a 2-byte AES-CCM length prefix');
    const aadBlocks = aad.length ? (2 + aad.length + BLOCK - 1) >>> 4 : 0;
    const payloadAt = BLOCK * (1 + aadBlocks);
    const end = payloadAt + BLOCK * ((length + BLOCK - 1) >>> 4);
    if (this.macInput.length < end) {
      this.macInput = Buffer.alloc(Math.max(end, 2 * this.macInput.length));
      this.macViews = [];
    }
    const m = this.macInput;
    const chain = this.chain;
    // B_0 = flags || nonce || l(m) (RFC 3610 2.2), xor the encryptor's chaining value (see the top).
    m[0] = (aad.length ? 0x40 : 0) | this.flags;
    for (let i = 0; i < CCM_NONCE_LENGTH; i++) m[1 + i] = nonce[i];
    m[13] = length >>> 16;
    m[14] = (length >>> 8) & 0xff;
    m[15] = length & 0xff;
    for (let i = 0; i < BLOCK; i++) m[i] ^= chain[i];
    if (aad.length) {
      m[BLOCK] = aad.length >>> 8;
      m[BLOCK + 1] = aad.length & 0xff;
      for (let i = 0; i < aad.length; i++) m[BLOCK + 2 + i] = aad[i];
      for (let i = BLOCK + 2 + aad.length; i < payloadAt; i++) m[i] = 0;
    }
    this.payloadAt = payloadAt;
    this.macEnd = end;
    return m;
  }

  /** The CBC encryptor's output over the input macInputFor() prepared, payload written; its last 16 bytes are X_{n+1} (the tag before masking). */
  private cbcMac(length: number): Buffer {
    const m = this.macInput;
    const end = this.macEnd;
    for (let i = this.payloadAt + length; i < end; i++) m[i] = 0;
    const x = this.cbc.update(this.macViews[end >>> 4] ??= m.subarray(0, end));
    // Every full block comes back (see the top); anything else would desynchronise the chaining.
    if (x.length !== end) throw new Error('AES-CBC returned a partial output; AES-CCM cannot continue');
    const chain = this.chain;
    for (let i = 0, o = end - BLOCK; i < BLOCK; i++) chain[i] = x[o + i];
    return x;
  }
}

/**
 * Whether the received tag (`tag[tagFrom..]`) equals the expected one, T xor S_0 (RFC 3610
 * 2.3): T at `x[tagAt..]`, S_0 at `s[s0..]`. Constant time: every byte is XOR-accumulated, no early exit,
 * and the only branch is on the accumulated result. Not crypto.timingSafeEqual: that is one more
 * native call per received record, and on an established session each record is opened on a
 * cold CPU after an idle wait, where that call alone cost ~2.7 µs (BENCHMARKS.md, "CoAPS: where
 * the extra CPU goes"); this loop over 8 or 16 bytes stays in already-running JS.
 */
export function tagMatches(x: Buffer, tagAt: number, s: Buffer, s0: number, tag: Buffer, tagFrom: number, tagLength: number): boolean {
  let diff = 0;
  for (let i = 0; i < tagLength; i++) diff |= x[tagAt + i] ^ s[s0 + i] ^ tag[tagFrom + i];
  return diff === 0;
}

/**
 * A_i = flags (L' = L - 1) || nonce (written per message) || i as an L-byte counter (RFC 3610
 * 2.3), for `records` messages of `blocks` blocks each (i counts from 0 in each).
 */
function counterBlocks(blocks: number, records = 1): Buffer {
  const perRecord = records === 1 ? Math.max(blocks, 8) : blocks; // 8 blocks: a typical CoAP record without regrowing
  const a = Buffer.alloc(perRecord * records * BLOCK);
  for (let o = 0; o < a.length;) {
    for (let b = 0; b < perRecord; b++, o += BLOCK) {
      a[o] = L - 1;
      a[o + 13] = b >>> 16;
      a[o + 14] = (b >>> 8) & 0xff;
      a[o + 15] = b & 0xff;
    }
  }
  return a;
}
