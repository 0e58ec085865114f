// Alert protocol (RFC 5246 7.2): two bytes, level and description.
export enum AlertLevel { warning = 1, fatal = 2 }

export enum AlertDescription {
  close_notify = 0,
  unexpected_message = 10,
  bad_record_mac = 20,
  record_overflow = 22,
  handshake_failure = 40,
  bad_certificate = 42,
  unsupported_certificate = 43,
  certificate_revoked = 44,
  certificate_expired = 45,
  certificate_unknown = 46,
  illegal_parameter = 47,
  unknown_ca = 48,
  access_denied = 49,
  decode_error = 50,
  decrypt_error = 51,
  protocol_version = 70,
  insufficient_security = 71,
  internal_error = 80,
  user_canceled = 90,
  no_renegotiation = 100,
  unsupported_extension = 110,
}

export function alertName(description: number): string {
  return AlertDescription[description] ?? `alert ${description}`;
}

export function encodeAlert(level: AlertLevel, description: AlertDescription): Buffer {
  return Buffer.from([level, description]);
}

export interface Alert { level: number; description: number }

export function decodeAlert(body: Buffer): Alert | null {
  if (body.length !== 2) return null;
  return { level: body[0], description: body[1] };
}
