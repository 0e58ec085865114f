// ThingsBoard's CoAP device API resources: /api/v1/$TOKEN/{telemetry, attributes, rpc[/id]}. The
// access token is one Uri-Path segment, whatever characters it holds; no text may show it. With
// X.509 credentials (the DTLS client certificate says who the device is) and for provisioning
// there is no token: /api/v1/{telemetry, …, provision}.

/** The URI path segments /api/v1/$TOKEN/...rest; /api/v1/...rest when the token is empty. */
export function apiPath(token: string, ...rest: string[]): Buffer[] {
  return ['api', 'v1', ...(token ? [token] : []), ...rest].map((s) => Buffer.from(s, 'utf8'));
}
