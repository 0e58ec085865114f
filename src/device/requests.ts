// Exchanges with ThingsBoard that wait for an answer (attribute requests, client-side RPC) or
// for a connection (RPC replies), each with its own deadline.
//
// - While the connection is down an exchange waits for it, until its deadline. When the
//   connection drops while one is in flight (the transport rejects it with kind 'closed'), it
//   is sent again after the reconnect, in the time it has left: the old request id is forgotten
//   by the transport, so its answer, should it still come, is dropped.
// - The deadline is the node's: "no answer from ThingsBoard within N s". Whatever the transport
//   still resolves after that is dropped here too, never delivered to a later message.
// - They bypass the telemetry queue (outbox.ts) and go straight to the transport: a reply or a
//   request does not wait behind a thousand queued telemetry messages, only behind the at most
//   maxInFlight publishes already on the wire. They cannot starve the outbox either: at most
//   MAX_PENDING wait per device (one more fails at once), and each is one small message.
import type { Transport, TransportError } from '../transports/transport';
import { asTransportError, DeviceError } from './errors';

/** At most this many exchanges wait or run per device connection. */
export const MAX_PENDING = 100;

/** What the exchanges need from the device connection. */
export interface ExchangeHost {
  /** The transport requests may go out on now: undefined unless connected. */
  readonly sendingTransport: Transport | undefined;
  /** Why nothing can go now for a reason waiting will not fix (token refused, stopped). */
  blocked(): DeviceError | undefined;
  redact(text: string): string;
}

/** `signal` aborts when the exchange ends another way (timeout, cancel, stop): forget it. */
export type Operation<T> = (transport: Transport, timeoutMs: number, signal: AbortSignal) => Promise<T>;

interface Pending {
  /** Whose it is (a node), so the node can cancel its own when it closes. */
  owner: unknown;
  run(): void;
  fail(err: DeviceError): void;
}

export function noAnswer(timeoutMs: number, detail = ''): DeviceError {
  const seconds = Math.round(timeoutMs / 100) / 10;
  return new DeviceError(`no answer from ThingsBoard within ${seconds} s${detail}`, 'NO_ANSWER');
}

export class Exchanges {
  private readonly pending = new Set<Pending>();

  constructor(private readonly host: ExchangeHost) {}

  get size(): number {
    return this.pending.size;
  }

  /**
   * Runs `op` on the connected transport, waiting for a connection when there is none, until
   * `timeoutMs` has passed. `what` names the exchange in errors ("attribute request").
   */
  run<T>(what: string, timeoutMs: number, op: Operation<T>, owner?: unknown): Promise<T> {
    const blocked = this.host.blocked();
    if (blocked) return Promise.reject(blocked);
    if (this.pending.size >= MAX_PENDING) {
      return Promise.reject(
        new DeviceError(
          `${what} not sent: ${MAX_PENDING} requests are already waiting for this device; send fewer at once, or wait for their answers`,
          'TOO_MANY_REQUESTS',
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      let attempt = 0; // bumped per try: a try that was given up on cannot settle the exchange
      let everSent = false;
      const controller = new AbortController();
      const finish = (): boolean => {
        if (!this.pending.delete(entry)) return false;
        clearTimeout(timer);
        // The transport forgets a request still waiting there (its timer, its id).
        controller.abort();
        return true;
      };
      const entry: Pending = {
        owner,
        run: () => {
          const transport = this.host.sendingTransport;
          if (!transport) return; // waits for the next connect
          const mine = ++attempt;
          everSent = true;
          let running: Promise<T>;
          try {
            running = op(transport, Math.max(1, deadline - Date.now()), controller.signal);
          } catch (err) {
            running = Promise.reject(err);
          }
          running.then(
            (value) => {
              if (mine === attempt && finish()) resolve(value);
            },
            (err: unknown) => {
              if (mine !== attempt || !this.pending.has(entry)) return;
              if (err instanceof DeviceError) {
                if (finish()) reject(err);
                return;
              }
              const e = asTransportError(err);
              // Cut off by a drop: it goes again after the reconnect (see onConnected).
              if (e.kind === 'closed') return;
              if (finish()) reject(this.failure(what, e, timeoutMs));
            },
          );
        },
        fail: (err) => {
          if (finish()) reject(err);
        },
      };
      const timer = setTimeout(() => {
        attempt++;
        if (finish()) reject(noAnswer(timeoutMs, everSent ? '' : ' (the connection to ThingsBoard was down all that time)'));
      }, timeoutMs);
      this.pending.add(entry);
      entry.run();
    });
  }

  /** A connection is up: every exchange that waits for one goes (again). */
  onConnected(): void {
    for (const entry of [...this.pending]) entry.run();
  }

  /** Fails the exchanges of `owner` (a node that closes: its timers must not outlive it). */
  cancel(owner: unknown, err: DeviceError): void {
    for (const entry of [...this.pending]) if (entry.owner === owner) entry.fail(err);
  }

  /** Fails every exchange at once (the connection stopped, or the token was refused). */
  failAll(err: DeviceError): void {
    for (const entry of [...this.pending]) entry.fail(err);
  }

  private failure(what: string, err: TransportError, timeoutMs: number): DeviceError {
    if (err.kind === 'timeout' && err.code === 'NO_ANSWER') return noAnswer(timeoutMs);
    return new DeviceError(this.host.redact(`${what} failed: ${err.message}`), err.code);
  }
}
