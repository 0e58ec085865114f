// The access token is a secret that CoAP carries in the URI and MQTT in CONNECT. Every text that
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
