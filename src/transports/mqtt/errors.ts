// Turns what node:net, node:tls and mqtt.js report into a TransportError a Node-RED user can act
// on: which kind of failure it is (so the device layer knows whether waiting helps) and, in plain
// English, what to change. Every text is redacted by the caller's `redactText`.
import { TransportError } from '../transport';
import { hostMismatchText, isVerifyCode, trustFailureText, trustRule } from '../../dtls/trust/verify-words';

/** OpenSSL verification results that mean "no CA of the trust store issued this chain". */
const UNTRUSTED_CHAIN = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
]);

export interface Where {
  host: string;
  port: number;
  /** The name checked against the certificate (server name, else host). */
  checkedName: string;
  tls: boolean;
  /** A CA certificate was pasted (else the system's trusted CAs were used). */
  caConfigured?: boolean;
}

/** The hint for a TLS handshake that a plain-MQTT listener ended (it reads ClientHello as garbage). */
function plainPortHint(port: number): string {
  return `this port probably speaks plain MQTT (1883), not MQTTS (usually 8883): use the server's MQTTS port${port === 1883 ? '' : ` instead of ${port}`}, or choose the MQTT transport`;
}

/** A connect-stage error from node:net / node:tls. */
export function classifySocketError(err: NodeJS.ErrnoException & { reason?: string }, where: Where): TransportError {
  const code = String(err.code || '');
  const at = `${where.host}:${where.port}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return new TransportError(hostMismatchText(where.checkedName, err.reason ?? err.message, at), 'certificate', 'HOST_MISMATCH');
  }
  if (UNTRUSTED_CHAIN.has(code) && where.caConfigured === false) {
    return new TransportError(
      `server certificate not trusted (${code}): no CA certificate is configured, so the system's trusted CAs were used, and none of them issued the server certificate (a private or self-signed CA?). ` +
        'Paste the CA certificate that issued the server certificate (the root, and any intermediate the server does not send) into the CA certificate field.',
      'certificate',
      'UNKNOWN_CA',
    );
  }
  if (where.tls && isVerifyCode(code)) {
    // The same rule and words as CoAPS gives for the same chain (src/dtls/trust/verify-words.ts).
    const kind = trustRule(code, err.message).kind;
    const ours = kind === 'CERT_EXPIRED' ? 'EXPIRED' : kind === 'CERT_NOT_YET_VALID' ? 'NOT_YET_VALID' : kind;
    return new TransportError(trustFailureText(code, err.message), 'certificate', ours);
  }
  if (where.tls && /wrong version number|packet length too long|unknown protocol/i.test(String(err.message))) {
    return new TransportError(
      `${at} did not answer with TLS: ${plainPortHint(where.port)}.`,
      'unreachable',
      'NOT_TLS',
    );
  }
  if (where.tls && /alert/i.test(String(err.message))) {
    return new TransportError(
      `TLS handshake with ${at} failed (${err.message}): does the server accept TLS 1.2 or 1.3 and these ciphers?`,
      'unreachable',
      'TLS_ALERT',
    );
  }
  switch (code) {
    case 'ECONNREFUSED':
      return new TransportError(
        `connection refused by ${at}: is ThingsBoard's MQTT transport running and listening on port ${where.port}?`,
        'unreachable',
        code,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new TransportError(`host name "${where.host}" not found (${code}): check the host, and this machine's DNS.`, 'unreachable', code);
    case 'ETIMEDOUT':
    case 'CONNECT_TIMEOUT':
      return new TransportError(`no answer from ${at} in time: check the host, the port and any firewall in between.`, 'unreachable', 'TIMEOUT');
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new TransportError(`${at} cannot be reached from this machine (${code}): check the network.`, 'unreachable', code);
    case 'ECONNRESET':
    case 'EPIPE':
      // A bare close during the handshake (no TLS alert) is what a plain-MQTT listener does with
      // a ClientHello; a TLS server that dislikes our versions or ciphers sends an alert instead.
      if (where.tls) {
        return new TransportError(`${at} closed the connection during the TLS handshake without a TLS answer (${code}): ${plainPortHint(where.port)}.`, 'unreachable', 'NOT_TLS');
      }
      return new TransportError(`${at} closed the connection (${code}).`, 'unreachable', code);
    default:
      return new TransportError(`cannot connect to ${at}: ${err.message || code || 'unknown error'}`, 'unreachable', code || 'NETWORK');
  }
}

/**
 * MQTT 5 reason codes ThingsBoard sends in a DISCONNECT or a PUBACK, in words a user can act on
 * (its MqttTransportHandler: rate limits close with 0x83/0x96/0x97, a connect while rate-limited
 * gets 0x9F, a second client with the same token 0x8E, a payload it cannot parse 0x99).
 */
const MQTT5_REASONS: Record<number, string> = {
  0x83: 'ThingsBoard uses this code when the device goes over its message rate limits',
  0x8e: 'session taken over by another client using the same access token',
  0x96: 'message rate too high: the device went over its rate limits',
  0x97: 'quota exceeded: the device (or a sub-device of this gateway) went over its rate limits; send less often or set "rate limits"',
  0x99: 'payload format invalid: ThingsBoard could not parse the message',
  0x9f: 'connection rate exceeded: the device connected too often; the next attempt waits',
};

/** "0x97 quota exceeded: …", or the bare code for one ThingsBoard does not use. */
export function mqtt5Reason(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  return MQTT5_REASONS[code] ? `${hex} ${MQTT5_REASONS[code]}` : `reason code ${code} (${hex})`;
}

const MQTT5_UNAUTHORIZED: Record<number, string> = {
  134: 'bad user name or password',
  135: 'not authorized',
  140: 'bad authentication method',
};

/** Which credentials a CONNECT carried, so a refusal names what to fix. */
export type ConnectCredentials = 'accessToken' | 'mqttBasic' | 'x509' | 'provision';

const REFUSED: Record<Exclude<ConnectCredentials, 'accessToken'>, string> = {
  mqttBasic:
    'ThingsBoard refused the MQTT basic credentials: client id, user name or password refused. ' +
    'Enter them exactly as in the device credentials in ThingsBoard (Manage credentials → MQTT Basic); every field it has set must match.',
  x509:
    'ThingsBoard accepted the TLS connection but no device has this client certificate. ' +
    'Add the certificate to the device in ThingsBoard (Manage credentials → X.509), or use the certificate the device was given.',
  provision:
    'ThingsBoard refused the provisioning connection: is device provisioning enabled in the device profile, and is this its MQTT port?',
};

/** CONNACK refusal: 3.1.1 return codes 1..5, MQTT 5 reason codes >= 0x80. */
export function classifyConnack(code: number, credentials: ConnectCredentials = 'accessToken'): TransportError {
  if (code === 4 || code === 5 || MQTT5_UNAUTHORIZED[code]) {
    const what = code === 4 ? 'bad user name or password' : code === 5 ? 'not authorized' : MQTT5_UNAUTHORIZED[code];
    if (credentials !== 'accessToken') {
      // The code names the credentials too, so the status can say which ones to check.
      return new TransportError(`unauthorized (CONNACK ${code}: ${what}): ${REFUSED[credentials]}`, 'unauthorized', `${credentials.toUpperCase()}_CONNACK_${code}`);
    }
    return new TransportError(
      `unauthorized: ThingsBoard refused the access token (CONNACK ${code}: ${what}). ` +
        'Check the access token in the device configuration: copy it again from the device in ThingsBoard (Manage credentials).',
      'unauthorized',
      `CONNACK_${code}`,
    );
  }
  const reasons: Record<number, string> = {
    1: 'unacceptable protocol version: try MQTT 3.1.1',
    2: 'client id rejected: set another client id',
    3: 'server unavailable',
    132: 'unsupported protocol version: try MQTT 3.1.1',
    133: 'client id rejected: set another client id',
    136: 'server unavailable',
    137: 'server busy',
    151: 'quota exceeded: the device went over its rate limits; the next attempt waits',
    159: 'connection rate exceeded: the device connected too often; the next attempt waits',
  };
  return new TransportError(`ThingsBoard refused the connection (CONNACK ${code}: ${reasons[code] || 'refused'}).`, 'unreachable', `CONNACK_${code}`);
}

/** TLS alerts a server sends when it does not accept the client certificate (OpenSSL's texts). */
const CLIENT_CERT_ALERT = /alert (bad certificate|unknown ca|certificate (required|unknown|expired|revoked)|unsupported certificate|access denied|decrypt error)/i;

/**
 * A TLS failure that means "the server refused our client certificate". Under TLS 1.3 the
 * server judges it after our side has finished the handshake, so the alert may arrive as a socket
 * error after 'secureConnect' (then mqtt.js reports it): both places call this.
 */
export function classifyClientCertAlert(err: { message?: string; code?: unknown }, where: Where): TransportError | undefined {
  const match = CLIENT_CERT_ALERT.exec(String(err.message ?? ''));
  if (!match) return undefined;
  return new TransportError(
    `the server ${where.host}:${where.port} refused the client certificate (TLS alert: ${match[1].toLowerCase()}): ` +
      'it does not trust the CA that issued it, or the certificate expired or is not valid yet. Use a certificate the server trusts (for ThingsBoard: the one stored on the device, or one signed by the CA of the device profile).',
    'certificate',
    'CLIENT_CERT_REFUSED',
  );
}
