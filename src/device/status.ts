// What a DeviceConnection tells its users, and how a Node-RED status shows it. The text is an
// i18n key of the "status" section (thingsboard-out.json) plus its parameters; the node glue
// translates it with RED._.
export type DeviceState =
  | 'idle'
  | 'connecting'
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
}

export interface StatusView {
  fill: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape: 'ring' | 'dot';
  /** Key in the "status" section. */
  key: string;
  params?: Record<string, string | number>;
  /** Shown after the main text when messages wait: key "queued" with {count}. */
  queued: number;
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
    case 'connected':
      return s.unverified
        ? { fill: 'yellow', shape: 'dot', key: 'connectedUnverified', queued }
        : { fill: 'green', shape: 'dot', key: 'connected', queued };
    case 'reconnecting':
      return { fill: 'red', shape: 'ring', key: 'reconnecting', params: { seconds: s.retryInSeconds ?? 0 }, queued };
    case 'unauthorized':
      return { fill: 'red', shape: 'dot', key: 'unauthorized', queued };
    case 'certificate':
      if (s.code === 'HOST_MISMATCH') return { fill: 'red', shape: 'dot', key: 'hostMismatch', queued };
      if (s.code === 'EXPIRED' || s.code === 'NOT_YET_VALID') return { fill: 'red', shape: 'dot', key: 'certificateExpired', queued };
      return { fill: 'red', shape: 'dot', key: 'certificateUntrusted', queued };
  }
}

/** English texts of the status keys (the locale file holds the same; used outside Node-RED). */
export const STATUS_TEXT: Record<string, string> = {
  connecting: 'connecting',
  connected: 'connected',
  connectedUnverified: 'connected — server certificate NOT verified',
  reconnecting: 'reconnecting in __seconds__ s',
  unauthorized: 'unauthorized — check access token',
  certificateUntrusted: 'server certificate not trusted',
  hostMismatch: 'server certificate host name mismatch',
  certificateExpired: 'server certificate expired or not yet valid',
  queued: 'queued: __count__',
  configError: 'configuration: __problem__',
  noDevice: 'no device configured',
};
