// The connection's listeners on one transport's events ('down', 'warning', 'phase'), for one
// session: each does nothing once that session is over (a stop or restart bumped it), and only
// the listeners added here are removed again (the transport may have its own). A handler that
// throws is logged (background.ts), never thrown into the transport that emitted the event.
import type { Background } from '../background';
import type { Transport } from '../transports/transport';

export interface TransportEvents {
  down(err: unknown): void;
  warning(text: unknown): void;
  phase(phase: unknown): void;
}

/** Listens to `transport` while `isCurrent()` (its generation is the connection's) holds; returns the function that stops listening. */
export function listenTo(transport: Transport, isCurrent: () => boolean, work: Background, events: TransportEvents): () => void {
  // Three handlers written out (not made in a loop): they share one scope, one per connection.
  const down = (arg: unknown): void => {
    if (isCurrent()) work.call("handling the transport's 'down' event", () => events.down(arg));
  };
  const warning = (arg: unknown): void => {
    if (isCurrent()) work.call("handling the transport's 'warning' event", () => events.warning(arg));
  };
  const phase = (arg: unknown): void => {
    if (isCurrent()) work.call("handling the transport's 'phase' event", () => events.phase(arg));
  };
  transport.on('down', down);
  transport.on('warning', warning);
  transport.on('phase', phase);
  return () => {
    transport.removeListener('down', down);
    transport.removeListener('warning', warning);
    transport.removeListener('phase', phase);
  };
}
