// CoAP has no connection-level authentication: the token is judged per request. The token check
// at connect (transports/coap/token-probe.ts: a GET, or the first waiting message) catches a
// refused token at every connect, a redeploy's included. What a connection must still remember is
// a 4.01 on a message of an open session: the session stays up, so without this the status would
// stay green "connected" while every message is refused, until one is delivered again.
import type { ConnectionSettings, TransportError } from '../transports/transport';

/** Only CoAP judges the token per request; MQTT's CONNACK already answers at connect. */
export function judgedPerRequest(settings: ConnectionSettings): boolean {
  return settings.transport === 'coap' || settings.transport === 'coaps';
}

/**
 * One connection's standing refusal: the code of a 4.01 not yet followed by a delivered message.
 * While it stands, a connected CoAP connection shows "unauthorized" (messages are still sent: one
 * that succeeds clears it).
 */
export class RefusedToken {
  private standing: string | undefined;

  constructor(private readonly settings: ConnectionSettings) {}

  /** The code of the standing refusal (e.g. COAP_4.01), if any. */
  get code(): string | undefined {
    return this.standing;
  }

  /** A permanent failure: it stands when the server refused the token of a per-request transport. */
  failed(err: TransportError): void {
    if (err.kind !== 'unauthorized' || !judgedPerRequest(this.settings)) return;
    this.standing = err.code;
  }

  /** A message was delivered: true when that ended a standing refusal (the status changes). */
  delivered(): boolean {
    if (!this.standing) return false;
    this.standing = undefined;
    return true;
  }
}
