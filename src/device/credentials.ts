// The config node's `credentialsType` and the credentials that go with it → the access token and
// DeviceAuth of ConnectionSettings. Problems are plain English and never quote a secret (a wrong
// passphrase says so; it does not echo the key).
import { createPrivateKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import type { ProvisionRequest } from '../transports/provision';
import type { DeviceAuth, TransportName } from '../transports/transport';

export type CredentialsType = 'accessToken' | 'mqttBasic' | 'x509' | 'provision';
export const CREDENTIALS_TYPES: readonly CredentialsType[] = ['accessToken', 'mqttBasic', 'x509', 'provision'];

export interface CredentialFields {
  accessToken?: unknown;
  provisionKey?: unknown;
  provisionSecret?: unknown;
  username?: unknown;
  password?: unknown;
  clientCert?: unknown;
  clientKey?: unknown;
  clientKeyPassphrase?: unknown;
}

export interface ParsedAuth {
  type: CredentialsType;
  accessToken: string;
  auth: DeviceAuth;
}

function text(value: unknown): string {
  return value === undefined || value === null ? '' : String(value).trim();
}

/** Raw text (a password may start or end with spaces: ThingsBoard compares it exactly). */
function raw(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

export function credentialsTypeOf(value: unknown, problems: string[]): CredentialsType {
  const t = text(value) || 'accessToken';
  if ((CREDENTIALS_TYPES as readonly string[]).includes(t)) return t as CredentialsType;
  problems.push(`credentials type must be accessToken, mqttBasic, x509 or provision (it is "${t}")`);
  return 'accessToken';
}

/**
 * `explicitClientId`: the client id the user typed (empty = the node's default one), which MQTT
 * basic credentials may consist of alone.
 */
export function parseAuth(
  type: CredentialsType,
  fields: CredentialFields | undefined,
  transport: TransportName,
  explicitClientId: string,
  problems: string[],
): ParsedAuth {
  if (type === 'mqttBasic') {
    if (transport !== 'mqtt' && transport !== 'mqtts') problems.push(`MQTT basic credentials work only with MQTT or MQTTS (the transport is ${transport.toUpperCase()}): choose MQTT(S), or the access token`);
    const username = text(fields?.username);
    const password = raw(fields?.password);
    if (password && !username) problems.push('MQTT basic credentials: a password needs a user name (copy both from the device credentials in ThingsBoard)');
    if (!username && !explicitClientId) problems.push('MQTT basic credentials: enter the client id, or the user name and password, exactly as in the device credentials in ThingsBoard');
    return { type, accessToken: '', auth: { type: 'mqttBasic', username, password } };
  }
  if (type === 'x509') {
    if (transport !== 'mqtts' && transport !== 'coaps') problems.push(`X.509 certificate credentials need MQTTS or CoAPS (the transport is ${transport.toUpperCase()}): a client certificate is presented in the TLS/DTLS handshake`);
    const certPem = raw(fields?.clientCert).trim();
    const keyPem = raw(fields?.clientKey).trim();
    const passphrase = raw(fields?.clientKeyPassphrase);
    checkClientCertificate(certPem, keyPem, passphrase, transport, problems);
    return { type, accessToken: '', auth: { type: 'x509', certPem, keyPem, passphrase } };
  }
  if (type === 'provision') return { type, accessToken: '', auth: { type: 'accessToken' } };
  const accessToken = text(fields?.accessToken);
  if (!accessToken) problems.push('access token is empty: copy it from the device in ThingsBoard');
  return { type, accessToken, auth: { type: 'accessToken' } };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates of a bundle, in order. */
export function pemCertificates(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

/** The private key of `keyPem`, or a problem (a wrong passphrase, not a key, a type we cannot use). */
export function readPrivateKey(keyPem: string, passphrase: string): { key?: KeyObject; problem?: string } {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase ? { key: keyPem, format: 'pem', passphrase } : { key: keyPem, format: 'pem' });
  } catch (err) {
    const why = String((err as { code?: string })?.code ?? '');
    const encrypted = /ENCRYPTED/.test(keyPem);
    if (encrypted && !passphrase) return { problem: 'the client key is encrypted: enter its passphrase' };
    if (encrypted || /BAD_DECRYPT|bad decrypt/i.test(why + String((err as Error)?.message))) return { problem: 'the client key cannot be decrypted with this passphrase: check the passphrase' };
    return { problem: 'the client key is not a PEM private key (paste the "-----BEGIN … PRIVATE KEY-----" block)' };
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') return { key };
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'secp384r1') return { key };
    return { problem: `the client key is an EC key on ${curve ?? 'an unknown curve'}: use P-256 or P-384 (or RSA)` };
  }
  return { problem: `the client key is of type ${type ?? 'unknown'}: use an EC P-256/P-384 or an RSA key` };
}

export function checkClientCertificate(certPem: string, keyPem: string, passphrase: string, transport: TransportName, problems: string[]): void {
  const certs = pemCertificates(certPem);
  if (certs.length === 0) {
    problems.push('the client certificate is empty or not PEM: paste the device certificate ("-----BEGIN CERTIFICATE-----"), a chain may follow');
    return;
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0]);
  } catch {
    problems.push('the client certificate cannot be read: paste the PEM text of the device certificate');
    return;
  }
  if (!keyPem) {
    problems.push('the client key is empty: paste the private key of the device certificate');
    return;
  }
  const { key, problem } = readPrivateKey(keyPem, passphrase);
  if (!key) {
    problems.push(problem as string);
    return;
  }
  if (!leaf.checkPrivateKey(key)) {
    problems.push(`the client key does not belong to the client certificate (${leaf.subject.replace(/\n/g, ', ')}): paste the matching key, and the device certificate first`);
    return;
  }
  if (transport === 'coaps' && key.asymmetricKeyType === 'rsa-pss') problems.push('CoAPS: an RSA-PSS-only key cannot sign the DTLS CertificateVerify; use an RSA or EC key');
}

export interface ProvisionConfig {
  request: ProvisionRequest;
  /** ask x509: what the device connects with once ThingsBoard registered its certificate. */
  x509?: { certPem: string; keyPem: string; passphrase: string };
}

/**
 * `provision`: the request a first start sends. The device name defaults to this machine's host
 * name (one flow on many machines: each asks for its own device). MQTT basic credentials asked
 * for are generated here, at random; they are sent only when provisioning.
 */
export function parseProvision(
  config: { provisionDeviceName?: unknown; provisionCredentials?: unknown },
  fields: CredentialFields | undefined,
  transport: TransportName,
  problems: string[],
): ProvisionConfig {
  const deviceName = text(config.provisionDeviceName) || hostname();
  const provisionKey = text(fields?.provisionKey);
  const provisionSecret = text(fields?.provisionSecret);
  if (!provisionKey || !provisionSecret) problems.push('provisioning needs the provision key and secret of the device profile (ThingsBoard: device profile → Device provisioning)');
  const rawAsk = text(config.provisionCredentials) || 'accessToken';
  const ask = (['accessToken', 'mqttBasic', 'x509'] as const).find((a) => a === rawAsk);
  if (!ask) {
    problems.push(`provisioning can ask for accessToken, mqttBasic or x509 credentials (it is "${rawAsk}")`);
    return { request: { deviceName, provisionKey, provisionSecret, ask: 'accessToken' } };
  }
  const request: ProvisionRequest = { deviceName, provisionKey, provisionSecret, ask };
  if (ask === 'mqttBasic') {
    if (transport !== 'mqtt' && transport !== 'mqtts') problems.push('provisioning MQTT basic credentials needs MQTT or MQTTS: CoAP cannot use them');
    const random = (n: number) => randomBytes(n).toString('base64url');
    request.basic = { clientId: `nr-${random(9)}`, username: `nr-${random(9)}`, password: random(18) };
  }
  if (ask === 'x509') {
    const x = parseAuth('x509', fields, transport, '', problems);
    const auth = x.auth as { certPem: string; keyPem: string; passphrase: string };
    request.certPem = auth.certPem;
    return { request, x509: { certPem: auth.certPem, keyPem: auth.keyPem, passphrase: auth.passphrase } };
  }
  return { request };
}
