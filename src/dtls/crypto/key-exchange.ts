// Ephemeral ECDH for the groups we offer (RFC 8422): P-256, P-384 (uncompressed points), X25519.
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { protocolError } from '../errors';
import { AlertDescription } from '../protocol/alert';

export enum NamedGroup { secp256r1 = 23, secp384r1 = 24, x25519 = 29 }

/** In our order of preference. */
export const SUPPORTED_GROUPS: NamedGroup[] = [NamedGroup.x25519, NamedGroup.secp256r1, NamedGroup.secp384r1];

export interface EphemeralKey {
  /** Our public value as sent in ClientKeyExchange. */
  publicKey: Buffer;
  /** The premaster secret from the server's public value; throws PROTOCOL on a bad point. */
  deriveSecret(peerPublic: Buffer): Buffer;
}

const POINT_LENGTH: Record<number, number> = { [NamedGroup.secp256r1]: 65, [NamedGroup.secp384r1]: 97, [NamedGroup.x25519]: 32 };

export function createEphemeralKey(group: number): EphemeralKey {
  const badPoint = () => protocolError(`the server's ephemeral public key is not a valid ${NamedGroup[group]} point`, AlertDescription.illegal_parameter);
  const checkLength = (peer: Buffer) => {
    if (peer.length !== POINT_LENGTH[group]) throw badPoint();
    if (group !== NamedGroup.x25519 && peer[0] !== 4) throw badPoint(); // uncompressed only
  };
  if (group === NamedGroup.secp256r1 || group === NamedGroup.secp384r1) {
    const ecdh = createECDH(group === NamedGroup.secp256r1 ? 'prime256v1' : 'secp384r1');
    ecdh.generateKeys();
    return {
      publicKey: ecdh.getPublicKey(),
      deriveSecret(peer) {
        checkLength(peer);
        try { return ecdh.computeSecret(peer); } catch { throw badPoint(); }
      },
    };
  }
  if (group === NamedGroup.x25519) {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    return {
      publicKey: raw,
      deriveSecret(peer) {
        checkLength(peer);
        try {
          const peerKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peer.toString('base64url') }, format: 'jwk' });
          const secret = diffieHellman({ privateKey, publicKey: peerKey });
          if (secret.every((b) => b === 0)) throw new Error('all-zero shared secret'); // RFC 8422 5.11
          return secret;
        } catch { throw badPoint(); }
      },
    };
  }
  throw protocolError(`the server chose group ${group}, which we did not offer`, AlertDescription.illegal_parameter);
}
