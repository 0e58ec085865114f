// What every layer shares (nodes, device, payload, transports, dtls): the names of the data kinds
// and transports, the failure kinds the device layer reacts to, and redaction of secrets. This
// module imports nothing, so any layer may import it without creating a cycle.

export type TransportName = 'mqtt' | 'mqtts' | 'coap' | 'coaps';
/** 'claim': a device claiming request (ThingsBoard's claiming: v1/devices/me/claim, CoAP POST claim). */
export type DataKind = 'telemetry' | 'attributes' | 'claim';

/**
 * How the device layer must react to a failure:
 * - `unauthorized`: the token was refused (CONNACK 4/5, CoAP 4.01). Waiting will not fix it:
 *   fail this and every queued message at once, retry the connection only slowly.
 * - `certificate`: server certificate untrusted, expired, or for another host. As above; no
 *   token was sent.
 * - `rejected`: the server refused this one message (CoAP 4.00, 4.04, 4.13, 5.xx, payload too
 *   large): fail only this message.
 * - `timeout`: no answer for this message within the protocol's retransmission budget (CoAP):
 *   fail only this message; the peer may be down.
 * - `closed`: the connection dropped while this message was in flight: it may not have arrived;
 *   the device layer puts it back at the head of the queue and reconnects.
 * - `unreachable`: connecting failed for a reason that may pass (refused, DNS, timeout): retry
 *   with backoff while messages queue.
 */
export type FailureKind = 'unauthorized' | 'certificate' | 'rejected' | 'timeout' | 'closed' | 'unreachable';

// Secrets (the access token above all): CoAP carries the token in the URI, MQTT in CONNECT. Every text that
// can reach a user (errors from libraries included) goes through redact() first.

export const REDACTED = '***';

/** Replaces every occurrence of the token (or of each secret of a list) in text (also URI-encoded) with ***. */
export function redact(text: string, token: string | readonly string[]): string {
  if (typeof token !== 'string') return redactSecrets(text, token);
  if (!token) return text;
  let out = text.split(token).join(REDACTED);
  const encoded = encodeURIComponent(token);
  if (encoded !== token) out = out.split(encoded).join(REDACTED);
  return out;
}

/**
 * redact() for every secret of a device at once (access token, MQTT password, private key and its
 * passphrase, provision secret, obtained credentials). Empty entries are ignored. A PEM private
 * key is also matched line by line, so a library that quotes part of it cannot leak it.
 */
const MIN_SECRET_LENGTH = 4;

export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    // A secret of one to three characters would turn every such letter of a text into ***
    // (and guessing it is trivial anyway): such a value is no secret worth garbling logs for.
    if (!secret || secret.length < MIN_SECRET_LENGTH) continue;
    out = redact(out, secret);
    if (secret.includes('\n')) {
      for (const line of secret.split(/\r?\n/)) if (line.trim().length >= 16 && !/^-----/.test(line.trim())) out = redact(out, line.trim());
    }
  }
  return out;
}
