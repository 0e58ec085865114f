// Bodies of the handshake messages a DTLS 1.2 ECDHE client sends and receives.
import { ByteReader, u16, u8, vec16, vec24, vec8 } from './bytes';
import { Extension, encodeExtensions, parseExtensions } from './extensions';
import { protocolError } from '../errors';
import { AlertDescription } from './alert';
import { DTLS_1_0, DTLS_1_2 } from './record';

export interface ClientHello {
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: number[];
  extensions: Extension[];
}

export function encodeClientHello(h: ClientHello): Buffer {
  return Buffer.concat([
    u16(DTLS_1_2),
    h.random,
    vec8(h.sessionId),
    vec8(h.cookie),
    vec16(Buffer.concat(h.cipherSuites.map(u16))),
    vec8(Buffer.from([0])), // compression: null only
    encodeExtensions(h.extensions),
  ]);
}

export function parseHelloVerifyRequest(body: Buffer): { version: number; cookie: Buffer } {
  const r = new ByteReader(body, 'HelloVerifyRequest');
  const version = r.u16();
  const cookie = r.vec8();
  r.end();
  if (version !== DTLS_1_2 && version !== DTLS_1_0) throw protocolError('HelloVerifyRequest has an unknown version', AlertDescription.protocol_version);
  if (cookie.length > 255) throw protocolError('cookie too long', AlertDescription.illegal_parameter);
  return { version, cookie };
}

export interface ServerHello {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  compression: number;
  extensions: Extension[];
}

export function parseServerHello(body: Buffer): ServerHello {
  const r = new ByteReader(body, 'ServerHello');
  const version = r.u16();
  const random = r.bytes(32);
  const sessionId = r.vec8();
  const cipherSuite = r.u16();
  const compression = r.u8();
  const extensions = r.remaining > 0 ? parseExtensions(r.vec16()) : [];
  r.end();
  if (sessionId.length > 32) throw protocolError('ServerHello session id longer than 32 bytes', AlertDescription.illegal_parameter);
  return { version, random, sessionId, cipherSuite, compression, extensions };
}

/** The DER certificates of a Certificate message, leaf first. */
export function parseCertificate(body: Buffer): Buffer[] {
  const r = new ByteReader(body, 'Certificate');
  const list = new ByteReader(r.vec24(), 'Certificate list');
  r.end();
  const out: Buffer[] = [];
  while (list.remaining > 0) {
    const der = list.vec24();
    if (der.length === 0) throw protocolError('empty certificate in chain');
    out.push(der);
  }
  return out;
}

/** An empty certificate list: what we answer a CertificateRequest with (client auth "wanted"). */
export function encodeEmptyCertificate(): Buffer {
  return vec24(Buffer.alloc(0));
}

export interface ServerKeyExchange {
  group: number;
  publicKey: Buffer;
  /** curve_type + named_curve + point: the bytes the signature covers after the randoms. */
  params: Buffer;
  scheme: number;
  signature: Buffer;
}

export function parseServerKeyExchange(body: Buffer): ServerKeyExchange {
  const r = new ByteReader(body, 'ServerKeyExchange');
  const curveType = r.u8();
  if (curveType !== 3) throw protocolError('ServerKeyExchange does not use a named curve', AlertDescription.illegal_parameter);
  const group = r.u16();
  const publicKey = r.vec8();
  const params = body.subarray(0, r.offset);
  const scheme = r.u16();
  const signature = r.vec16();
  r.end();
  return { group, publicKey, params, scheme, signature };
}

export interface CertificateRequest { certificateTypes: number[]; signatureSchemes: number[]; authorities: Buffer }

export function parseCertificateRequest(body: Buffer): CertificateRequest {
  const r = new ByteReader(body, 'CertificateRequest');
  const certificateTypes = [...r.vec8()];
  const schemes = r.vec16();
  if (schemes.length % 2) throw protocolError('CertificateRequest signature list has an odd length');
  const authorities = r.vec16();
  r.end();
  const signatureSchemes: number[] = [];
  for (let i = 0; i < schemes.length; i += 2) signatureSchemes.push(schemes.readUInt16BE(i));
  return { certificateTypes, signatureSchemes, authorities };
}

export function encodeClientKeyExchange(publicKey: Buffer): Buffer {
  return vec8(publicKey);
}

export function encodeChangeCipherSpec(): Buffer {
  return u8(1);
}
