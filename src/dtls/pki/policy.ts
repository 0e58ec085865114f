// Algorithm policy equal to OpenSSL's security level as Node's `tls` applies it to a server chain
// (x509_vfy.c check_key_level / check_sig_level, ssl/ssl_cert.c): every key in the path needs at
// least MIN_BITS bits of security; every signature except the trust anchor's own self-signature
// needs a digest of at least MIN_BITS. Node 20/22 bundle OpenSSL 3 at its compiled-in default,
// security level 1: 80 bits. So RSA and DSA keys need 1024 bits, EC curves a 160-bit order, and
// MD5 (39 bits) and SHA-1 (63 bits in OpenSSL 3) signatures are refused.
import type { KeyObject } from 'node:crypto';
import { Tag, children, expect, parseDer, readOid } from './asn1';
import type { Certificate } from './certificate';

export const SECURITY_LEVEL = 1;
export const MIN_BITS = 80;

const HASH_BITS: Record<string, [string, number]> = {
  '1.2.840.113549.2.2': ['MD2', 0], '1.2.840.113549.2.5': ['MD5', 39], '1.3.14.3.2.26': ['SHA-1', 63],
  '2.16.840.1.101.3.4.2.4': ['SHA-224', 112], '2.16.840.1.101.3.4.2.1': ['SHA-256', 128],
  '2.16.840.1.101.3.4.2.2': ['SHA-384', 192], '2.16.840.1.101.3.4.2.3': ['SHA-512', 256],
  '2.16.840.1.101.3.4.2.7': ['SHA3-224', 112], '2.16.840.1.101.3.4.2.8': ['SHA3-256', 128],
  '2.16.840.1.101.3.4.2.9': ['SHA3-384', 192], '2.16.840.1.101.3.4.2.10': ['SHA3-512', 256],
};

/** Signature algorithm OID → [name, security bits]. */
const SIGNATURES: Record<string, [string, number]> = {
  '1.2.840.113549.1.1.2': ['md2WithRSAEncryption', 0], '1.2.840.113549.1.1.3': ['md4WithRSAEncryption', 0],
  '1.2.840.113549.1.1.4': ['md5WithRSAEncryption', 39], '1.2.840.113549.1.1.5': ['sha1WithRSAEncryption', 63],
  '1.3.14.3.2.29': ['sha1WithRSA', 63], '1.2.840.10045.4.1': ['ecdsa-with-SHA1', 63], '1.2.840.10040.4.3': ['dsa-with-SHA1', 63],
  '1.2.840.113549.1.1.14': ['sha224WithRSAEncryption', 112], '1.2.840.113549.1.1.11': ['sha256WithRSAEncryption', 128],
  '1.2.840.113549.1.1.12': ['sha384WithRSAEncryption', 192], '1.2.840.113549.1.1.13': ['sha512WithRSAEncryption', 256],
  '1.2.840.10045.4.3.1': ['ecdsa-with-SHA224', 112], '1.2.840.10045.4.3.2': ['ecdsa-with-SHA256', 128],
  '1.2.840.10045.4.3.3': ['ecdsa-with-SHA384', 192], '1.2.840.10045.4.3.4': ['ecdsa-with-SHA512', 256],
  '2.16.840.1.101.3.4.3.1': ['dsa-with-SHA224', 112], '2.16.840.1.101.3.4.3.2': ['dsa-with-SHA256', 128],
  '1.3.101.112': ['Ed25519', 128], '1.3.101.113': ['Ed448', 224],
};
const RSA_PSS = '1.2.840.113549.1.1.10';

/** The signature algorithm's name and security bits; bits 0 when unknown. */
export function signatureStrength(cert: Certificate): { name: string; bits: number } {
  if (cert.sigAlg.oid === RSA_PSS) {
    // RSASSA-PSS-params: hashAlgorithm [0] defaults to SHA-1.
    let hash = '1.3.14.3.2.26';
    if (cert.sigAlg.params) {
      const params = children(expect(parseDer(cert.sigAlg.params), Tag.SEQUENCE, 'RSASSA-PSS-params'));
      const h = params.find((p) => p.tag === 0xa0);
      if (h) hash = readOid(children(children(h)[0])[0]);
    }
    const [name, bits] = HASH_BITS[hash] ?? [hash, 0];
    return { name: `RSASSA-PSS with ${name}`, bits };
  }
  const known = SIGNATURES[cert.sigAlg.oid];
  return known ? { name: known[0], bits: known[1] } : { name: `unknown algorithm ${cert.sigAlg.oid}`, bits: 0 };
}

/** BN_security_bits as OpenSSL computes it for RSA/DSA moduli. */
function modulusBits(bits: number): number {
  if (bits >= 15360) return 256;
  if (bits >= 7680) return 192;
  if (bits >= 3072) return 128;
  if (bits >= 2048) return 112;
  if (bits >= 1024) return 80;
  return 0; // below 1024 OpenSSL's estimate is under 80: refused at every level >= 1
}

/** Order bits of named curves Node reports; others are estimated from the point size. */
const CURVE_ORDER_BITS: Record<string, number> = {
  prime192v1: 192, secp224r1: 224, prime256v1: 256, secp384r1: 384, secp521r1: 521, secp256k1: 256,
  secp160r1: 161, secp160r2: 161, secp160k1: 161, secp192k1: 192, secp224k1: 225, secp112r1: 112, secp112r2: 110,
  secp128r1: 128, secp128r2: 126, brainpoolP160r1: 160, brainpoolP192r1: 192, brainpoolP224r1: 224,
  brainpoolP256r1: 256, brainpoolP320r1: 320, brainpoolP384r1: 384, brainpoolP512r1: 512,
};

function curveBits(orderBits: number): number {
  if (orderBits >= 512) return 256;
  if (orderBits >= 384) return 192;
  if (orderBits >= 256) return 128;
  if (orderBits >= 224) return 112;
  if (orderBits >= 160) return 80;
  return Math.floor(orderBits / 2);
}

/** The key's description and security bits as OpenSSL counts them. */
export function keyStrength(key: KeyObject): { name: string; bits: number } {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa': case 'rsa-pss': case 'dsa': {
      const n = d.modulusLength ?? 0;
      return { name: `${n}-bit ${key.asymmetricKeyType.toUpperCase()}`, bits: modulusBits(n) };
    }
    case 'ec': {
      const curve = d.namedCurve ?? 'explicit curve';
      let order = CURVE_ORDER_BITS[curve];
      if (order === undefined) {
        // Uncompressed point: 0x04 || X || Y, so the field size is (length - 1) / 2 bytes.
        const spki = key.export({ type: 'spki', format: 'der' });
        const fields = children(expect(parseDer(spki), Tag.SEQUENCE, 'SubjectPublicKeyInfo'));
        const point = expect(fields[1], Tag.BIT_STRING, 'subjectPublicKey');
        order = Math.floor((point.end - point.start - 2) / 2) * 8;
      }
      return { name: `EC ${curve}`, bits: curveBits(order) };
    }
    case 'ed25519': return { name: 'Ed25519', bits: 128 };
    case 'ed448': return { name: 'Ed448', bits: 224 };
    default: return { name: String(key.asymmetricKeyType), bits: 0 };
  }
}
