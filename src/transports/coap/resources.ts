// ThingsBoard's CoAP device API resources: /api/v1/$TOKEN/{telemetry, attributes, rpc[/id]}. The
// access token is one Uri-Path segment, whatever characters it holds; no text may show it.

/** The URI path segments /api/v1/$TOKEN/...rest. */
export function apiPath(token: string, ...rest: string[]): Buffer[] {
  return ['api', 'v1', token, ...rest].map((s) => Buffer.from(s, 'utf8'));
}
