// TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label + seed) with HMAC, and what DTLS derives from it.
import { createHash, createHmac } from 'node:crypto';

export type PrfHash = 'sha256' | 'sha384';

export function pHash(hash: PrfHash, secret: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  let a = seed; // A(0)
  while (total < length) {
    a = createHmac(hash, secret).update(a).digest();
    const chunk = createHmac(hash, secret).update(a).update(seed).digest();
    out.push(chunk);
    total += chunk.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

export function prf(hash: PrfHash, secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  return pHash(hash, secret, Buffer.concat([Buffer.from(label, 'ascii'), seed]), length);
}

export function transcriptHash(hash: PrfHash, messages: Buffer[]): Buffer {
  const h = createHash(hash);
  for (const m of messages) h.update(m);
  return h.digest();
}

/** RFC 5246 8.1, or RFC 7627 4 when the extended master secret was negotiated. */
export function masterSecret(hash: PrfHash, preMaster: Buffer, opts: { extended: boolean; sessionHash?: Buffer; clientRandom: Buffer; serverRandom: Buffer }): Buffer {
  if (opts.extended) return prf(hash, preMaster, 'extended master secret', opts.sessionHash as Buffer, 48);
  return prf(hash, preMaster, 'master secret', Buffer.concat([opts.clientRandom, opts.serverRandom]), 48);
}

export interface KeyBlock { clientKey: Buffer; serverKey: Buffer; clientIv: Buffer; serverIv: Buffer }

/** RFC 5246 6.3 for AEAD suites (no MAC keys): keys then 4-byte implicit nonce salts. */
export function keyBlock(hash: PrfHash, master: Buffer, clientRandom: Buffer, serverRandom: Buffer, keyLength: number, ivLength: number): KeyBlock {
  const block = prf(hash, master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 2 * keyLength + 2 * ivLength);
  let o = 0;
  const take = (n: number): Buffer => { const b = block.subarray(o, o + n); o += n; return Buffer.from(b); };
  return { clientKey: take(keyLength), serverKey: take(keyLength), clientIv: take(ivLength), serverIv: take(ivLength) };
}

export function verifyData(hash: PrfHash, master: Buffer, label: 'client finished' | 'server finished', handshakeHash: Buffer): Buffer {
  return prf(hash, master, label, handshakeHash, 12);
}
