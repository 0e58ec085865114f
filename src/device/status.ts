// What a DeviceConnection tells its users: the state it is in and the facts a status needs (the
// failure's code, the queue). How that looks (fill, shape, words) is the nodes' business
// (src/nodes/status-view.ts).
export type DeviceState =
  | 'idle'
  | 'connecting'
  | 'securing'
  | 'connected'
  | 'reconnecting'
  | 'unauthorized'
  | 'certificate'
  | 'stopped'
  /** Another config node of this runtime uses the same MQTT token: not connecting (registry.ts). */
  | 'tokenShared';

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
  /** tokenShared: the other config nodes (names) with the same token. */
  sharedWith?: string;
  /** A gateway: how many sub-devices it has (shown as "gateway · N devices"). */
  subDevices?: number;
  /** persist: messages on disk not yet ended (persist.ts). */
  onDisk?: number;
  /** persist: of those, read back after a restart. */
  recovered?: number;
  /** persist: the file system's code while the disk queue cannot be written (ENOSPC, EACCES…). */
  diskError?: string;
  /** Connected, and pacing holds messages back to stay under ThingsBoard's rate limits. */
  paced?: boolean;
}
