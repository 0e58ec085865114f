// What a DeviceConnection tells its users, and how a Node-RED status shows it. The text is an
// i18n key of the "status" section (thingsboard-out.json) plus its parameters; the node glue
// translates it with RED._.
export type DeviceState =
  | 'idle'
  | 'connecting'
  | 'securing'
  | 'connected'
  | 'reconnecting'
  | 'unauthorized'
  | 'certificate'
  | 'stopped';

export interface DeviceStatus {
  state: DeviceState;
  /** Messages waiting for a connection or in flight. */
  queued: number;
  /** reconnecting: seconds until the next attempt. */
  retryInSeconds?: number;
  /** reconnecting: the exact delay chosen (backoff with jitter). */
  retryInMs?: number;
  /** The failure's code (TransportError.code), e.g. HOST_MISMATCH, CONNACK_5. */
  code?: string;
  /** TLS/DTLS with certificate verification turned off. */
  unverified: boolean;
  /**
   * The code of the last message the server refused or never answered (e.g. COAP_4.00,
   * COAP_TIMEOUT) while the connection itself is fine; cleared by the next delivered message.
   */
  lastFailure?: string;
}

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
}

export function statusView(s: DeviceStatus): StatusView | undefined {
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
      return { fill: 'red', shape: 'dot', key: 'unauthorized', queued };
    case 'certificate':
      if (s.code === 'NO_CA') return { fill: 'red', shape: 'dot', key: 'caMissing', queued };
      if (s.code === 'HOST_MISMATCH') return { fill: 'red', shape: 'dot', key: 'hostMismatch', queued };
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
