// What a DeviceConnection is given besides its ConnectionSettings (connection.ts).
import type { ConnectionSettings, Transport } from '../transports/transport';
import type { Timing } from './backoff';
import type { PersistOptions } from './persist';
import type { CostHook } from './outbox';
import type { PacerOptions, RateLimits } from './pacing';
import type { DeviceRegistry } from './registry';

export interface DeviceLog {
  /** Shown once per event in the Node-RED log as a warning. Already redacted. */
  warn(text: string): void;
  /** Informational (connection lost/restored). Already redacted. */
  info(text: string): void;
  /** Worth a line when debugging only (a broker's echo dropped). Already redacted. */
  debug?(text: string): void;
}

export interface ConnectionOptions {
  /** Default: the transport the settings name (src/transports); tests give their own. */
  createTransport?: (settings: ConnectionSettings) => Transport;
  /** What the connections of one runtime share (registry.ts). Default: a registry of its own. */
  registry?: DeviceRegistry;
  /** How a user knows this connection in texts (the config node's name). Default: host:port. */
  label?: string;
  log: DeviceLog;
  queueSize: number;
  timing?: Partial<Timing>;
  /** [0, 1): jitter source (tests may fix it). */
  random?: () => number;
  /** A ThingsBoard gateway (MQTT only): messages may name a sub-device (gateway/). */
  gateway?: boolean;
  /** Keep accepted messages on disk until they end (persist.ts). */
  persist?: PersistOptions;
  /** A gateway's known sub-device names kept at most (gateway/sub-devices.ts). */
  maxSubDevices?: number;
  /** The `rateLimits` property (pacing.ts); undefined = what ThingsBoard says (MQTT). */
  rateLimits?: RateLimits;
  /** Pacing clock and scale (tests). */
  pacing?: PacerOptions;
  /** How long getSessionLimits may stay unanswered before the server is called "not answering" (tests). */
  sessionLimitsAnswerMs?: number;
  /** Extra budgets a publish costs (a gateway's own limits, set with pacer.setBudget). */
  costHook?: CostHook;
}
