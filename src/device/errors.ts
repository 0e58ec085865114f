// Errors the device layer hands to nodes, and how a transport's failure is read.

export class DeviceError extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** The server refused a subscription this node needs (TransportError.refused). */
    readonly subscriptionRefused = false,
  ) {
    super(message);
    this.name = 'DeviceError';
  }
}

/** Called exactly once per message: no argument when ThingsBoard has it. */
export type DoneCallback = (err?: DeviceError) => void;

export { asTransportError } from '../transports/transport';
