// CoAP has no connection-level authentication: connect() proves only that the server answers,
// and the token is judged per request. So a 4.01 must be remembered, or the status would go back
// to green "connected" after every backoff and every redeploy (a new DeviceConnection for the
// same device) until the next message fails again. This is the memory: per transport, host, port
// and token (as a SHA-256 digest, so no token is kept here), "the server refused it", until a
// request with it succeeds. Bounded: the oldest verdict goes first.
import crypto from 'node:crypto';
import type { ConnectionSettings } from '../transports/transport';

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
