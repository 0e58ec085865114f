// DtlsError: every way a DTLS session can fail ends in one of these, with a `code` a caller can
// branch on and an English message that names the reason.
import { AlertDescription, alertName } from './protocol/alert';

export type DtlsErrorCode =
  | 'UNKNOWN_CA'
  | 'CERT_EXPIRED'
  | 'HOST_MISMATCH'
  | 'BAD_SIGNATURE'
  | 'BAD_FINISHED'
  | 'HANDSHAKE_TIMEOUT'
  | 'ALERT_RECEIVED'
  | 'BAD_CERTIFICATE'
  /** Our client certificate cannot be used (unreadable, key mismatch, nothing the server accepts). */
  | 'CLIENT_CERTIFICATE'
  | 'PROTOCOL'
  | 'NETWORK'
  | 'CLOSED';

export class DtlsError extends Error {
  readonly code: DtlsErrorCode;
  /** For ALERT_RECEIVED: the alert the peer sent (e.g. 'handshake_failure'). */
  readonly alert?: string;
  /** The alert we send (or sent) to the peer because of this error, if any. */
  readonly sendAlert?: AlertDescription;

  constructor(code: DtlsErrorCode, message: string, extra: { alert?: string; sendAlert?: AlertDescription; cause?: unknown } = {}) {
    super(message);
    this.name = 'DtlsError';
    this.code = code;
    if (extra.alert !== undefined) this.alert = extra.alert;
    if (extra.sendAlert !== undefined) this.sendAlert = extra.sendAlert;
    if (extra.cause !== undefined) (this as { cause?: unknown }).cause = extra.cause;
  }
}

/** A malformed or unexpected message: PROTOCOL error with the alert that fits it. */
export function protocolError(message: string, sendAlert: AlertDescription = AlertDescription.decode_error): DtlsError {
  return new DtlsError('PROTOCOL', `DTLS protocol error: ${message} (${alertName(sendAlert)})`, { sendAlert });
}
