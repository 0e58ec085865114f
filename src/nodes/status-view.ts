// How a device connection's state looks on a node: fill, shape and the key of its words in the
// one catalog of status texts (the "status" section of thingsboard-device.json, which
// device-status.ts translates). Adding a failure code touches one transport and this mapping.
import type { DeviceStatus } from '../device';

export interface StatusView {
  fill: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape: 'ring' | 'dot';
  /** Key in the "status" section. */
  key: string;
  params?: Record<string, string | number>;
  /** Shown after the main text when messages wait: key "queued" with {count}. */
  queued: number;
  /** Shown after the main text while connected: key "lastFailed" with {code}. */
  lastFailure?: string;
  /** persist: keys "onDisk" {count}, "recovered" {count}, "diskError" {code}. */
  onDisk?: number;
  recovered?: number;
  diskError?: string;
}

export function statusView(s: DeviceStatus): StatusView | undefined {
  const view = stateView(s);
  if (view && (s.onDisk || s.diskError)) {
    view.onDisk = s.onDisk;
    view.recovered = s.recovered;
    view.diskError = s.diskError;
    // A disk queue that cannot be written loses messages on a restart: never a green dot.
    if (s.diskError && view.fill === 'green') view.fill = 'yellow';
  }
  return view;
}

function stateView(s: DeviceStatus): StatusView | undefined {
  const queued = s.queued;
  switch (s.state) {
    case 'idle':
      return undefined;
    case 'stopped':
      return undefined;
    case 'connecting':
      return { fill: 'yellow', shape: 'ring', key: 'connecting', queued };
    case 'securing':
      return { fill: 'yellow', shape: 'ring', key: 'securing', queued };
    case 'connected': {
      const view: StatusView = s.unverified
        ? { fill: 'yellow', shape: 'dot', key: 'connectedUnverified', queued }
        : s.paced
          ? { fill: 'green', shape: 'ring', key: 'paced', queued }
          : { fill: 'green', shape: 'dot', key: 'connected', queued };
      // A refused or unanswered message turns the dot yellow until the next one is delivered.
      if (s.lastFailure) {
        view.fill = 'yellow';
        view.lastFailure = readableCode(s.lastFailure);
      }
      return view;
    }
    case 'reconnecting':
      return { fill: 'red', shape: 'ring', key: 'reconnecting', params: { seconds: s.retryInSeconds ?? 0 }, queued };
    case 'unauthorized':
      // Which credentials to check (mqtt/errors.ts and transports/provision.ts name them in the code).
      if (s.code?.startsWith('MQTTBASIC_')) return { fill: 'red', shape: 'dot', key: 'unauthorizedBasic', queued };
      if (s.code?.startsWith('X509_')) return { fill: 'red', shape: 'dot', key: 'unauthorizedCertificate', queued };
      if (s.code?.startsWith('PROVISION_')) return { fill: 'red', shape: 'dot', key: 'provisionRefused', queued };
      return { fill: 'red', shape: 'dot', key: 'unauthorized', queued };
    case 'tokenShared':
      return { fill: 'red', shape: 'dot', key: 'tokenShared', params: { devices: s.sharedWith ?? '' }, queued };
    case 'certificate':
      if (s.code === 'NO_CA') return { fill: 'red', shape: 'dot', key: 'caMissing', queued };
      if (s.code === 'HOST_MISMATCH') return { fill: 'red', shape: 'dot', key: 'hostMismatch', queued };
      if (s.code === 'CLIENT_CERT_REFUSED' || s.code === 'CLIENT_CERTIFICATE' || s.code === 'CLIENT_KEY') return { fill: 'red', shape: 'dot', key: 'clientCertificateRefused', queued };
      // MQTTS (mqtt/errors.ts) and CoAPS (src/dtls) name an out-of-date certificate differently.
      if (s.code === 'EXPIRED' || s.code === 'NOT_YET_VALID' || s.code === 'CERT_EXPIRED') return { fill: 'red', shape: 'dot', key: 'certificateExpired', queued };
      return { fill: 'red', shape: 'dot', key: 'certificateUntrusted', queued };
  }
}

/** COAP_4.00 → 4.00, COAP_TIMEOUT → no response; other codes as they are. */
function readableCode(code: string | undefined): string | undefined {
  if (!code) return undefined;
  if (code === 'COAP_TIMEOUT') return 'no response';
  return code.startsWith('COAP_') ? code.slice(5) : code;
}
