// What every layer shares (nodes, device, payload, transports, dtls): the names of the data kinds
// and transports, the failure kinds the device layer reacts to, and redaction of secrets. This
// module imports nothing, so any layer may import it without creating a cycle.

export type TransportName = 'mqtt' | 'mqtts' | 'coap' | 'coaps';
export type DataKind = 'telemetry' | 'attributes';

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

/** Replaces every occurrence of the token in text (also URI-encoded) with ***. */
export function redact(text: string, token: string): string {
  if (!token) return text;
  let out = text.split(token).join(REDACTED);
  const encoded = encodeURIComponent(token);
  if (encoded !== token) out = out.split(encoded).join(REDACTED);
  return out;
}
