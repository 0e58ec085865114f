// CoAP has no connection-level authentication: connect() proves only that the server answers,
// and the token is judged per request. So a 4.01 must be remembered, or the status would go back
// to green "connected" after every backoff and every redeploy (a new DeviceConnection for the
// same device) until the next message fails again. This is the memory: per transport, host, port
// and token (as a SHA-256 digest, so no token is kept here), "the server refused it", until a
// request with it succeeds. One memory per Node-RED runtime (registry.ts), passed to every
// connection of that runtime; bounded: the oldest verdict goes first.
import crypto from 'node:crypto';
import type { ConnectionSettings, TransportError } from '../transports/transport';

const MAX_ENTRIES = 1000;

function keyOf(settings: ConnectionSettings): string {
  // X.509 devices have no token: their certificate says who they are (CoAPS paths carry none).
  const who = settings.auth?.type === 'x509' ? `x509\n${settings.auth.certPem}` : settings.accessToken;
  return crypto.createHash('sha256').update(`${settings.transport}\n${settings.host}\n${settings.port}\n${who}`).digest('base64');
}

/** Only CoAP judges the token per request; MQTT's CONNACK already answers at connect. */
export function judgedPerRequest(settings: ConnectionSettings): boolean {
  return settings.transport === 'coap' || settings.transport === 'coaps';
}

/** The refusals one runtime has seen: key → the refusal's code (e.g. COAP_4.01). */
export class RefusedTokens {
  private readonly refused = new Map<string, string>();

  remember(settings: ConnectionSettings, code: string): void {
    const key = keyOf(settings);
    this.refused.delete(key);
    this.refused.set(key, code);
    if (this.refused.size > MAX_ENTRIES) this.refused.delete(this.refused.keys().next().value as string);
  }

  forget(settings: ConnectionSettings): void {
    this.refused.delete(keyOf(settings));
  }

  /** The code of the standing refusal, if the server refused this token and accepted nothing since. */
  code(settings: ConnectionSettings): string | undefined {
    return this.refused.get(keyOf(settings));
  }
}

/**
 * One connection's view of the memory: the code of a 4.01 not yet followed by a delivered
 * message. While it stands, a connected CoAP connection shows "unauthorized" (messages are still
 * sent: one that succeeds clears it).
 */
export class RefusedToken {
  private standing: string | undefined;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly memory: RefusedTokens,
  ) {
    // A redeploy (a new connection for the same device) keeps showing the refusal.
    this.standing = judgedPerRequest(settings) ? memory.code(settings) : undefined;
  }

  /** The code of the standing refusal (e.g. COAP_4.01), if any. */
  get code(): string | undefined {
    return this.standing;
  }

  /** A permanent failure: remembered when the server refused the token of a per-request transport. */
  failed(err: TransportError): void {
    if (err.kind !== 'unauthorized' || !judgedPerRequest(this.settings)) return;
    this.standing = err.code;
    this.memory.remember(this.settings, err.code);
  }

  /** A message was delivered: true when that ended a standing refusal (the status changes). */
  delivered(): boolean {
    if (!this.standing) return false;
    this.standing = undefined;
    this.memory.forget(this.settings);
    return true;
  }
}
