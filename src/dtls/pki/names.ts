// Name constraints (RFC 5280 §4.2.1.10) matched the way OpenSSL's NAME_CONSTRAINTS_check does,
// since Node's `tls` is the reference: for each name of a certificate, if a CA above it permits
// subtrees of that name's type, one must match; no excluded subtree of that type may match.
// DNS: "example.com" matches itself and every name below it, ".example.com" only names below it.
// IP: address/mask of the same family. Email, URI and directoryName follow the same rules.
import type { Certificate, GeneralName, NameConstraints, Subtree } from './certificate';

export type NameCheck = { ok: true } | { ok: false; name: string; rule: string };

function lower(s: string): string { return s.toLowerCase(); }

/** OpenSSL nc_dns: an empty base matches all; otherwise a suffix match on a label boundary. */
export function dnsMatches(name: string, base: string): boolean {
  if (base.length === 0) return true;
  const n = lower(name); const b = lower(base);
  if (n.length < b.length) return false;
  if (n.length > b.length && b[0] !== '.' && n[n.length - b.length - 1] !== '.') return false;
  return n.endsWith(b);
}

/** OpenSSL nc_email: "user@host" exact host; "host" that host; ".host" any host below. */
export function emailMatches(name: string, base: string): boolean {
  const at = name.lastIndexOf('@');
  if (at < 0) return false;
  const host = lower(name.slice(at + 1));
  if (base.includes('@')) {
    const bat = base.lastIndexOf('@');
    return base.slice(0, bat) === name.slice(0, at) && lower(base.slice(bat + 1)) === host;
  }
  const b = lower(base);
  if (b.startsWith('.')) return host.endsWith(b);
  return host === b;
}

/** OpenSSL nc_uri: the URI's host against "host" (exact) or ".domain" (below it). */
export function uriMatches(name: string, base: string): boolean {
  const m = /^[^:]+:\/\/([^/:?#]+)/.exec(name);
  if (!m) return false;
  const host = lower(m[1]); const b = lower(base);
  if (b.startsWith('.')) return host.endsWith(b);
  return host === b;
}

/** OpenSSL nc_ip: base is address || mask of the same family. */
export function ipMatches(addr: Buffer, base: Buffer): boolean {
  if ((addr.length !== 4 && addr.length !== 16) || base.length !== addr.length * 2) return false;
  for (let i = 0; i < addr.length; i++) if ((addr[i] & base[addr.length + i]) !== (base[i] & base[addr.length + i])) return false;
  return true;
}

/** directoryName: the constraint's RDNs must be the first RDNs of the name (canonical forms). */
export function dirMatches(name: string[], base: string[]): boolean {
  return base.length <= name.length && base.every((rdn, i) => rdn === name[i]);
}

export function describeName(n: GeneralName): string {
  switch (n.type) {
    case 'ip': return `IP ${formatIp(n.value)}`;
    case 'dir': return `directory name "${n.label}"`;
    case 'other': return `name of type [${n.tag & 0x1f}]`;
    default: return `${n.type.toUpperCase()} "${n.value}"`;
  }
}

export function formatIp(b: Buffer): string {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length === 8) return `${Array.from(b.subarray(0, 4)).join('.')}/${Array.from(b.subarray(4)).join('.')}`;
  const hex = (x: Buffer): string => Array.from({ length: x.length / 2 }, (_, i) => x.readUInt16BE(i * 2).toString(16)).join(':');
  if (b.length === 16) return hex(b);
  if (b.length === 32) return `${hex(b.subarray(0, 16))}/${hex(b.subarray(16))}`;
  return b.toString('hex');
}

function describeBase(s: Subtree): string {
  const b = s.base;
  if (b.type === 'ip') return formatIp(b.value);
  if (b.type === 'dir' || b.type === 'other') return describeName(b);
  return b.value === '' ? '(any)' : b.value;
}

function matches(name: GeneralName, base: GeneralName): boolean {
  if (name.type !== base.type) return false;
  switch (name.type) {
    case 'dns': return dnsMatches(name.value, (base as { value: string }).value);
    case 'email': return emailMatches(name.value, (base as { value: string }).value);
    case 'uri': return uriMatches(name.value, (base as { value: string }).value);
    case 'ip': return ipMatches(name.value, (base as { value: Buffer }).value);
    case 'dir': return dirMatches(name.rdns, (base as { rdns: string[] }).rdns);
    default: return false;
  }
}

/** One name against one CA's constraints. */
export function checkName(name: GeneralName, nc: NameConstraints): NameCheck {
  const permitted = nc.permitted.filter((s) => s.base.type === name.type);
  const excluded = nc.excluded.filter((s) => s.base.type === name.type);
  for (const s of [...permitted, ...excluded]) {
    if (s.minMax) return { ok: false, name: describeName(name), rule: 'its name constraints use minimum/maximum, which is not supported' };
    if (name.type === 'other' || s.base.type === 'other') return { ok: false, name: describeName(name), rule: 'its name constraints use a name type that cannot be checked' };
  }
  if (name.type === 'ip' && name.value.length !== 4 && name.value.length !== 16 && (permitted.length || excluded.length)) {
    return { ok: false, name: describeName(name), rule: 'the IP address is malformed' };
  }
  if (permitted.length > 0 && !permitted.some((s) => matches(name, s.base))) {
    return { ok: false, name: describeName(name), rule: `its name constraints permit only ${permitted.map(describeBase).join(', ')}` };
  }
  const hit = excluded.find((s) => matches(name, s.base));
  if (hit) return { ok: false, name: describeName(name), rule: `its name constraints exclude ${describeBase(hit)}` };
  return { ok: true };
}

/** OpenSSL cn2dnsid: a CN counts as a DNS name only if it looks like one (letters, digits, '-', '_', inner dots). */
export function commonNameAsDns(cn: string): string | null {
  let dns = false;
  for (let i = 0; i < cn.length; i++) {
    const c = cn[i];
    if (/[A-Za-z_]/.test(c)) { dns = true; continue; }
    if (/[0-9]/.test(c)) continue;
    if (i > 0 && i < cn.length - 1) {
      if (c === '-') continue;
      if (c === '.' && cn[i + 1] !== '.' && cn[i - 1] !== '-' && cn[i - 1] !== '.') { dns = true; continue; }
    }
    return null;
  }
  return dns ? cn : null;
}

/** Every name of `cert` (subject, emails in the subject, SANs; the leaf's CN when it has no DNS SAN) against `nc`. */
export function checkCertificateNames(cert: Certificate, nc: NameConstraints, isLeaf: boolean): NameCheck {
  const names: GeneralName[] = [];
  if (cert.subjectRdns.length) names.push({ type: 'dir', rdns: cert.subjectRdns, label: cert.label });
  for (const email of cert.subjectEmails) names.push({ type: 'email', value: email });
  names.push(...(cert.subjectAltNames ?? []));
  if (isLeaf && !(cert.subjectAltNames ?? []).some((n) => n.type === 'dns')) {
    for (const cn of cert.commonNames) { const dns = commonNameAsDns(cn); if (dns) names.push({ type: 'dns', value: dns }); }
  }
  // OpenSSL's guard against a certificate built to make this check expensive (NAME_CHECK_MAX).
  if (names.length * (nc.permitted.length + nc.excluded.length) > 1 << 20) {
    return { ok: false, name: `${names.length} names`, rule: 'too many names and constraints to check' };
  }
  for (const n of names) { const r = checkName(n, nc); if (!r.ok) return r; }
  return { ok: true };
}
