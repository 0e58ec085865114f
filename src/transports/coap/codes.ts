// CoAP response codes (RFC 7252 §12.1.2, RFC 7959, RFC 8132, RFC 8516) and how each maps onto the
// transport contract's failure kinds, with the wording users see in status and done(err); and
// the CoAP transport's errors, whose texts are redacted (the URI holds the access token).
import type { IncomingMessage } from 'coap';
import { TransportError, asTransportError, type FailureKind } from '../transport';
import { redact } from '../../shared';

const MEANINGS: Record<string, string> = {
  '2.01': 'Created',
  '2.02': 'Deleted',
  '2.03': 'Valid',
  '2.04': 'Changed',
  '2.05': 'Content',
  '2.31': 'Continue',
  '4.00': 'Bad Request',
  '4.01': 'Unauthorized',
  '4.02': 'Bad Option',
  '4.03': 'Forbidden',
  '4.04': 'Not Found',
  '4.05': 'Method Not Allowed',
  '4.06': 'Not Acceptable',
  '4.08': 'Request Entity Incomplete',
  '4.09': 'Conflict',
  '4.12': 'Precondition Failed',
  '4.13': 'Request Entity Too Large',
  '4.15': 'Unsupported Content-Format',
  '4.22': 'Unprocessable Entity',
  '4.29': 'Too Many Requests',
  '5.00': 'Internal Server Error',
  '5.01': 'Not Implemented',
  '5.02': 'Bad Gateway',
  '5.03': 'Service Unavailable',
  '5.04': 'Gateway Timeout',
  '5.05': 'Proxying Not Supported',
};

/** "4.04 Not Found" (or just the code when it is not a registered one). */
export function describeCode(code: string): string {
  const meaning = MEANINGS[code];
  return meaning ? `${code} ${meaning}` : code;
}

const HINTS: Record<string, string> = {
  '4.04': 'is this a ThingsBoard CoAP endpoint?',
  '4.13': 'the message is too large for the server',
  '4.29': 'the device exceeds a ThingsBoard rate limit',
  '5.03': 'the server is overloaded or starting',
};

/**
 * The TransportError for a non-2.xx answer. `diagnostic` is the server's payload (already
 * redacted by the caller) and is appended when it is short readable text.
 */
export function errorForCode(code: string, diagnostic: string): TransportError {
  const detail = diagnostic ? ` — server says: ${diagnostic}` : '';
  if (code === '4.01') {
    // Same advice as MQTT's CONNACK 4/5 (mqtt/errors.ts): where to copy the token from.
    return new TransportError(
      'unauthorized: ThingsBoard refused the access token (CoAP 4.01 Unauthorized). ' +
        'Check the access token in the device configuration: copy it again from the device in ThingsBoard (Manage credentials).',
      'unauthorized',
      'COAP_4.01',
    );
  }
  if (code === '4.00') {
    return new TransportError(
      `server rejected the payload (4.00 Bad Request): it is not what ThingsBoard accepts for this resource${detail}`,
      'rejected',
      'COAP_4.00',
    );
  }
  const hint = HINTS[code] ? ` (${HINTS[code]})` : '';
  return new TransportError(`server answered ${describeCode(code)}${hint}${detail}`, 'rejected', `COAP_${code}`);
}

/** The server's diagnostic payload as one short line, or '' when it is not printable text. */
export function diagnosticText(payload: Buffer | undefined): string {
  if (!payload || payload.length === 0) return '';
  const text = payload.subarray(0, 200).toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text)) return '';
  return text.replace(/\s+/g, ' ').trim() + (payload.length > 200 ? '…' : '');
}

/** A TransportError whose text cannot hold the token. */
export function tokenError(token: string, message: string, kind: FailureKind, code?: string): TransportError {
  return new TransportError(redact(message, token), kind, code);
}

/** `err` as a TransportError whose text cannot hold the token (an unknown throw: 'rejected', COAP_ERROR). */
export function redactedError(token: string, err: unknown): TransportError {
  const e = asTransportError(err, { kind: 'rejected', code: 'COAP_ERROR' });
  return tokenError(token, e.message, e.kind, e.code);
}

/** ThingsBoard's answer `res` to `what` was not 2.xx: the error it means. */
export function codeError(token: string, res: IncomingMessage, what: string): TransportError {
  if (res.code === '0.00') return tokenError(token, `the server reset ${what} (RST): it does not serve this CoAP resource`, 'rejected', 'COAP_RST');
  const e = errorForCode(res.code, diagnosticText(res.payload));
  return tokenError(token, `${what}: ${e.message}`, e.kind, e.code);
}

/** CoAPS with a client certificate: a 4.01 means ThingsBoard knows no device with this certificate. */
export function x509Unauthorized(): TransportError {
  return new TransportError(
    'unauthorized (CoAP 4.01): ThingsBoard accepted the DTLS handshake but no device has this client certificate. ' +
      'Add the certificate to the device in ThingsBoard (Manage credentials → X.509), or use the certificate stored there.',
    'unauthorized',
    'X509_COAP_4.01',
  );
}
