// Hello extensions (RFC 5246 7.4.1.4, RFC 6066 server_name, RFC 8422 groups / point formats,
// RFC 7627 extended_master_secret, RFC 5746 renegotiation_info).
import { ByteReader, u16, u8, vec16, vec8 } from './bytes';
import { protocolError } from '../errors';
import { AlertDescription } from './alert';

export enum ExtensionType {
  server_name = 0,
  supported_groups = 10,
  ec_point_formats = 11,
  signature_algorithms = 13,
  extended_master_secret = 23,
  renegotiation_info = 0xff01,
}

export interface Extension { type: number; data: Buffer }

export function encodeExtensions(exts: Extension[]): Buffer {
  return vec16(Buffer.concat(exts.map((e) => Buffer.concat([u16(e.type), vec16(e.data)]))));
}

/** Parses an extensions block; a type that appears twice is illegal (RFC 5246 7.4.1.4). */
export function parseExtensions(block: Buffer): Extension[] {
  const r = new ByteReader(block, 'extensions');
  const out: Extension[] = [];
  while (r.remaining > 0) {
    const type = r.u16();
    const data = r.vec16();
    if (out.some((e) => e.type === type)) throw protocolError(`extension ${type} appears twice`, AlertDescription.illegal_parameter);
    out.push({ type, data });
  }
  return out;
}

export function serverNameExtension(hostName: string): Extension {
  const name = Buffer.from(hostName, 'ascii');
  return { type: ExtensionType.server_name, data: vec16(Buffer.concat([u8(0), vec16(name)])) };
}

export function supportedGroupsExtension(groups: number[]): Extension {
  return { type: ExtensionType.supported_groups, data: vec16(Buffer.concat(groups.map(u16))) };
}

export function pointFormatsExtension(): Extension {
  return { type: ExtensionType.ec_point_formats, data: vec8(Buffer.from([0])) }; // uncompressed
}

export function signatureAlgorithmsExtension(schemes: number[]): Extension {
  return { type: ExtensionType.signature_algorithms, data: vec16(Buffer.concat(schemes.map(u16))) };
}

export function extendedMasterSecretExtension(): Extension {
  return { type: ExtensionType.extended_master_secret, data: Buffer.alloc(0) };
}

export function renegotiationInfoExtension(): Extension {
  return { type: ExtensionType.renegotiation_info, data: vec8(Buffer.alloc(0)) };
}
