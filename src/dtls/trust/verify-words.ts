// OpenSSL's certificate verification results (the `code` node:tls gives them, X509_V_ERR_* names
// without the prefix) in words a user can act on. One table for MQTTS (src/transports/mqtt/errors.ts)
// and CoAPS (src/dtls/trust/server-certificate.ts): the same chain refused by OpenSSL gives the same
// rule and the same fix on both transports. node:tls names only some results; the others arrive as
// UNSPECIFIED with X509_verify_cert_error_string's text, which is matched here instead.
import type { X509Certificate } from 'node:crypto';

/** What kind of refusal it is: the DtlsError / TransportError code both transports use. */
export type TrustFailureKind = 'UNKNOWN_CA' | 'CERT_EXPIRED' | 'CERT_NOT_YET_VALID' | 'BAD_CERTIFICATE';

export interface TrustRule {
  kind: TrustFailureKind;
  /** What is wrong, after "the server's certificate chain …" or a certificate's name. */
  rule: string;
  /** What to do about it. */
  fix: string;
}

const FIX_CA = 'paste the CA certificate that issued the server certificate (the root, and any intermediate the server does not send) into the CA certificate field, or fix the chain the server sends';
const FIX_CHAIN = 'fix the certificate chain on the server (reissue the offending certificate)';
const FIX_DATE = "renew the certificate on the server, and check this machine's clock";

const BY_CODE: Record<string, TrustRule> = {
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: { kind: 'UNKNOWN_CA', rule: 'was not issued by a CA in the configured CA certificate (its issuer is not there)', fix: FIX_CA },
  // OpenSSL's name when the path reached a trusted certificate that is not self-signed.
  UNABLE_TO_GET_ISSUER_CERT: { kind: 'UNKNOWN_CA', rule: 'reaches a CA of the configured CA certificate that is not a root (not self-signed), but not the root above it', fix: 'add that root CA to the CA certificate field, or turn on "allow partial chain" to trust a CA that is not a root' },
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: { kind: 'UNKNOWN_CA', rule: 'was not issued by a CA in the configured CA certificate (no issuer for the first certificate)', fix: FIX_CA },
  DEPTH_ZERO_SELF_SIGNED_CERT: { kind: 'UNKNOWN_CA', rule: 'is self-signed and is not in the configured CA certificate', fix: 'paste the server certificate itself into the CA certificate field to pin it, or have the server use a certificate from your CA' },
  SELF_SIGNED_CERT_IN_CHAIN: { kind: 'UNKNOWN_CA', rule: 'ends at a root CA that is not in the configured CA certificate', fix: FIX_CA },
  CERT_UNTRUSTED: { kind: 'UNKNOWN_CA', rule: 'ends at a CA the bundle does not trust for TLS servers', fix: FIX_CA },
  CERT_REJECTED: { kind: 'UNKNOWN_CA', rule: 'ends at a CA the bundle explicitly distrusts (a TRUSTED CERTIFICATE entry that rejects it)', fix: FIX_CA },
  CERT_HAS_EXPIRED: { kind: 'CERT_EXPIRED', rule: 'has expired', fix: FIX_DATE },
  CERT_NOT_YET_VALID: { kind: 'CERT_NOT_YET_VALID', rule: 'is not valid yet', fix: FIX_DATE },
  ERROR_IN_CERT_NOT_BEFORE_FIELD: { kind: 'BAD_CERTIFICATE', rule: 'has a malformed notBefore date', fix: FIX_CHAIN },
  ERROR_IN_CERT_NOT_AFTER_FIELD: { kind: 'BAD_CERTIFICATE', rule: 'has a malformed notAfter date', fix: FIX_CHAIN },
  INVALID_CA: { kind: 'BAD_CERTIFICATE', rule: 'holds an intermediate that may not act as a CA (no basicConstraints CA:TRUE, keyUsage without keyCertSign, or a version 1 certificate)', fix: FIX_CHAIN },
  PATH_LENGTH_EXCEEDED: { kind: 'BAD_CERTIFICATE', rule: 'has more intermediate CAs than a CA above them allows (pathLenConstraint)', fix: FIX_CHAIN },
  INVALID_PURPOSE: { kind: 'BAD_CERTIFICATE', rule: 'is not for TLS servers (an extendedKeyUsage without serverAuth, a Netscape cert type without SSL server, or a CA that the bundle, as a TRUSTED CERTIFICATE, does not trust for serverAuth)', fix: `${FIX_CHAIN}, or ${FIX_CA}` },
  CERT_SIGNATURE_FAILURE: { kind: 'BAD_CERTIFICATE', rule: 'holds a signature that does not verify: a certificate was altered or not issued by the CA it names', fix: FIX_CHAIN },
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: { kind: 'BAD_CERTIFICATE', rule: 'holds a signature that cannot be read', fix: FIX_CHAIN },
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: { kind: 'BAD_CERTIFICATE', rule: "holds a CA whose public key cannot be decoded", fix: FIX_CHAIN },
  CERT_CHAIN_TOO_LONG: { kind: 'BAD_CERTIFICATE', rule: 'is longer than OpenSSL allows', fix: FIX_CHAIN },
  CERT_REVOKED: { kind: 'BAD_CERTIFICATE', rule: 'holds a revoked certificate', fix: FIX_CHAIN },
};

/** X509_verify_cert_error_string texts node:tls reports as UNSPECIFIED. */
const BY_TEXT: [RegExp, TrustRule][] = [
  [/permitted subtree violation/i, { kind: 'BAD_CERTIFICATE', rule: "names a host, address or name outside what a CA's name constraints permit", fix: FIX_CHAIN }],
  [/excluded subtree violation/i, { kind: 'BAD_CERTIFICATE', rule: "names a host, address or name a CA's name constraints exclude", fix: FIX_CHAIN }],
  [/name constraint|name syntax/i, { kind: 'BAD_CERTIFICATE', rule: 'has name constraints or names OpenSSL cannot check against them', fix: FIX_CHAIN }],
  [/EE certificate key too weak/i, { kind: 'BAD_CERTIFICATE', rule: 'has a key too weak for a server (RSA below 1024 bits, EC below 160 bits)', fix: FIX_CHAIN }],
  [/CA certificate key too weak/i, { kind: 'BAD_CERTIFICATE', rule: 'holds a CA with a key too weak (RSA below 1024 bits, EC below 160 bits)', fix: FIX_CHAIN }],
  [/digest algorithm too weak/i, { kind: 'BAD_CERTIFICATE', rule: 'is signed with a digest too weak (MD5 or SHA-1): reissue it with SHA-256', fix: FIX_CHAIN }],
  [/critical extension/i, { kind: 'BAD_CERTIFICATE', rule: 'holds a certificate with a critical extension OpenSSL does not understand, so it must be refused', fix: FIX_CHAIN }],
  [/certificate signing/i, { kind: 'BAD_CERTIFICATE', rule: 'holds a CA whose keyUsage lacks keyCertSign', fix: FIX_CHAIN }],
  [/invalid or inconsistent certificate extension|CA markings|malformed/i, { kind: 'BAD_CERTIFICATE', rule: 'holds a certificate with an invalid or inconsistent extension', fix: FIX_CHAIN }],
  [/RFC 3779/i, { kind: 'BAD_CERTIFICATE', rule: "holds IP address or AS number resources (RFC 3779) outside its issuer's", fix: FIX_CHAIN }],
  [/explicit (ECC|EC) parameters/i, { kind: 'BAD_CERTIFICATE', rule: 'holds a key with explicit EC parameters (only named curves are accepted)', fix: FIX_CHAIN }],
  [/key identifier mismatch|issuer serial number mismatch|subject issuer mismatch/i, { kind: 'UNKNOWN_CA', rule: 'names an issuer the CA bundle holds, but not that exact CA (key identifier or serial mismatch)', fix: FIX_CA }],
];

/** Whether node:tls reports `code` for a verification result of OpenSSL (not a socket or protocol error). */
export function isVerifyCode(code: string): boolean {
  return code in BY_CODE || code === 'UNSPECIFIED';
}

/** The rule OpenSSL's verification result `code` (with its text `message`) stands for. */
export function trustRule(code: string, message = ''): TrustRule {
  const known = BY_CODE[code];
  if (known) return known;
  for (const [re, rule] of BY_TEXT) if (re.test(message)) return rule;
  return { kind: 'BAD_CERTIFICATE', rule: `breaks a rule of certificate path validation (OpenSSL: ${message || code})`, fix: FIX_CHAIN };
}

/**
 * The sentence both transports show: "server certificate not trusted (CODE): the server's
 * certificate chain (for "leaf CN") <rule>; <which certificate>. To fix: <fix>."
 */
export function trustFailureText(code: string, message: string, named: { subject?: string; detail?: string } = {}): string {
  const r = trustRule(code, message);
  const who = named.subject ? `the server's certificate chain (for ${named.subject})` : "the server's certificate chain";
  const what = `${code}${code === 'UNSPECIFIED' && message ? `: ${message}` : ''}`;
  return `server certificate ${r.kind === 'UNKNOWN_CA' ? 'not trusted' : 'refused'} (${what}): ${who} ${r.rule}${named.detail ? `; ${named.detail}` : ''}. To fix: ${r.fix}.`;
}

/** A certificate as a user recognises it: its subject CN, else its whole subject on one line. */
export function certificateLabel(x509: X509Certificate): string {
  const lines = x509.subject.split('\n');
  const cn = lines.find((l) => l.startsWith('CN='));
  return `"${cn ?? lines.reverse().join(', ')}"`;
}

/** The host name check of node:tls, in words: the names the certificate holds and what to change. */
export function hostMismatchText(identity: string, reason: string, where?: string): string {
  return `server certificate host name mismatch: the certificate${where ? ` of ${where}` : ''} is not valid for "${identity}" (${reason}). ` +
    'Connect using a host name the certificate lists, or set "Server name" to one of its names.';
}
