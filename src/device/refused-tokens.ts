// CoAP has no connection-level authentication: connect() proves only that the server answers,
// and the token is judged per request. So a 4.01 must be remembered, or the status would go back
// to green "connected" after every backoff and every redeploy (a new DeviceConnection for the
// same device) until the next message fails again. This is the memory: per transport, host, port
// and token (as a SHA-256 digest, so no token is kept here), "the server refused it", until a
// request with it succeeds. Bounded: the oldest verdict goes first.
import crypto from 'node:crypto';
import type { ConnectionSettings, TransportError } from '../transports/transport';

const MAX_ENTRIES = 1000;
const refused = new Map<string, string>(); // key → the refusal's code (e.g. COAP_4.01)

function keyOf(settings: ConnectionSettings): string {
  return crypto.createHash('sha256').update(`${settings.transport}\n${settings.host}\n${settings.port}\n${settings.accessToken}`).digest('base64');
}

/** Only CoAP judges the token per request; MQTT's CONNACK already answers at connect. */
export function judgedPerRequest(settings: ConnectionSettings): boolean {
  return settings.transport === 'coap' || settings.transport === 'coaps';
}

export function rememberRefused(settings: ConnectionSettings, code: string): void {
  const key = keyOf(settings);
  refused.delete(key);
  refused.set(key, code);
  if (refused.size > MAX_ENTRIES) refused.delete(refused.keys().next().value as string);
}

export function forgetRefused(settings: ConnectionSettings): void {
  refused.delete(keyOf(settings));
}

/** The code of the standing refusal, if the server refused this token and accepted nothing since. */
export function refusedCode(settings: ConnectionSettings): string | undefined {
  return refused.get(keyOf(settings));
}

/**
 * One connection's view of the memory: the code of a 4.01 not yet followed by a delivered
 * message. While it stands, a connected CoAP connection shows "unauthorized" (messages are still
 * sent: one that succeeds clears it).
 */
export class RefusedToken {
  private standing: string | undefined;

  constructor(private readonly settings: ConnectionSettings) {
    // A redeploy (a new connection for the same device) keeps showing the refusal.
    this.standing = judgedPerRequest(settings) ? refusedCode(settings) : undefined;
  }

  /** The code of the standing refusal (e.g. COAP_4.01), if any. */
  get code(): string | undefined {
    return this.standing;
  }

  /** A permanent failure: remembered when the server refused the token of a per-request transport. */
  failed(err: TransportError): void {
    if (err.kind !== 'unauthorized' || !judgedPerRequest(this.settings)) return;
    this.standing = err.code;
    rememberRefused(this.settings, err.code);
  }

  /** A message was delivered: true when that ended a standing refusal (the status changes). */
  delivered(): boolean {
    if (!this.standing) return false;
    this.standing = undefined;
    forgetRefused(this.settings);
    return true;
  }
}
