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
// - They keep to the device's rate limits like the queue does (ThingsBoard counts every message
//   of a device): one whose window is full waits until it has room, within its deadline.
import { EMPTY_SET } from '../empty';
import type { Transport, TransportError } from '../transports/transport';
import { awaitAnswer, noAnswerText } from '../deadline';
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
  /** Ms until one more message fits the rate-limit windows; 0: it fits now, and is charged (Pacer.oneMessageTurn). */
  paceTurn?(): number;
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
  return new DeviceError(`${noAnswerText(timeoutMs)}${detail}`, 'NO_ANSWER');
}

export class Exchanges {
  /** Made by the first exchange: most connections never have one. */
  private pendingSet: Set<Pending> | undefined;

  constructor(private readonly host: ExchangeHost) {}

  get size(): number {
    return this.pending.size;
  }

  private get pending(): ReadonlySet<Pending> {
    return this.pendingSet ?? EMPTY_SET;
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
    const deadline = Date.now() + timeoutMs;
    let everSent = false;
    let paced = false;
    const neverSent = () => (paced ? " (held back all that time by this device's rate limits)" : ' (the connection to ThingsBoard was down all that time)');
    return awaitAnswer<T>(
      { timeoutMs, expired: () => noAnswer(timeoutMs, everSent ? '' : neverSent()) },
      (waiting) => {
        let generation = 0; // the stale-callback guard, bumped per try: a try given up on cannot settle it
        let paceTimer: NodeJS.Timeout | undefined;
        // However the exchange ends, it stops waiting here, and the transport forgets a request
        // still out there (its timer, its id): the signal it was given aborts.
        waiting.signal.addEventListener('abort', () => {
          this.pendingSet?.delete(entry);
          clearTimeout(paceTimer);
        }, { once: true });
        const entry: Pending = {
          owner,
          run: () => {
            const transport = this.host.sendingTransport;
            if (!transport || waiting.ended || paceTimer) return; // waits for the next connect, or for its window
            const wait = this.host.paceTurn?.() ?? 0;
            if (wait > 0) {
              paced = true;
              paceTimer = setTimeout(() => {
                paceTimer = undefined;
                entry.run();
              }, wait);
              return;
            }
            const mine = ++generation;
            everSent = true;
            let running: Promise<T>;
            try {
              running = op(transport, Math.max(1, deadline - Date.now()), waiting.signal);
            } catch (err) {
              running = Promise.reject(err);
            }
            running.then(
              (value) => {
                if (mine === generation) waiting.resolve(value);
              },
              (err: unknown) => {
                if (mine !== generation || waiting.ended) return;
                if (err instanceof DeviceError) return waiting.reject(err);
                const e = asTransportError(err);
                // Cut off by a drop: it goes again after the reconnect (see onConnected).
                if (e.kind === 'closed') return;
                waiting.reject(this.failure(what, e, timeoutMs));
              },
            );
          },
          fail: (err) => waiting.reject(err),
        };
        (this.pendingSet ??= new Set()).add(entry);
        entry.run();
      },
    );
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
