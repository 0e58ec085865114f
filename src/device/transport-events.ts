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
  const handlers = (['down', 'warning', 'phase'] as const).map((name) => {
    const handler = (arg: unknown) => {
      if (isCurrent()) work.call(`handling the transport's '${name}' event`, () => events[name](arg));
    };
    transport.on(name, handler);
    return [name, handler] as const;
  });
  return () => {
    for (const [name, handler] of handlers) transport.removeListener(name, handler);
  };
}
