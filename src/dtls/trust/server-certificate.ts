// Is the DTLS server's certificate trusted, for the name we connect to? Answered exactly as
// node:tls answers it for a TLS connection: the chain by OpenSSL's X509_verify_cert
// (openssl-chain.ts), the name by tls.checkServerIdentity. A refusal is a DtlsError whose message
// names the certificate and the rule in the words MQTTS uses too (verify-words.ts).
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { DtlsError, DtlsErrorCode } from '../errors';
import { AlertDescription } from '../protocol/alert';
import { verifyChainWithOpenSSL, type ChainVerdict } from './openssl-chain';
import { knownTrusted, rememberTrusted } from './trusted-chains';
import { certificateLabel, hostMismatchText, trustFailureText, trustRule } from './verify-words';

export interface TrustOptions {
  /** The user's CA bundle (PEM). */
  ca: string;
  /** Host name or IP address the certificate must name. */
  identity: string;
  allowPartialChain?: boolean;
  /** The leaf key's type, when known (saves parsing the key again). */
  leafKeyType?: string;
}

const ALERT: Record<string, AlertDescription> = {
  UNKNOWN_CA: AlertDescription.unknown_ca,
  CERT_EXPIRED: AlertDescription.certificate_expired,
  CERT_NOT_YET_VALID: AlertDescription.certificate_expired,
  BAD_CERTIFICATE: AlertDescription.bad_certificate,
};

/** Resolves null when `chain` (leaf first) is trusted for `identity`, else the DtlsError to fail with. Never rejects. */
export async function checkServerCertificate(chain: X509Certificate[], opts: TrustOptions): Promise<DtlsError | null> {
  const partial = opts.allowPartialChain === true;
  let verdict: ChainVerdict;
  // OpenSSL trusted these very bytes with this bundle a moment ago (trusted-chains.ts).
  if (knownTrusted(chain, opts.ca, partial)) verdict = { ok: true };
  else {
    try {
      verdict = await verifyChainWithOpenSSL({ chainDer: chain.map((c) => c.raw), ca: opts.ca, allowPartialChain: partial, leafKeyType: opts.leafKeyType });
    } catch (err) {
      return new DtlsError('BAD_CERTIFICATE', `the server's certificate cannot be verified: ${(err as Error)?.message ?? err}`, { sendAlert: AlertDescription.bad_certificate });
    }
    if (verdict.ok) rememberTrusted(chain, opts.ca, partial);
  }
  const leaf = certificateLabel(chain[0]);
  if (!verdict.ok) {
    const rule = trustRule(verdict.code, verdict.message);
    const code: DtlsErrorCode = rule.kind === 'CERT_NOT_YET_VALID' ? 'CERT_EXPIRED' : rule.kind;
    const text = trustFailureText(verdict.code, verdict.message, { subject: leaf, detail: culprit(verdict.code, chain, opts.ca) });
    return new DtlsError(code, text, { sendAlert: ALERT[rule.kind] });
  }
  let hostError: (Error & { reason?: string }) | undefined;
  try {
    hostError = tls.checkServerIdentity(opts.identity, chain[0].toLegacyObject());
  } catch (err) {
    hostError = err as Error;
  }
  if (hostError) {
    return new DtlsError('HOST_MISMATCH', hostMismatchText(opts.identity, hostError.reason ?? hostError.message), { sendAlert: AlertDescription.bad_certificate });
  }
  return null;
}

function caCertificates(ca: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const block of ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try { out.push(new X509Certificate(block)); } catch { /* named only when readable */ }
  }
  return out;
}

/**
 * Which certificate the refusal is about, in words, where that can be told from the chain alone
 * (OpenSSL reports the rule, not the depth): the one out of its dates, the top of what the server
 * sent whose issuer is missing, the root the server sent. Empty when it cannot be told.
 */
function culprit(code: string, chain: X509Certificate[], ca: string): string {
  const now = Date.now();
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    for (const c of [...chain, ...caCertificates(ca)]) {
      const from = Date.parse(c.validFrom); const to = Date.parse(c.validTo);
      if (code === 'CERT_HAS_EXPIRED' && to < now) return `${certificateLabel(c)} expired on ${new Date(to).toISOString()}`;
      if (code === 'CERT_NOT_YET_VALID' && from > now) return `${certificateLabel(c)} is not valid before ${new Date(from).toISOString()}`;
    }
    return '';
  }
  if (code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    const root = chain.find((c) => c.subject === c.issuer);
    return root ? `the server sent the root ${certificateLabel(root)}, which is not in the configured CA certificate` : '';
  }
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT') return `${certificateLabel(chain[0])} is self-signed`;
  if (code === 'UNABLE_TO_GET_ISSUER_CERT') {
    const bundle = caCertificates(ca);
    const anchor = bundle.find((b) => chain.some((c) => c.checkIssued(b))) ?? bundle.find((b) => chain.some((c) => c.raw.equals(b.raw)));
    return anchor ? `${certificateLabel(anchor)} is there, its issuer "${anchor.issuer.split('\n').reverse().join(', ')}" is not` : '';
  }
  if (code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
    // The highest certificate the server sent above the leaf, following issuers (loops stop).
    let top = chain[0];
    const seen = new Set([top]);
    for (;;) {
      const up = chain.find((c) => !seen.has(c) && top.checkIssued(c));
      if (!up || up.subject === up.issuer) break;
      seen.add(up);
      top = up;
    }
    return `no CA in the configured CA certificate issued ${certificateLabel(top)} (its issuer is "${top.issuer.split('\n').reverse().join(', ')}")`;
  }
  return '';
}
