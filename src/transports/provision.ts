// Device provisioning (ThingsBoard's "device provisioning"): a device that has only its profile's
// provision key and secret asks ThingsBoard for a device of its own and gets its credentials.
//   MQTT(S): CONNECT with user name `provision`, subscribe /provision/response, publish
//            /provision/request, read the one answer, DISCONNECT at once (ThingsBoard would keep
//            the session about a minute).
//   CoAP(S): POST /api/v1/provision; the answer is the response body (any 2.xx; a separate
//            response is taken as for telemetry).
// The answer: {"status":"SUCCESS","credentialsType":"ACCESS_TOKEN","credentialsValue":"<token>"}
// (MQTT_BASIC: credentialsValue {clientId, userName, password}; X509_CERTIFICATE: the device's
// own certificate is registered), or {"status":"NOT_FOUND"|"FAILURE","errorMsg":"…"}.
// Every text is redacted: the provision secret and what was obtained are secrets.
import { CoapTransport } from './coap/transport';
import { MqttTransport } from './mqtt/transport';
import { redactSecrets } from '../shared';
import { background } from '../background';
import { TransportError, type ConnectionSettings } from './transport';

export type ProvisionAsk = 'accessToken' | 'mqttBasic' | 'x509';

export interface ProvisionRequest {
  deviceName: string;
  provisionKey: string;
  provisionSecret: string;
  ask: ProvisionAsk;
  /** mqttBasic: the credentials we choose (ThingsBoard stores them). */
  basic?: { clientId: string; username: string; password: string };
  /** x509: the device certificate (PEM, first certificate used). */
  certPem?: string;
}

/** What provisioning obtained: the device connects with it from then on. */
export type Provisioned =
  | { type: 'accessToken'; token: string }
  | { type: 'mqttBasic'; clientId: string; username: string; password: string }
  | { type: 'x509' };

export const PROVISION_TIMEOUT_MS = 30_000;

/** The request body ThingsBoard expects (JsonConverter's provision request). */
export function provisionBody(req: ProvisionRequest): Buffer {
  const body: Record<string, string> = { deviceName: req.deviceName, provisionDeviceKey: req.provisionKey, provisionDeviceSecret: req.provisionSecret };
  if (req.ask === 'mqttBasic' && req.basic) {
    Object.assign(body, { credentialsType: 'MQTT_BASIC', clientId: req.basic.clientId, username: req.basic.username, password: req.basic.password });
  } else if (req.ask === 'x509' && req.certPem) {
    // ThingsBoard takes the certificate's base64 body in one line as "hash".
    const first = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(req.certPem);
    Object.assign(body, { credentialsType: 'X509_CERTIFICATE', hash: first ? first[1].replace(/\s+/g, '') : '' });
  }
  return Buffer.from(JSON.stringify(body));
}

/** ThingsBoard's answer → what was obtained, or a permanent TransportError naming its errorMsg. */
export function parseProvisionAnswer(payload: Buffer, req: ProvisionRequest): Provisioned {
  const secrets = [req.provisionSecret, req.basic?.password ?? ''];
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    if (!answer || typeof answer !== 'object') throw new Error('not an object');
  } catch {
    throw new TransportError(`provisioning failed: ThingsBoard's answer is not JSON (${payload.length} bytes)`, 'rejected', 'PROVISION_BAD_ANSWER');
  }
  const status = String(answer.status ?? '');
  if (status !== 'SUCCESS') {
    const why = redactSecrets(String(answer.errorMsg ?? 'no reason given'), secrets);
    const hint = status === 'NOT_FOUND'
      ? 'Check the provision key and secret (device profile → Device provisioning) and that provisioning is enabled there.'
      : 'If a device of this name exists in ThingsBoard already (provisioned before, or from another machine), give this one another name or delete that device; with "check for pre-provisioned devices" the device must be created in ThingsBoard first.';
    throw new TransportError(`provisioning refused by ThingsBoard (${status || 'no status'}): ${why}. ${hint}`, 'unauthorized', `PROVISION_${status || 'REFUSED'}`);
  }
  const type = String(answer.credentialsType ?? '');
  const value = answer.credentialsValue;
  if (type === 'ACCESS_TOKEN' && typeof value === 'string' && value) return { type: 'accessToken', token: value };
  if (type === 'MQTT_BASIC' && value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    return { type: 'mqttBasic', clientId: String(v.clientId ?? ''), username: String(v.userName ?? v.username ?? ''), password: String(v.password ?? '') };
  }
  if (type === 'X509_CERTIFICATE') return { type: 'x509' };
  throw new TransportError(`provisioning failed: ThingsBoard answered SUCCESS with credentials of type "${type}" that this device cannot use`, 'rejected', 'PROVISION_BAD_ANSWER');
}

/**
 * Runs one provisioning exchange over `settings`' transport (their credentials are ignored: the
 * provisioning session has its own) and closes it as soon as the answer is there. `warn` hears
 * what nobody waits for (a failed close of the provisioning session), redacted.
 */
export async function provisionDevice(
  settings: ConnectionSettings,
  req: ProvisionRequest,
  timeoutMs = PROVISION_TIMEOUT_MS,
  warn: (text: string) => void = () => {},
): Promise<Provisioned> {
  const secrets = [req.provisionSecret, req.basic?.password ?? ''];
  const closeFailed = background(warn, () => secrets).reportFailure('closing the provisioning session');
  const body = provisionBody(req);
  const clean = (err: unknown): TransportError => {
    const e = err instanceof TransportError ? err : new TransportError(String((err as Error)?.message ?? err), 'unreachable', 'PROVISION');
    return new TransportError(redactSecrets(`provisioning: ${e.message}`, secrets), e.kind, e.code);
  };
  if (settings.transport === 'mqtt' || settings.transport === 'mqtts') {
    const transport = new MqttTransport({
      ...settings,
      accessToken: '',
      auth: { type: 'mqttBasic', username: 'provision', password: '' },
      mqtt: { ...settings.mqtt, clientId: `provision-${settings.mqtt.clientId}`, cleanSession: true },
    }, 'provision');
    try {
      await transport.connect();
      const payload = await transport.requestOnce('/provision/request', '/provision/response', body, timeoutMs);
      return parseProvisionAnswer(payload, req);
    } catch (err) {
      throw clean(err);
    } finally {
      await transport.close().catch(closeFailed);
    }
  }
  const transport = new CoapTransport({ ...settings, accessToken: '', auth: { type: 'accessToken' } });
  try {
    await transport.connect();
    const payload = await transport.provision(body, timeoutMs);
    return parseProvisionAnswer(payload, req);
  } catch (err) {
    throw clean(err);
  } finally {
    await transport.close().catch(closeFailed);
  }
}
