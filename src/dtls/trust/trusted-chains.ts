// OpenSSL's "trusted" verdicts on server chains, remembered for a while, so that reconnecting to
// the same server (or a deploy of many devices of one ThingsBoard) does not run a TLS client
// through X509_verify_cert for the same bytes again: that costs about 1 ms of CPU per handshake.
//
// Why a remembered verdict is the verdict OpenSSL would give now: node:tls's verification (no
// CRLs, no OCSP: openssl-chain.ts gives it nothing else) depends only on the chain's bytes, the CA
// bundle, the partial-chain flag, and the clock through the certificates' validity dates. The key
// holds the first three byte for byte; the clock is covered by keeping an entry only while every
// certificate of the chain and of the bundle is within its dates (so the anchor OpenSSL picked is
// too), and never longer than TTL_MS. Only "trusted" is remembered: a refusal is asked again, so
// its words always come from OpenSSL. The host name is not part of this: it is checked on every
// handshake (server-certificate.ts).
import { X509Certificate } from 'node:crypto';

/** How long a verdict is reused at most. */
export const TTL_MS = 10 * 60 * 1000;
/** Chains remembered (one per server and CA bundle in use; the oldest goes first). */
const MAX_ENTRIES = 32;

interface Window { from: number; until: number }

const trusted = new Map<string, Window>();
/**
 * Per CA bundle text (the last few): a number that stands for it in the keys above (a bundle can
 * be large; a number is never given to another text), and the validity window of all its certificates.
 */
const bundles = new Map<string, { id: number; window: Window }>();
let nextBundleId = 0;

/** The span in which every certificate is within its dates (empty when one is unreadable). */
function windowOf(certs: readonly X509Certificate[], into: Window = { from: -Infinity, until: Infinity }): Window {
  for (const c of certs) {
    const from = Date.parse(c.validFrom);
    const until = Date.parse(c.validTo);
    if (!Number.isFinite(from) || !Number.isFinite(until)) return { from: Infinity, until: -Infinity };
    into.from = Math.max(into.from, from);
    into.until = Math.min(into.until, until);
  }
  return into;
}

function bundle(ca: string): { id: number; window: Window } {
  let b = bundles.get(ca);
  if (!b) {
    const certs: X509Certificate[] = [];
    let readable = true;
    for (const block of ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      try { certs.push(new X509Certificate(block)); } catch { readable = false; }
    }
    b = { id: nextBundleId++, window: readable ? windowOf(certs) : { from: Infinity, until: -Infinity } };
    if (bundles.size >= 4) bundles.delete(bundles.keys().next().value as string);
    bundles.set(ca, b);
  }
  return b;
}

function chainKey(chain: readonly X509Certificate[], ca: string, allowPartialChain: boolean): string {
  return `${allowPartialChain ? 1 : 0}\n${bundle(ca).id}\n${chain.map((c) => c.raw.toString('base64')).join('.')}`;
}

/** Whether OpenSSL trusted exactly this chain with this bundle and flag, recently enough to still hold. */
export function knownTrusted(chain: readonly X509Certificate[], ca: string, allowPartialChain: boolean): boolean {
  const key = chainKey(chain, ca, allowPartialChain);
  const w = trusted.get(key);
  if (!w) return false;
  const now = Date.now();
  if (w.from <= now && now < w.until) return true;
  trusted.delete(key);
  return false;
}

/** OpenSSL has just trusted `chain`: remember it while it and the bundle stay within their dates, TTL_MS at most. */
export function rememberTrusted(chain: readonly X509Certificate[], ca: string, allowPartialChain: boolean): void {
  const now = Date.now();
  const { window: b } = bundle(ca);
  const w = windowOf(chain, { from: b.from, until: b.until });
  // A certificate outside its dates that OpenSSL accepted anyway (it only checks the path it
  // built): nothing to remember on, ask again next time.
  if (!(w.from <= now && now < w.until)) return;
  const key = chainKey(chain, ca, allowPartialChain);
  trusted.delete(key);
  if (trusted.size >= MAX_ENTRIES) trusted.delete(trusted.keys().next().value as string);
  trusted.set(key, { from: w.from, until: Math.min(now + TTL_MS, w.until) });
}

/** Forgets every remembered verdict (tests). */
export function forgetTrustedChains(): void {
  trusted.clear();
  bundles.clear();
}
