// The config node's properties (as the editor stores them: mostly text) and credentials →
// ConnectionSettings for a transport, plus the device layer's own options. Hand-written flows may
// hold numbers and booleans where the editor writes text; both are accepted. Anything that cannot
// work is reported in `problems` (plain English, no token) and nothing connects.
import type { ConnectionSettings, DataKind, TransportName } from '../transports/transport';
import { credentialsTypeOf, parseAuth, parseProvision, type CredentialFields, type CredentialsType, type ProvisionConfig } from './credentials';
import { parseRateLimits, type RateLimits } from './pacing';

export const DEFAULT_PORTS: Record<TransportName, number> = { mqtt: 1883, mqtts: 8883, coap: 5683, coaps: 5684 };

export const DEFAULTS = {
  transport: 'mqtt' as TransportName,
  keepalive: 60,
  protocolVersion: 4 as 4 | 5,
  maxPayloadBytes: 65536,
  queueSize: 1000,
  maxInFlight: 4,
  /** CoAP(S) keepalive probe after this many idle seconds (transports/coap/session-watch.ts). */
  coapKeepalive: 15,
  persistMaxMB: 100,
  persistMaxDays: 7,
};

export interface DeviceConfig {
  id?: string;
  host?: unknown;
  port?: unknown;
  transport?: unknown;
  verifyServer?: unknown;
  allowPartialChain?: unknown;
  serverName?: unknown;
  clientId?: unknown;
  keepalive?: unknown;
  cleanSession?: unknown;
  protocolVersion?: unknown;
  maxPayloadBytes?: unknown;
  queueSize?: unknown;
  confirmable?: unknown;
  maxInFlight?: unknown;
  /** accessToken (default) | mqttBasic | x509 | provision (device/credentials.ts). */
  credentialsType?: unknown;
  /** provision: the device name to ask for (empty: the host name) and the credentials to ask for. */
  provisionDeviceName?: unknown;
  provisionCredentials?: unknown;
  /** ThingsBoard gateway: one connection for many sub-devices (MQTT/MQTTS only). */
  gateway?: unknown;
  coapKeepalive?: unknown;
  persist?: unknown;
  persistMaxMB?: unknown;
  persistMaxDays?: unknown;
  rateLimits?: unknown;
}

export interface DeviceCredentials extends CredentialFields {
  caCert?: unknown;
}

export interface ParsedDevice {
  settings: ConnectionSettings;
  /** Messages that may wait for a connection (and be in flight) at once. */
  queueSize: number;
  /** The `rateLimits` property; undefined (empty) = what ThingsBoard says. */
  rateLimits?: RateLimits;
  /** Why this configuration cannot connect; empty when it can. */
  problems: string[];
  /** The configured credentials type (settings.auth holds what connects). */
  credentialsType: CredentialsType;
  /** Set for `provision`: what a first start asks ThingsBoard for. */
  provision?: ProvisionConfig;
  /** The device is a ThingsBoard gateway ("Is gateway" ticked in ThingsBoard). */
  gateway: boolean;
  /** Set when unsent messages are kept on disk: the limits of that queue. */
  persist?: { maxBytes: number; maxAgeMs: number };
}

export const GATEWAY_NEEDS_MQTT =
  'gateway: ThingsBoard\'s gateway API works over MQTT and MQTTS only (CoAP has none): choose MQTT or MQTTS, or untick "This device is a ThingsBoard gateway"';

export const COAPS_NEEDS_CA =
  "CoAPS needs the CA certificate of your ThingsBoard server: paste it in the device's CA certificate field";

const TRANSPORTS: readonly TransportName[] = ['mqtt', 'mqtts', 'coap', 'coaps'];

function text(value: unknown): string {
  return value === undefined || value === null ? '' : String(value).trim();
}

function bool(value: unknown, fallback: boolean): boolean {
  if (value === true || value === false) return value;
  const t = text(value).toLowerCase();
  if (t === 'true' || t === '1' || t === 'on' || t === 'yes') return true;
  if (t === 'false' || t === '0' || t === 'off' || t === 'no') return false;
  return fallback;
}

/** An integer in [min, max]; empty → fallback; anything else → a problem. */
function integer(value: unknown, fallback: number, min: number, max: number, label: string, problems: string[]): number {
  const t = text(value);
  if (t === '') return fallback;
  const n = Number(t);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${label} must be a whole number from ${min} to ${max} (it is "${t}")`);
    return fallback;
  }
  return n;
}

/** A stable MQTT client id for a config node: the same after every restart and redeploy. */
export function defaultClientId(nodeId: string | undefined): string {
  const id = text(nodeId).replace(/[^A-Za-z0-9]/g, '');
  return `nr-tb-${id || 'device'}`;
}

export function parseDeviceConfig(config: DeviceConfig, credentials: DeviceCredentials | undefined, nodeId?: string): ParsedDevice {
  const problems: string[] = [];
  const rawTransport = text(config.transport).toLowerCase() || DEFAULTS.transport;
  const transport = (TRANSPORTS as readonly string[]).includes(rawTransport) ? (rawTransport as TransportName) : DEFAULTS.transport;
  if (transport !== rawTransport) problems.push(`transport must be mqtt, mqtts, coap or coaps (it is "${rawTransport}")`);

  // An IPv6 literal may come in brackets, as in a URL.
  const host = text(config.host).replace(/^\[(.*)\]$/, '$1');
  if (!host) problems.push('host is empty: enter the ThingsBoard host name or IP address');
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) problems.push(`host must be a name or address without a scheme (it is "${host}")`);
  else if (/[\s/]/.test(host)) problems.push(`host "${host}" is not a host name or address`);

  const port = integer(config.port, DEFAULT_PORTS[transport], 1, 65535, 'port', problems);

  const credentialsType = credentialsTypeOf(config.credentialsType, problems);
  const { accessToken, auth } = parseAuth(credentialsType, credentials, transport, text(config.clientId), problems);

  const protocol = text(config.protocolVersion);
  let protocolVersion: 4 | 5 = DEFAULTS.protocolVersion;
  if (protocol === '5') protocolVersion = 5;
  else if (protocol !== '' && protocol !== '4') problems.push(`MQTT protocol version must be 4 (3.1.1) or 5 (it is "${protocol}")`);

  const settings: ConnectionSettings = {
    transport,
    host,
    port,
    accessToken,
    auth,
    caCert: credentials?.caCert === undefined || credentials?.caCert === null ? '' : String(credentials.caCert),
    verifyServer: bool(config.verifyServer, true),
    allowPartialChain: bool(config.allowPartialChain, false),
    serverName: text(config.serverName),
    maxPayloadBytes: integer(config.maxPayloadBytes, DEFAULTS.maxPayloadBytes, 16, 256 * 1024 * 1024, 'max payload size', problems),
    mqtt: {
      clientId: text(config.clientId) || defaultClientId(nodeId ?? config.id),
      keepaliveSeconds: integer(config.keepalive, DEFAULTS.keepalive, 0, 65535, 'keepalive', problems),
      cleanSession: bool(config.cleanSession, true),
      protocolVersion,
    },
    coap: {
      confirmable: bool(config.confirmable, true),
      maxInFlight: integer(config.maxInFlight, DEFAULTS.maxInFlight, 1, 64, 'max in flight', problems),
      keepaliveSeconds: integer(config.coapKeepalive, DEFAULTS.coapKeepalive, 0, 3600, 'CoAP keepalive', problems),
    },
  };
  // DTLS has no system trust store to fall back on (unlike MQTTS): without a CA it can never connect.
  if (transport === 'coaps' && settings.verifyServer && !settings.caCert.trim()) problems.push(COAPS_NEEDS_CA);
  const queueSize = integer(config.queueSize, DEFAULTS.queueSize, 1, 1_000_000, 'queue size', problems);
  let rateLimits: RateLimits | undefined;
  const limitsText = text(config.rateLimits);
  if (limitsText) {
    try {
      rateLimits = parseRateLimits(limitsText);
    } catch (err) {
      problems.push(`rate limits: ${(err as Error).message}`);
    }
  }
  const provision = credentialsType === 'provision' ? parseProvision(config, credentials, transport, problems) : undefined;
  const maxMB = integer(config.persistMaxMB, DEFAULTS.persistMaxMB, 1, 1_000_000, 'disk queue size limit (MB)', problems);
  const maxDays = integer(config.persistMaxDays, DEFAULTS.persistMaxDays, 1, 3650, 'disk queue age limit (days)', problems);
  const persist = bool(config.persist, false) ? { maxBytes: maxMB * 1024 * 1024, maxAgeMs: maxDays * 86_400_000 } : undefined;
  const gateway = bool(config.gateway, false);
  // First in the list: the nodes' status shows the first problem.
  if (gateway && (transport === 'coap' || transport === 'coaps')) problems.unshift(GATEWAY_NEEDS_MQTT);
  return { settings, queueSize, rateLimits, problems, credentialsType, provision, gateway, persist };
}

// ---- the options of the nodes that use a device (thingsboard-out, -in, -request) ---------------

/** "a, b ,c" or ["a","b"] → ["a","b","c"]: trimmed, empty entries dropped, duplicates once. */
export function nameList(value: unknown): string[] {
  const parts = Array.isArray(value) ? value.map((v) => String(v)) : value === undefined || value === null ? [] : String(value).split(',');
  return [...new Set(parts.map((p) => p.trim()).filter((p) => p.length > 0))];
}

export interface OutOptions {
  kind: DataKind;
  qos: 0 | 1;
  /** The key a single value is sent under (empty: msg.topic). */
  key: string;
}

export function parseOutOptions(config: { kind?: unknown; qos?: unknown; key?: unknown }): OutOptions {
  const kind = text(config.kind ?? 'telemetry');
  return {
    // 'claim': a claiming request (payload/claim.ts), never batched.
    kind: kind === 'attributes' || kind === 'claim' ? kind : 'telemetry',
    qos: text(config.qos ?? '1') === '0' ? 0 : 1,
    key: text(config.key),
  };
}

export interface InOptions {
  channel: 'attributes' | 'rpc';
  /** attributes: the shared keys; rpc: the methods. Empty = all. */
  names: string[];
  /** attributes: the current values on every (re)connect. */
  initial: boolean;
}

export function parseInOptions(config: { receive?: unknown; keys?: unknown; methods?: unknown; initial?: unknown }): InOptions {
  const channel = text(config.receive ?? 'attributes') === 'rpc' ? 'rpc' : 'attributes';
  // Initial values default on: a flow should start from the real state (hand-written flows may omit it).
  const initial = !(config.initial === false || text(config.initial) === 'false');
  return { channel, names: nameList(channel === 'rpc' ? config.methods : config.keys), initial: channel === 'attributes' && initial };
}

export const REQUEST_TIMEOUT_S = { default: 10, max: 86_400 } as const;

export interface RequestOptions {
  request: 'attributes' | 'rpc';
  clientKeys: string[];
  sharedKeys: string[];
  method: string;
  timeoutMs: number;
  /** The timeout as given, when it was not a number of seconds in (0, a day]: the default is used. */
  badTimeout?: string;
}

export function parseRequestOptions(config: { request?: unknown; clientKeys?: unknown; sharedKeys?: unknown; method?: unknown; timeout?: unknown }): RequestOptions {
  const raw = text(config.timeout) === '' ? REQUEST_TIMEOUT_S.default : Number(config.timeout);
  // ThingsBoard's own client-side RPC timeout is 60 s; a day is the sane ceiling.
  const bad = !Number.isFinite(raw) || raw <= 0 || raw > REQUEST_TIMEOUT_S.max;
  return {
    request: text(config.request ?? 'attributes') === 'rpc' ? 'rpc' : 'attributes',
    clientKeys: nameList(config.clientKeys),
    sharedKeys: nameList(config.sharedKeys),
    method: text(config.method),
    timeoutMs: Math.round((bad ? REQUEST_TIMEOUT_S.default : raw) * 1000),
    badTimeout: bad ? String(config.timeout) : undefined,
  };
}
