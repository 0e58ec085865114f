// The DeviceStatus a connection reports (status.ts), built from what the connection knows at
// this moment. The words and colours are the nodes' business (src/nodes/status-view.ts).
import type { ConnectionSettings } from '../transports/transport';
import type { DeviceState, DeviceStatus } from './status';

export interface StatusFacts {
  state: DeviceState;
  /** Other config nodes' names when one of them uses the same token (shared-token.ts). */
  sharedWith: string | undefined;
  /** CoAP: the code of a 4.01 not yet followed by a delivered message (refused-tokens.ts). */
  refusedCode: string | undefined;
  permanentCode: string | undefined;
  lastErrorCode: string | undefined;
  /** Messages not yet ended, and of those the ones waiting behind the in-flight window. */
  waiting: number;
  queued: number;
  retryInSeconds: number;
  retryInMs: number;
  unverified: boolean;
  lastMessageFailure: string | undefined;
  subDevices: number | undefined;
  disk: Partial<DeviceStatus> | undefined;
  paced: boolean;
}

export function describeStatus(facts: StatusFacts): DeviceStatus {
  const { state, unverified } = facts;
  if (facts.sharedWith !== undefined) return { state: 'tokenShared', queued: facts.waiting, sharedWith: facts.sharedWith, unverified };
  // CoAP after a 4.01: connected to a server that refuses the token is "unauthorized" until a
  // message is delivered; messages are still sent (one that succeeds clears it).
  if (state === 'connected' && facts.refusedCode) {
    return { state: 'unauthorized', queued: facts.waiting, code: facts.refusedCode, unverified, subDevices: facts.subDevices };
  }
  return {
    state,
    // While connected, messages in flight are not "queued" (they are being delivered): only
    // those waiting behind the in-flight window count, so a flowing connection shows a steady
    // "connected" instead of a count that changes with every acknowledgement.
    queued: state === 'connected' ? facts.queued : facts.waiting,
    retryInSeconds: state === 'reconnecting' ? facts.retryInSeconds : undefined,
    retryInMs: state === 'reconnecting' ? facts.retryInMs : undefined,
    code: state === 'unauthorized' || state === 'certificate' ? facts.permanentCode : facts.lastErrorCode,
    unverified,
    lastFailure: state === 'connected' ? facts.lastMessageFailure : undefined,
    subDevices: facts.subDevices,
    ...facts.disk,
    paced: state === 'connected' && facts.paced,
  };
}

/** TLS/DTLS with certificate verification turned off. */
export function isUnverified(settings: ConnectionSettings): boolean {
  return (settings.transport === 'mqtts' || settings.transport === 'coaps') && !settings.verifyServer;
}
