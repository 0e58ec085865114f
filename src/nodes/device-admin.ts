// The config node's admin HTTP endpoints (under Node-RED's admin API, behind its permissions):
// - POST thingsboard-device/client-certificate/check: does the pasted private key belong to the
//   pasted client certificate? The dialog cannot tell (an encrypted key, every key type), the
//   runtime can with node:crypto. A key or passphrase the dialog no longer has (password
//   credentials never go back to the editor) is taken from the deployed node. The answer holds
//   the certificate's subject and expiry and a problem text, never a key or passphrase.
import { X509Certificate } from 'node:crypto';
import { checkClientCertificate, pemCertificates } from '../device';
import { redactSecrets } from '../shared';
import type { RED } from './red';

/** What Node-RED's editor sends for a password credential it did not change. */
const UNCHANGED = '__PWRD__';

interface HttpRequest { body?: Record<string, unknown>; params: Record<string, string> }
interface HttpResponse { json(body: unknown): void; status(code: number): HttpResponse }

export interface AdminRoutes {
  post(path: string, ...handlers: Array<(req: HttpRequest, res: HttpResponse, next?: () => void) => void>): void;
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function registerDeviceAdmin(RED: RED, extra: (routes: AdminRoutes, permission: (p: string) => never) => void = () => {}): void {
  const routes = RED.httpAdmin as AdminRoutes | undefined;
  if (!routes || typeof routes.post !== 'function') return;
  const permission = (p: string) => (RED.auth?.needsPermission ? RED.auth.needsPermission(p) : (_req: unknown, _res: unknown, next: () => void) => next()) as never;

  routes.post('/thingsboard-device/client-certificate/check', permission('thingsboard-device.write'), (req, res) => {
    const body = req.body ?? {};
    const id = stringOf(body.id);
    const deployed = (id && RED.nodes.getCredentials ? RED.nodes.getCredentials(id) : undefined) ?? {};
    const pick = (name: string) => {
      const given = stringOf(body[name]);
      return given === '' || given === UNCHANGED ? stringOf(deployed[name]) : given;
    };
    const certPem = stringOf(body.clientCert).trim();
    const keyPem = pick('clientKey').trim();
    const passphrase = pick('clientKeyPassphrase');
    const answer: { subject?: string; notAfter?: string; keyMatches: boolean; problem?: string } = { keyMatches: false };
    const first = pemCertificates(certPem)[0];
    try {
      if (first) {
        const leaf = new X509Certificate(first);
        answer.subject = leaf.subject.replace(/\n/g, ', ');
        answer.notAfter = new Date(leaf.validTo).toISOString();
      }
    } catch { /* the check below says what is wrong */ }
    const problems: string[] = [];
    if (keyPem) {
      checkClientCertificate(certPem, keyPem, passphrase, 'mqtts', problems);
      answer.keyMatches = problems.length === 0;
      if (problems.length) answer.problem = redactSecrets(problems[0], [keyPem, passphrase]);
    }
    res.json(answer);
  });
  extra(routes, permission);
}
