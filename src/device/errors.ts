// Errors the device layer hands to nodes, and how a transport's failure is read.
import { TransportError } from '../transports/transport';

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

/** Anything a transport rejected with, as a TransportError (unknown throws count as 'closed'). */
export function asTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  if (err && typeof err === 'object' && 'kind' in err && typeof (err as { kind: unknown }).kind === 'string') {
    const e = err as { message?: string; kind: TransportError['kind']; code?: string };
    return new TransportError(String(e.message ?? e.kind), e.kind, e.code ?? e.kind);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TransportError(message, 'closed', 'UNEXPECTED');
}
